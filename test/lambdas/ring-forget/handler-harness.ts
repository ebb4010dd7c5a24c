/**
 * Runs the real ring-forget handler entry against a local stand-in for a ring page (see
 * ../harness/entry.ts) and reports what the handler returned or threw, and the requests the page got.
 *
 * Input: the EventBridge event as JSON in HARNESS_EVENT; HARNESS_RING_ANSWER, when set, starts the
 * stand-in on RING_PAGE_URL's port (a free one the test picked), answering with that status.
 */
import { handler } from '../../../lambdas/ring-forget/index';
import { outcomeOf, runHandlerEntry } from '../harness/entry';
import { FakeRingPage } from './fake-ring-page';

runHandlerEntry('LgtmFleet-RingForget', async (event, context) => {
  const answer = process.env.HARNESS_RING_ANSWER;
  const page = answer === undefined ? undefined : await FakeRingPage.start(Number(new URL(process.env.RING_PAGE_URL ?? '').port));
  try {
    page?.answerWith(Number(answer));
    return { ...(await outcomeOf(handler(event, context))), requests: page?.requests ?? [] };
  } finally {
    await page?.stop();
  }
});
