import { deliveredFiles, type ServiceRevision } from '../../../lambdas/refresh/deployed-config';
import type { ParameterState } from '../../../lambdas/refresh/parameters';
import type { Job } from '../../../lambdas/refresh/plan-jobs';
import {
  decideServiceRollout,
  type ParameterFacts,
  parametersToRead,
  planRollout,
  type ServiceRollout,
  SUPERSEDE_GRACE_MS,
} from '../../../lambdas/refresh/plan-rollout';
import type { ParameterChange } from '../../../lambdas/refresh/requests';
import { loadRefreshSettings } from '../../../lambdas/refresh/settings';
import { CONFIG_INIT_CONTAINER, configDigest, deployedConfigName } from '../../../lambdas/shared/config-files';
import type { RefreshTarget } from '../../../lambdas/shared/refresh-events';

const ECS = 'arn:aws:ecs:ap-northeast-2:123456789012';
const GRAFANA_ARN = `${ECS}:service/lgtm/grafana`;
const settings = loadRefreshSettings({
  PARAMETER_PREFIX: '/lgtm',
  LINUX_DOCUMENT_NAME: 'install-linux',
  WINDOWS_DOCUMENT_NAME: 'install-windows',
  ALLOY_VERSION: '1.21.0',
  STOP_LEGACY_AGENTS: 'true',
  ALLOWED_TENANTS: 'team-a',
  CLUSTER_ARN: `${ECS}:cluster/lgtm`,
  SERVICES: JSON.stringify({ grafana: GRAFANA_ARN }),
  EVENT_BUS_NAME: 'bus',
  EVENT_SOURCE: 'lgtm-fleet',
  DEAD_LETTER_QUEUE_URL: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/refresh-dlq',
});

const T0 = new Date('2026-11-23T12:00:00Z');
const AGENT = '/lgtm/agent/team-a/linux';
const AGENT_TARGET: RefreshTarget = { kind: 'agents', tenant: 'team-a', platform: 'linux' };
const GRAFANA_TARGET: RefreshTarget = { kind: 'service', service: 'grafana' };
const DATASOURCES = '/lgtm/config/grafana/datasources';
const DASHBOARDS = '/lgtm/config/grafana/dashboards';
const ALLOY = 'logging {\n  level = "info"\n}\n';

const changeOf = (name: string, time = T0): ParameterChange => ({ eventId: `change-${name}`, time, operation: 'Update', name });
const state = (name: string, value: string, version: number, lastModified = T0): ParameterState => ({
  name,
  value,
  version,
  type: 'String',
  lastModified,
});

function job(target: RefreshTarget, changes: readonly ParameterChange[], manualAt?: Date): Job {
  return {
    key: 'job',
    target,
    format: target.kind === 'agents' ? 'alloy' : 'yaml',
    changes: new Map(changes.map((change) => [change.name, change])),
    manual: manualAt && { eventId: 'manual-1', time: manualAt, detail: { all: true } },
    messageIds: new Set(['m1']),
  };
}

function facts(files: readonly ParameterState[], failed: ReadonlyMap<string, unknown> = new Map()): ParameterFacts {
  const found = new Map(files.map((file) => [file.name, file]));
  return { agents: { found, missing: new Set(), failed: new Map(failed) }, services: { found } };
}

