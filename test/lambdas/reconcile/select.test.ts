import { type Candidate, judgeInstance, keepOnline, prioritize, selectDue } from '../../../lambdas/reconcile/select';
import type { InstanceFacts } from '../../../lambdas/shared/instances';
import { instanceId, testSettings } from './fake-fleet';

const NOW = new Date('2026-11-23T12:30:00Z');
const rules = testSettings();

function facts(tags: Record<string, string> = {}, overrides: Partial<InstanceFacts> = {}): InstanceFacts {
  return {
    instanceId: 'i-0abcd1111ef223344',
    state: 'running',
    platform: 'linux',
    architecture: 'x86_64',
    tags: new Map(Object.entries(tags)),
    ...overrides,
  };
}

function sentMinutesAgo(minutes: number): string {
  return new Date(NOW.getTime() - minutes * 60_000).toISOString();
}

describe('judgeInstance', () => {
  test('with an enrollment scope, instances without its tag (or a listed value) are never requested', () => {
    const scoped = testSettings({ SCOPE_TAG_KEY: 'env', SCOPE_TAG_VALUES: 'prod' });
    expect(judgeInstance(facts(), scoped, NOW)).toEqual({ due: false, reason: 'out-of-scope' });
    expect(judgeInstance(facts({ env: 'dev' }), scoped, NOW)).toEqual({ due: false, reason: 'out-of-scope' });
    expect(judgeInstance(facts({ env: 'prod' }), scoped, NOW)).toMatchObject({ due: true });
    // Without a scope, every instance is judged on the other rules (the seed's behaviour).
    expect(judgeInstance(facts(), rules, NOW)).toMatchObject({ due: true });
  });

  test('failed instances wait RETRY_FAILED_AFTER_SECONDS from their last command', () => {
    const failed = (minutes: number) => facts({ 'lgtm:agent-status': 'failed', 'lgtm:agent-pending-since': sentMinutesAgo(minutes) });
    expect(judgeInstance(failed(59), rules, NOW)).toEqual({ due: false, reason: 'failed-backoff' });
    expect(judgeInstance(failed(60), rules, NOW)).toEqual({
      due: true,
      candidate: { instanceId: 'i-0abcd1111ef223344', lastCommandSentAt: new Date(sentMinutesAgo(60)) },
    });
    const shortBackoff = testSettings({ RETRY_FAILED_AFTER_SECONDS: '600' });
    expect(judgeInstance(failed(11), shortBackoff, NOW).due).toBe(true);
  });

  test('the in-flight window is COMMAND_TIMEOUT_SECONDS, as in the enroll handler', () => {
    const pending = (minutes: number) => facts({ 'lgtm:agent-status': 'pending', 'lgtm:agent-pending-since': sentMinutesAgo(minutes) });
    expect(judgeInstance(pending(14), rules, NOW)).toEqual({ due: false, reason: 'enrollment-in-flight' });
    expect(judgeInstance(pending(15), rules, NOW).due).toBe(true);
  });

  test('a success status for the pinned version is enrolled; for another version it is not', () => {
    const success = (version: string) => facts({ 'lgtm:agent-status': 'success', 'lgtm:agent-version': version });
    expect(judgeInstance(success('1.21.0'), rules, NOW)).toEqual({ due: false, reason: 'already-enrolled' });
    expect(judgeInstance(success('1.20.0'), rules, NOW).due).toBe(true);
  });

  test('the tag keys come from the settings', () => {
    const custom = testSettings({ TENANT_TAG_KEY: 'team', OPT_OUT_TAG_KEY: 'no-agent', STATUS_TAG_KEY: 'agent', DEFAULT_TENANT: '' });
    expect(judgeInstance(facts({ team: 'a' }), custom, NOW).due).toBe(true);
    expect(judgeInstance(facts({ 'lgtm:tenant': 'a' }), custom, NOW)).toEqual({ due: false, reason: 'untagged' });
    expect(judgeInstance(facts({ team: 'a', 'no-agent': 'true' }), custom, NOW)).toEqual({ due: false, reason: 'opted-out' });
    expect(judgeInstance(facts({ team: 'a', agent: 'success', 'lgtm:agent-version': '1.21.0' }), custom, NOW)).toEqual({
      due: false,
      reason: 'already-enrolled',
    });
  });

  test('Windows arm64 has no Alloy build; an ID the enroll schema would refuse is never requested', () => {
    expect(judgeInstance(facts({}, { platform: 'windows', architecture: 'arm64' }), rules, NOW)).toEqual({
      due: false,
      reason: 'unsupported-platform',
    });
    expect(judgeInstance(facts({}, { instanceId: 'i-XYZ' }), rules, NOW)).toEqual({ due: false, reason: 'invalid-instance-id' });
  });
});

describe('selectDue and keepOnline', () => {
  const running = [
    facts({}, { instanceId: instanceId(1) }),
    facts({ 'lgtm:opt-out': 'true' }, { instanceId: instanceId(2) }),
    facts({}, { instanceId: instanceId(3) }),
    facts({}, { instanceId: instanceId(4), state: 'stopping' }),
  ];

  test('the online check comes last: only the instances due on every other rule are checked', () => {
    const judged = selectDue(running, rules, NOW);
    expect(judged).toEqual({
      due: [
        { instanceId: instanceId(1), lastCommandSentAt: undefined },
        { instanceId: instanceId(3), lastCommandSentAt: undefined },
      ],
      skippedByReason: { 'opted-out': 1, 'not-running': 1 },
    });

    // Instance 2 being online changes nothing: it was never due.
    expect(keepOnline(judged, new Set([instanceId(1), instanceId(2)]))).toEqual({
      candidates: [{ instanceId: instanceId(1), lastCommandSentAt: undefined }],
      skippedByReason: { 'opted-out': 1, 'not-running': 1, 'ssm-not-online': 1 },
    });
  });

  test('every due instance online: no ssm-not-online count', () => {
    const judged = selectDue(running, rules, NOW);
    expect(keepOnline(judged, new Set([instanceId(1), instanceId(3)])).skippedByReason).toEqual({ 'opted-out': 1, 'not-running': 1 });
  });
});

describe('prioritize', () => {
  const never = (n: number): Candidate => ({ instanceId: instanceId(n), lastCommandSentAt: undefined });
  const sent = (n: number, minutes: number): Candidate => ({
    instanceId: instanceId(n),
    lastCommandSentAt: new Date(sentMinutesAgo(minutes)),
  });

  test('never attempted first, then the oldest attempt first', () => {
    const ordered = prioritize([sent(1, 10), never(2), sent(3, 90), never(4), sent(5, 30)], () => 0);
    expect(
      ordered
        .slice(0, 2)
        .map((c) => c.instanceId)
        .sort(),
    ).toEqual([instanceId(2), instanceId(4)]);
    expect(ordered.slice(2).map((c) => c.instanceId)).toEqual([instanceId(3), instanceId(5), instanceId(1)]);
  });

  test('ties are shuffled, so different runs put different instances first', () => {
    const candidates = Array.from({ length: 20 }, (_, index) => never(index + 1));
    const first = prioritize(candidates, () => 0).slice(0, 5);
    const second = prioritize(candidates, () => 0.999).slice(0, 5);
    expect(first).not.toEqual(second);
    expect(prioritize(candidates, () => 0.3)).toHaveLength(20);
    expect(new Set(prioritize(candidates, () => 0.3).map((c) => c.instanceId)).size).toBe(20);
  });
});
