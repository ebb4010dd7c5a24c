import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SQSBatchResponse } from 'aws-lambda';
import { METRIC } from '../../lambdas/refresh/outcomes';
import { loadRefreshSettings, type RefreshSettings } from '../../lambdas/refresh/settings';
import { PLATFORMS } from '../../lambdas/shared/contract';
import { renderAgentConfig } from '../../lib/render/agent';
import { agentParameterName, parameterPrefix } from '../../lib/render/catalog';
import { sqsRecord } from '../../test/lambdas/fixtures';
import { agentCredentialSecrets } from '../../test/lambdas/harness/secrets';
import { CHANGE_TIME, changeEvent, FakeAws, serviceArn, TEST_ENV, testSettings } from '../../test/lambdas/refresh/fake-aws';
import { FUNCTION_SERVICE_NAMES, functionVariables, harnessEnvironment } from '../../test/support/function-environment';
import { CONFIG_CONTEXT_KEY, CONFIG_FILE_CONTEXT_KEY, resolveConfig } from '../config-source';
import { renderAll } from '../render';
import { errorRow, installJestSpyOn, median, progress, type Row, row } from './table';

export const REFRESH_FLEETS = [100, 1_000, 10_000];
/** Updates to one parameter in one SQS batch in the burst scenario. */
export const BURST_UPDATES = 5;
/** Calls are deterministic; the handler time is the median of this many runs. */
export const REFRESH_RUNS = 9;
/** The agents of the fleet: one tenant (the first allowed one), one platform. */
const PLATFORM = 'linux';
/** The backend whose parameter changes: `<prefix>/config/mimir`, a new task definition revision of the Mimir service. */
const BACKEND_SERVICE = 'mimir';
/** Time between the updates of a burst. */
const BURST_SPACING_MS = 2_000;
/** Stands in for the ingest load balancer's URLs (CDK tokens in the stack) in the rendered agent configs. */
const INGEST_URL = 'http://internal-lgtm-ingest-0123456789.ap-northeast-2.elb.amazonaws.com';

type Kind = 'agent' | 'backend';

interface Setup {
  readonly settings: RefreshSettings;
  /** Where the settings came from, for the table. */
  readonly source: string;
  readonly tenant: string;
  readonly parameters: Readonly<Record<Kind, string>>;
  /** Puts the stack's parameters into a fresh fake. */
  readonly seed: (aws: FakeAws) => void;
}

interface RunFigures {
  readonly calls: number;
  /** Calls per operation, e.g. `GetParameters 1, SendCommand 1`. */
  readonly operations: string;
  /** SendCommand plus UpdateService calls. */
  readonly rollouts: number;
  readonly sendCommands: number;
  readonly updateServices: number;
  /** Instances the tag targets of the SendCommand calls resolved to in the fake, and whether any call named instance IDs. */
  readonly reached: number;
  readonly instanceIds: number;
  readonly superseded: number;
  readonly failures: number;
  readonly handlerMs: number;
  /** Part of handlerMs spent in the fake's SendCommand matching tag targets against the fleet (Run Command's work in AWS). */
  readonly tagResolutionMs: number;
}

/**
 * Config refresh for fleets of enrolled agents: one `Parameter Store Change` Update of an agent
 * parameter and one of a backend parameter, and a burst of updates to one parameter in one batch,
 * each through the refresh handler's batch logic (processBatch) against the mocked SDK of its tests
 * (test/lambdas/refresh/fake-aws.ts). The fake holds the fleet as tagged instances and resolves a
 * command's tag targets against it, so it shows whether the handler's calls grow with the fleet.
 */
export async function benchRefresh(repo: string, assemblyDir: string | undefined): Promise<Row[]> {
  installJestSpyOn();
  let setup: Setup;
  try {
    setup = refreshSetup(repo, assemblyDir);
    await refreshRun(setup, 'agent', REFRESH_FLEETS[0], 1); // warm-up: JIT and lazy module initialization, not reported
  } catch (error) {
    return [errorRow('config refresh', error)];
  }
  const rows: Row[] = [];
  for (const updates of [1, BURST_UPDATES]) {
    for (const kind of ['agent', 'backend'] as const) {
      const label = refreshLabel(setup, kind, updates);
      try {
        const figures: RunFigures[] = [];
        for (const fleet of REFRESH_FLEETS) {
          progress(`config refresh, ${updates} update(s) of ${setup.parameters[kind]}, fleet of ${fleet.toLocaleString('en-US')}`);
          const runs: RunFigures[] = [];
          for (let run = 0; run < REFRESH_RUNS; run += 1) runs.push(await refreshRun(setup, kind, fleet, updates));
          figures.push({
            ...runs[0],
            handlerMs: median(runs.map((r) => r.handlerMs)),
            tagResolutionMs: median(runs.map((r) => r.tagResolutionMs)),
          });
        }
        rows.push(updates === 1 ? callsRow(label, kind, figures) : burstRow(label, kind, figures));
      } catch (error) {
        rows.push(errorRow(label, error));
      }
    }
  }
  return rows;
}

