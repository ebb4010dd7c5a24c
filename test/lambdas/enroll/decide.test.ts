import { type DecisionContext, decideInstance, lifecycleResultOnSkip } from '../../../lambdas/enroll/decide';
import type { InstanceFacts } from '../../../lambdas/enroll/lookup';
import { testSettings } from './fake-aws';

const NOW = new Date('2026-11-23T12:31:34Z');
const context: DecisionContext = { settings: testSettings(), now: NOW, startedAt: new Date('2026-11-23T12:30:34Z') };

function instance(tags: Record<string, string> = {}, overrides: Partial<InstanceFacts> = {}): InstanceFacts {
  return {
    instanceId: 'i-0abcd1111ef223344',
    state: 'running',
    platform: 'linux',
    architecture: 'x86_64',
    tags: new Map(Object.entries(tags)),
    ...overrides,
  };
}

describe('decideInstance', () => {
  test('the tenant tag is trimmed; a blank tag falls back to the default tenant', () => {
    expect(decideInstance(instance({ 'lgtm:tenant': ' team-a ' }), context)).toEqual({
      action: 'enroll',
      tenant: 'team-a',
      platform: 'linux',
    });
    expect(decideInstance(instance({ 'lgtm:tenant': '' }), context)).toEqual({
      action: 'enroll',
      tenant: 'aws-rag-ec2',
      platform: 'linux',
    });
  });

  test('with an enrollment scope, only instances carrying its tag (with a listed value) are enrolled; a launch then goes on', () => {
    const scoped = (env: Record<string, string>): DecisionContext => ({ ...context, settings: testSettings(env) });
    const byKey = scoped({ SCOPE_TAG_KEY: 'observability' });
    expect(decideInstance(instance(), byKey)).toEqual({ action: 'skip', reason: 'out-of-scope', detail: 'no observability tag' });
    expect(decideInstance(instance({ observability: 'anything' }), byKey).action).toBe('enroll');
    const byValue = scoped({ SCOPE_TAG_KEY: 'env', SCOPE_TAG_VALUES: 'prod, staging' });
    expect(decideInstance(instance({ env: 'dev' }), byValue)).toEqual({
      action: 'skip',
      reason: 'out-of-scope',
      detail: 'no env tag with one of prod, staging',
    });
    expect(decideInstance(instance({ env: ' staging ' }), byValue).action).toBe('enroll');
    // Out of scope comes before everything else: an opted-in tenant tag does not pull an instance in.
    expect(decideInstance(instance({ env: 'dev', 'lgtm:tenant': 'team-a' }), byValue)).toMatchObject({ reason: 'out-of-scope' });
    expect(lifecycleResultOnSkip('out-of-scope', 'ABANDON')).toBe('CONTINUE');
    expect(() => testSettings({ SCOPE_TAG_VALUES: 'prod' })).toThrow('SCOPE_TAG_VALUES is set but SCOPE_TAG_KEY is empty');
  });

  test('only the value true opts out', () => {
    expect(decideInstance(instance({ 'lgtm:opt-out': 'false' }), context).action).toBe('enroll');
    expect(decideInstance(instance({ 'lgtm:opt-out': ' True ' }), context)).toMatchObject({ action: 'skip', reason: 'opted-out' });
  });

  test('tenant matching is exact (Mimir tenants are case-sensitive)', () => {
    expect(decideInstance(instance({ 'lgtm:tenant': 'Team-A' }), context)).toEqual({ action: 'refuse', tenant: 'Team-A' });
  });

  test('opting out wins over a refused tenant', () => {
    expect(decideInstance(instance({ 'lgtm:tenant': 'intruder', 'lgtm:opt-out': 'true' }), context)).toMatchObject({ reason: 'opted-out' });
  });

  test('enrolled means a success status and the pinned version', () => {
    const success = { 'lgtm:agent-status': 'success', 'lgtm:agent-version': '1.21.0' };
    expect(decideInstance(instance(success), context)).toMatchObject({ action: 'skip', reason: 'already-enrolled' });
    expect(decideInstance(instance({ ...success, 'lgtm:agent-status': 'success:config-3' }), context)).toMatchObject({
      reason: 'already-enrolled',
    });
    expect(decideInstance(instance({ 'lgtm:agent-status': 'success' }), context).action).toBe('enroll');
  });

  test('a pending status is in flight only with a readable, recent time', () => {
    const pending = (since: string) => instance({ 'lgtm:agent-status': 'pending', 'lgtm:agent-pending-since': since });
    expect(decideInstance(pending('2026-11-23T12:22:00Z'), context)).toMatchObject({ reason: 'enrollment-in-flight' });
    expect(decideInstance(pending('2026-11-23T12:21:33Z'), context).action).toBe('enroll');
    expect(decideInstance(pending('soon'), context).action).toBe('enroll');
  });

  test('a failed install ends a waiting launch instead of being installed again; other requests install again', () => {
    const failed = instance({ 'lgtm:agent-status': 'failed', 'lgtm:agent-command': 'c-7' });
    expect(decideInstance(failed, { ...context, lifecycle: true })).toEqual({
      action: 'skip',
      reason: 'enrollment-failed',
      detail: 'install command c-7 ended failed',
    });
    expect(decideInstance(failed, context).action).toBe('enroll');
    expect(decideInstance(instance({}), { ...context, lifecycle: true }).action).toBe('enroll');
  });

  test('which skips complete a waiting launch, and with which result', () => {
    expect(lifecycleResultOnSkip('enrollment-failed', 'ABANDON')).toBe('ABANDON');
    expect(lifecycleResultOnSkip('enrollment-failed', 'CONTINUE')).toBe('CONTINUE');
    for (const reason of ['opted-out', 'untagged', 'unsupported-platform', 'already-enrolled', 'tenant-refused'] as const) {
      expect(lifecycleResultOnSkip(reason, 'ABANDON')).toBe('CONTINUE');
    }
    // In flight: the status handler completes it; gone or stopped: there is no launch to continue.
    for (const reason of ['enrollment-in-flight', 'instance-gone', 'instance-not-running'] as const) {
      expect(lifecycleResultOnSkip(reason, 'ABANDON')).toBeUndefined();
    }
  });

  test('states', () => {
    expect(decideInstance(instance({}, { state: 'pending' }), context)).toMatchObject({ action: 'wait', reason: 'instance-pending' });
    expect(decideInstance(instance({}, { state: 'stopping' }), context)).toMatchObject({ action: 'skip', reason: 'instance-not-running' });
    expect(decideInstance(instance({}, { state: 'terminated' }), context)).toMatchObject({ action: 'skip', reason: 'instance-gone' });
  });

  test('a missing instance waits for two minutes after the event, then counts as gone', () => {
    expect(decideInstance(undefined, context)).toMatchObject({ action: 'wait', reason: 'instance-not-visible' });
    expect(decideInstance(undefined, { ...context, now: new Date('2026-11-23T12:32:34Z') })).toMatchObject({
      action: 'skip',
      reason: 'instance-gone',
    });
  });

  test('Windows on x86_64 is supported; i386 is not', () => {
    expect(decideInstance(instance({}, { platform: 'windows' }), context)).toEqual({
      action: 'enroll',
      tenant: 'aws-rag-ec2',
      platform: 'windows',
    });
    expect(decideInstance(instance({}, { architecture: 'i386' }), context)).toMatchObject({ reason: 'unsupported-platform' });
  });
});