describe('planRollout for agents', () => {
  test('a current change: the command carries the checked value, and an earlier command counts from its modification', () => {
    const modified = new Date(T0.getTime() + 1000);
    const plan = planRollout(job(AGENT_TARGET, [changeOf(AGENT)]), facts([state(AGENT, ALLOY, 3, modified)]), settings);

    expect(plan).toMatchObject({ kind: 'rollout', superseded: [] });
    if (plan.kind !== 'rollout' || plan.rollout.kind !== 'agents') throw new Error('expected an agent rollout');
    expect(plan.rollout).toMatchObject({
      parameter: AGENT,
      version: 3,
      document: 'install-linux',
      comment: 'lgtm-fleet refresh team-a/linux v3',
    });
    expect(plan.rollout.since).toEqual(modified);
    expect(plan.rollout.command.Parameters).toMatchObject({ AgentConfig: [ALLOY], ConfigVersion: ['3'] });
  });

  test.each([
    [SUPERSEDE_GRACE_MS, 'rollout'],
    [SUPERSEDE_GRACE_MS + 1, 'superseded'],
  ])('modified %i ms after the change event: %s', (after, kind) => {
    const modified = new Date(T0.getTime() + after);

    const plan = planRollout(job(AGENT_TARGET, [changeOf(AGENT)]), facts([state(AGENT, ALLOY, 4, modified)]), settings);

    expect(plan.kind).toBe(kind);
    if (kind === 'superseded') expect(plan.superseded[0]?.reason).toBe(`modified again at ${modified.toISOString()} (now version 4)`);
  });

  test('a parameter gone since its change is superseded; a manual request for it is not found', () => {
    const changed = planRollout(job(AGENT_TARGET, [changeOf(AGENT)]), facts([]), settings);
    const requested = planRollout(job(AGENT_TARGET, [], T0), facts([]), settings);

    expect(changed).toEqual({ kind: 'superseded', superseded: [{ change: changeOf(AGENT), reason: 'the parameter no longer exists' }] });
    expect(requested).toEqual({ kind: 'not-found', parameter: AGENT, detail: `parameter ${AGENT} not found`, superseded: [] });
  });

  test('a failed look-up is planned as such, before anything else', () => {
    const error = new Error('Rate exceeded');

    const plan = planRollout(job(AGENT_TARGET, [changeOf(AGENT)]), facts([], new Map([[AGENT, error]])), settings);

    expect(plan).toEqual({ kind: 'lookup-failed', operation: 'GetParameters', parameter: AGENT, error, superseded: [] });
  });

  test('a config that fails a check is refused', () => {
    const plan = planRollout(job(AGENT_TARGET, [changeOf(AGENT)]), facts([state(AGENT, '  \n', 5)]), settings);

    expect(plan).toMatchObject({ kind: 'refused', refusals: [{ file: { name: AGENT, version: 5 }, reason: 'empty' }] });
  });
});

describe('planRollout for a service', () => {
  const datasources = state(DATASOURCES, 'apiVersion: 1\ndatasources: []\n', 7);
  const dashboards = state(DASHBOARDS, 'apiVersion: 1\nproviders: []\n', 2);

  test('every file of the service is delivered; the outcome is about the one changed file', () => {
    const plan = planRollout(
      job(GRAFANA_TARGET, [changeOf(DATASOURCES)]),
      facts([datasources, dashboards, state(AGENT, ALLOY, 1)]),
      settings,
    );

    expect(plan).toMatchObject({
      kind: 'rollout',
      rollout: { kind: 'service', parameter: DATASOURCES, version: 7, serviceArn: GRAFANA_ARN, manual: false },
    });
    if (plan.kind === 'rollout') expect(plan.rollout.files.map((file) => file.name)).toEqual([DASHBOARDS, DATASOURCES]);
  });

  test('several changed files: the outcome is about the service path; a manual request counts from its time', () => {
    const later = new Date(T0.getTime() + 60_000);

    const plan = planRollout(
      job(GRAFANA_TARGET, [changeOf(DATASOURCES), changeOf(DASHBOARDS)], later),
      facts([datasources, dashboards]),
      settings,
    );

    expect(plan).toMatchObject({ kind: 'rollout', rollout: { parameter: '/lgtm/config/grafana', version: null, manual: true } });
    if (plan.kind === 'rollout') expect(plan.rollout.since).toEqual(later);
  });

  test('a change overwritten since is superseded while the other still rolls out (with the newer file too)', () => {
    const later = new Date(T0.getTime() + 60_000);

    const plan = planRollout(
      job(GRAFANA_TARGET, [changeOf(DATASOURCES), changeOf(DASHBOARDS)]),
      facts([datasources, { ...dashboards, lastModified: later }]),
      settings,
    );

    expect(plan).toMatchObject({ kind: 'rollout', superseded: [{ change: { name: DASHBOARDS } }] });
    if (plan.kind === 'rollout') expect(plan.rollout.since).toEqual(later);
  });

  test('a change is refused while another file of the service is invalid: new tasks would read both', () => {
    const broken = state(DASHBOARDS, 'apiVersion: 1\nproviders:\n\t- name: x\n', 3);

    const plan = planRollout(job(GRAFANA_TARGET, [changeOf(DATASOURCES)]), facts([datasources, broken]), settings);

    expect(plan).toMatchObject({ kind: 'refused', refusals: [{ file: { name: DASHBOARDS }, reason: 'invalid-yaml' }] });
  });
});