function refreshLabel(setup: Setup, kind: Kind, updates: number): string {
  const fleets = `fleets of ${REFRESH_FLEETS.map((size) => size.toLocaleString('en-US')).join(' / ')} enrolled ${setup.tenant}/${PLATFORM} agents`;
  const what = kind === 'agent' ? 'agent parameter' : 'backend parameter';
  return updates === 1
    ? `config refresh, one Update of ${what} \`${setup.parameters[kind]}\`, ${fleets}: AWS API calls per refresh (settings ${setup.source})`
    : `config refresh burst, ${updates} Updates of \`${setup.parameters[kind]}\` in one batch, same fleets: rollouts`;
}

function callsRow(label: string, kind: Kind, figures: readonly RunFigures[]): Row {
  const calls = figures.map((f) => f.calls);
  const constant = calls.every((count) => count === calls[0]);
  const sameOperations = figures.every((f) => f.operations === figures[0].operations);
  const reach =
    kind === 'agent'
      ? `${join3(figures.map((f) => f.sendCommands))} SendCommand by tag (${figures.some((f) => f.instanceIds > 0) ? 'with instance IDs' : 'no instance IDs'}), resolved by Run Command (the fake) to ${join3(figures.map((f) => f.reached.toLocaleString('en-US')))} instances: the handler never looks at instances`
      : `${join3(figures.map((f) => f.updateServices))} UpdateService of ${BACKEND_SERVICE}: the handler never looks at instances`;
  const value = [
    `${join3(calls)} calls (${sameOperations ? figures[0].operations : figures.map((f) => f.operations).join(' / ')})`,
    constant ? 'constant' : 'not constant',
    `${join3(figures.map((f) => f.handlerMs.toFixed(2)))} ms/refresh${tagResolutionNote(kind, figures)}`,
    reach,
    ...failureNote(figures),
  ].join(' · ');
  const passed = constant && figures.every((f) => f.rollouts === 1 && f.failures === 0);
  return row(label, value, 'constant across fleet sizes, 1 rollout', passed);
}

function burstRow(label: string, kind: Kind, figures: readonly RunFigures[]): Row {
  const value = [
    `${join3(figures.map((f) => f.rollouts))} rollouts`,
    `${join3(figures.map((f) => f.superseded))} updates superseded`,
    `${join3(figures.map((f) => f.calls))} calls`,
    `${join3(figures.map((f) => f.handlerMs.toFixed(2)))} ms/batch${tagResolutionNote(kind, figures)}`,
    ...failureNote(figures),
  ].join(' · ');
  const passed = figures.every((f) => f.rollouts === 1 && f.failures === 0);
  return row(label, value, '1 rollout', passed);
}

/** The fake's own share of an agent refresh: Run Command resolving the tag targets, which grows with the fleet. */
function tagResolutionNote(kind: Kind, figures: readonly RunFigures[]): string {
  if (kind !== 'agent') return '';
  return ` (of which the fake resolving the tag targets: ${join3(figures.map((f) => f.tagResolutionMs.toFixed(2)))} ms)`;
}

function failureNote(figures: readonly RunFigures[]): string[] {
  return figures.some((f) => f.failures > 0) ? [`${join3(figures.map((f) => f.failures))} records to retry`] : [];
}

function join3(values: ReadonlyArray<string | number>): string {
  return values.join(' / ');
}

/**
 * One batch: `updates` Update events of the parameter, 2 s apart, the parameter modified by the
 * last of them, against a fresh fake holding `fleet` enrolled agents of one tenant and platform.
 */
async function refreshRun(setup: Setup, kind: Kind, fleet: number, updates: number): Promise<RunFigures> {
  const aws = new FakeAws();
  setup.seed(aws);
  aws.enroll(setup.tenant, PLATFORM, fleet);
  const name = setup.parameters[kind];
  const current = aws.parameters.get(name);
  if (current === undefined) throw new Error(`the fake holds no parameter ${name}`);
  const lastUpdate = new Date(CHANGE_TIME.getTime() + (updates - 1) * BURST_SPACING_MS);
  // A backend gets a new value (YAML comment): the one it already runs would roll nothing out.
  const value = kind === 'backend' ? `${current.value.trimEnd()}\n# edited\n` : current.value;
  aws.put(name, value, current.version + updates, lastUpdate);
  const records = Array.from({ length: updates }, (_, index) =>
    sqsRecord(changeEvent(name, 'Update', new Date(CHANGE_TIME.getTime() + index * BURST_SPACING_MS))),
  );

  // The fake's SendCommand filters the fleet by tag; time that filter to tell the mock's work from the handler's.
  let tagResolutionMs = 0;
  const filter = aws.fleet.filter;
  Object.defineProperty(aws.fleet, 'filter', {
    value: (...args: Parameters<typeof filter>) => {
      const started = performance.now();
      const matching = filter.apply(aws.fleet, args);
      tagResolutionMs += performance.now() - started;
      return matching;
    },
  });

  const start = performance.now();
  const response: SQSBatchResponse = await aws.process(records, setup.settings);
  const handlerMs = performance.now() - start;

  const operations = new Map<string, number>();
  for (const stub of [aws.ssm, aws.ecs, aws.eventBridge, aws.sqs, aws.secretsManager]) {
    for (const call of stub.calls()) {
      const operation = (call.args[0] as object).constructor.name.replace(/Command$/, '');
      operations.set(operation, (operations.get(operation) ?? 0) + 1);
    }
  }
  return {
    calls: [...operations.values()].reduce((sum, count) => sum + count, 0),
    operations: [...operations].map(([operation, count]) => `${operation} ${count}`).join(', '),
    rollouts: aws.rollouts(),
    sendCommands: aws.sendCommands().length,
    updateServices: aws.updateServices().length,
    reached: aws.commands.reduce((sum, command) => sum + command.resolvedInstances.length, 0),
    instanceIds: aws.sendCommands().reduce((sum, command) => sum + (command.InstanceIds?.length ?? 0), 0),
    superseded: aws.metricValues.get(METRIC.superseded) ?? 0,
    failures: response.batchItemFailures.length,
    handlerMs,
    tagResolutionMs,
  };
}

