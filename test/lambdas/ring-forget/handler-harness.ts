/**
 * Runs the real ring-forget handler entry against a local stand-in for Mimir (see
 * ../harness/entry.ts) and reports what the handler returned or threw, and the requests Mimir got.
 *
 * Input: the EventBridge event as JSON in HARNESS_EVENT; HARNESS_MIMIR_ANSWER, when set, starts the
 * stand-in on MIMIR_URL's port (a free one the test picked), answering with that status.
 */
import { handler } from '../../../lambdas/ring-forget/index';
import { outcomeOf, runHandlerEntry } from '../harness/entry';
import { FakeMimir } from './fake-mimir';

runHandlerEntry('LgtmFleet-RingForget', async (event, context) => {
  const answer = process.env.HARNESS_MIMIR_ANSWER;
  const mimir = answer === undefined ? undefined : await FakeMimir.start(Number(new URL(process.env.MIMIR_URL ?? '').port));
  try {
    mimir?.answerWith(Number(answer));
    return { ...(await outcomeOf(handler(event, context))), requests: mimir?.requests ?? [] };
  } finally {
    await mimir?.stop();
  }
});