test('parametersToRead: the agent parameters by name, the service configs by path only when a service job needs them', () => {
  expect(parametersToRead([job(AGENT_TARGET, [])], settings)).toEqual({ agentNames: [AGENT], servicePath: undefined });
  expect(parametersToRead([job(GRAFANA_TARGET, [])], settings)).toEqual({ agentNames: [], servicePath: '/lgtm/config' });
});

describe('decideServiceRollout', () => {
  const running = 'apiVersion: 1\ndatasources: []\n';
  const runningCopy = deployedConfigName(DATASOURCES, 6, configDigest(running));
  const deployedAt = new Date(T0.getTime() + 30_000);
  const taskDefinition = {
    family: 'lgtm-grafana',
    containerDefinitions: [
      { name: CONFIG_INIT_CONTAINER, secrets: [{ name: 'DATASOURCES', valueFrom: runningCopy }] },
      { name: 'grafana' },
    ],
  };
  const current: ServiceRevision = {
    taskDefinition,
    tags: [],
    files: deliveredFiles(taskDefinition),
    deploymentId: 'ecs-svc/running',
    deploymentCreatedAt: deployedAt,
  };
  const values = new Map([[runningCopy, running]]);
  const rollout = (value: string, manual: boolean, since = T0): ServiceRollout => ({
    kind: 'service',
    parameter: DATASOURCES,
    version: 7,
    files: [state(DATASOURCES, value, 7)],
    since,
    serviceArn: GRAFANA_ARN,
    manual,
  });

  test('the running copy holds the value: already applied after a change event, however old its deployment', () => {
    const expected = { kind: 'already-applied', deploymentId: 'ecs-svc/running', undelivered: [] };
    expect(decideServiceRollout(current, values, rollout(running, false))).toEqual(expected);
    expect(decideServiceRollout(current, values, rollout(running, false, new Date(deployedAt.getTime() + 1)))).toEqual(expected);
  });

  test('a manual request restarts the tasks unless a deployment started since', () => {
    expect(decideServiceRollout(current, values, rollout(running, true, new Date(deployedAt.getTime() + 1))).kind).toBe('restart');
    expect(decideServiceRollout(current, values, rollout(running, true, deployedAt)).kind).toBe('already-applied');
  });

  test('a new value: a copy of the checked version, a revision reading it, and both copies kept from pruning', () => {
    const edited = `${running}# edited\n`;
    const copy = deployedConfigName(DATASOURCES, 7, configDigest(edited));

    const decision = decideServiceRollout(current, values, rollout(edited, false));

    expect(decision).toMatchObject({ kind: 'deploy', copies: [{ name: copy }] });
    if (decision.kind !== 'deploy') throw new Error('expected a deployment');
    const init = decision.revision.containerDefinitions?.find((container) => container.name === CONFIG_INIT_CONTAINER);
    expect(init?.secrets).toEqual([{ name: 'DATASOURCES', valueFrom: copy }]);
    expect(init?.environment).toEqual([{ name: 'LGTM_CONFIG_VERSIONS', value: `${DATASOURCES}=v7` }]);
    expect(decision.prune).toEqual({ configNames: [DATASOURCES], keep: new Set([runningCopy, copy]) });
  });
});