/**
 * The settings the stack gives the function: its environment in the synthesized template, where
 * CloudFormation references (document names, cluster, service ARNs, bus, dead-letter queue) become
 * the names and ARNs of the test harness; the fake then holds the parameters the stack creates,
 * rendered from the same config. Without a template: the test settings and the fake's own parameters.
 */
function refreshSetup(repo: string, assemblyDir: string | undefined): Setup {
  const variables = assemblyDir ? templateVariables(assemblyDir) : undefined;
  if (variables === undefined) {
    const settings = testSettings();
    const tenant = [...settings.allowedTenants][0] as string;
    return {
      settings,
      source: 'testSettings() of the refresh tests, no synthesized template',
      tenant,
      parameters: {
        agent: `${settings.parameterPrefix}/agent/${tenant}/${PLATFORM}`,
        backend: `${settings.parameterPrefix}/config/${BACKEND_SERVICE}`,
      },
      seed: () => {},
    };
  }

  const settings = loadRefreshSettings(harnessEnvironment(variables, TEST_ENV, serviceArn));
  // The config bin/lgtm-fleet.ts synthesizes: cdk.json's context (none: the defaults).
  const context = (JSON.parse(readFileSync(join(repo, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
  const config = resolveConfig({ inline: context[CONFIG_CONTEXT_KEY], file: context[CONFIG_FILE_CONTEXT_KEY] });
  if (parameterPrefix(config) !== settings.parameterPrefix) {
    throw new Error(`the template's PARAMETER_PREFIX ${settings.parameterPrefix} is not the config's ${parameterPrefix(config)}`);
  }
  const endpoints = { metricsUrl: `${INGEST_URL}/api/v1/push`, logsUrl: `${INGEST_URL}/loki/api/v1/push`, tracesUrl: INGEST_URL };
  const parameters = new Map<string, string>();
  for (const document of renderAll(config)) if (document.parameter) parameters.set(document.parameter, document.content);
  for (const tenant of config.tenants.allowed) {
    for (const platform of PLATFORMS) {
      parameters.set(agentParameterName(config, tenant, platform), renderAgentConfig({ config, tenant, platform, endpoints }));
    }
  }
  const seededAt = new Date('2026-11-20T08:00:00Z');
  const tenant = [...settings.allowedTenants][0] as string;
  return {
    settings,
    source: 'from the synthesized template',
    tenant,
    parameters: {
      agent: agentParameterName(config, tenant, PLATFORM),
      backend: `${settings.parameterPrefix}/config/${BACKEND_SERVICE}`,
    },
    seed: (aws) => {
      aws.parameters.clear();
      for (const [name, value] of parameters) aws.put(name, value, 3, seededAt);
      // The services as the template deploys them: each task definition reads the stack's copies.
      for (const [service, arn] of settings.services) aws.deployService(service, arn, settings.parameterPrefix);
      // The tenants' agent credentials where the stack puts them (with ingest.tenantBinding, the default).
      const prefix = settings.agentCredentialSecretPrefix;
      if (prefix !== undefined) {
        aws.secrets.clear();
        for (const [name, value] of agentCredentialSecrets(prefix, config.tenants.allowed)) aws.secrets.set(name, value);
      }
    },
  };
}

/** The refresh function's environment variables in the synthesized templates, found by its service name. */
function templateVariables(assemblyDir: string): Record<string, unknown> | undefined {
  for (const templateFile of readdirSync(assemblyDir).filter((file) => file.endsWith('.template.json'))) {
    const template = JSON.parse(readFileSync(join(assemblyDir, templateFile), 'utf8')) as { Resources?: Record<string, object> };
    const variables = functionVariables(template.Resources ?? {}, FUNCTION_SERVICE_NAMES.refresh);
    if (variables !== undefined) return variables;
  }
  return undefined;
}
