#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
/**
 * Asks the refresh function to roll configs out again, by putting a `Config Refresh Requested`
 * event on the project's bus (the same path a Parameter Store change takes, with the same checks):
 *   npm run refresh -- --tenant aws-rag-ec2                  # both platforms' agents of a tenant
 *   npm run refresh -- --tenant aws-rag-ec2 --platform linux
 *   npm run refresh -- --service mimir                       # roll one service (restarts it when its config is unchanged)
 *   npm run refresh -- --all                                 # every agent config and every service
 * Options: --bus <name> (default: the stack name), --region <region> (default: the config's
 * env.region, else the AWS SDK's), --config <file.json> (as `cdk deploy -c config=<file>`).
 */
import { isPlatform, type Platform } from '../lambdas/shared/contract';
import { CONFIG_REFRESH_REQUESTED, type RefreshRequestDetail, refreshRequestDetail } from '../lambdas/shared/refresh-events';
import { describeIssues } from '../lambdas/shared/schema';
import type { LgtmConfig } from '../lib/config/schema';
import { CONFIG_CONTEXT_KEY, resolveConfig } from './config-source';

/** Source of lgtm-fleet's own events (lib/enrollment/enrollment.ts EVENT_SOURCE); the refresh function accepts requests only from it. */
export const EVENT_SOURCE = 'lgtm-fleet';
/** Services whose configs live in Parameter Store; the collector only when the config deploys it. */
const BACKEND_SERVICES = ['mimir', 'loki', 'tempo', 'grafana'] as const;

const USAGE = `usage: npm run refresh -- (--tenant <tenant> [--platform linux|windows] | --service <service> | --all)
                          [--bus <name>] [--region <region>] [--config <file.json>]`;

/** Exit codes: 0 sent, 1 the event could not be put, 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface RefreshCliDeps {
  /** Creates the EventBridge client (tests pass a mocked one). */
  readonly eventBridge?: (region: string | undefined) => EventBridgeClient;
  /** The `lgtm` context object of cdk.json; read from the file when not given. */
  readonly cdkContext?: unknown;
  /** Who is asking, recorded in the request for the logs; default `user@host`. */
  readonly requestedBy?: string;
  readonly out?: (line: string) => void;
  readonly err?: (line: string) => void;
}

class UsageError extends Error {}

interface Request {
  readonly detail: RefreshRequestDetail;
  readonly bus: string;
  readonly region: string | undefined;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[], deps: RefreshCliDeps = {}): Promise<number> {
  const out = deps.out ?? ((line: string) => console.log(line));
  const err = deps.err ?? ((line: string) => console.error(line));
  let request: Request;
  try {
    const parsed = parseFlags(argv);
    if (parsed === 'help') {
      out(USAGE);
      return EXIT.ok;
    }
    request = buildRequest(parsed, deps);
  } catch (error) {
    err(error instanceof UsageError ? `${error.message}\n${USAGE}` : (error as Error).message);
    return EXIT.usage;
  }

  const entry: PutEventsRequestEntry = {
    EventBusName: request.bus,
    Source: EVENT_SOURCE,
    DetailType: CONFIG_REFRESH_REQUESTED,
    Detail: JSON.stringify(request.detail),
  };
  out(`Putting on event bus ${request.bus}${request.region ? ` (${request.region})` : ''}:`);
  out(JSON.stringify({ ...entry, Detail: request.detail }, null, 2));

  const client = (deps.eventBridge ?? defaultClient)(request.region);
  try {
    const result = await client.send(new PutEventsCommand({ Entries: [entry] }));
    const outcome = result.Entries?.[0];
    if ((result.FailedEntryCount ?? 0) > 0 || outcome?.EventId === undefined) {
      err(`PutEvents refused the event: ${outcome?.ErrorCode ?? 'no event ID'}: ${outcome?.ErrorMessage ?? 'no message'}`);
      return EXIT.failed;
    }
    out(`EventId: ${outcome.EventId}`);
    out(
      'The refresh function picks it up after the queue delay (about a minute); watch the bus for Config Refresh Started / Failed / Skipped / Completed, or its logs.',
    );
    return EXIT.ok;
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    err(`PutEvents failed: ${name}: ${(error as Error).message ?? String(error)}`);
    return EXIT.failed;
  }
}

type Flags = { tenant?: string; platform?: string; service?: string; all?: boolean; bus?: string; region?: string; config?: string };

function parseFlags(argv: readonly string[]): Flags | 'help' {
  let values: Flags & { help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        tenant: { type: 'string', short: 't' },
        platform: { type: 'string', short: 'p' },
        service: { type: 'string', short: 's' },
        all: { type: 'boolean' },
        bus: { type: 'string' },
        region: { type: 'string' },
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return values.help ? 'help' : values;
}

function buildRequest(flags: Flags, deps: RefreshCliDeps): Request {
  const chosen = [flags.tenant !== undefined && '--tenant', flags.service !== undefined && '--service', flags.all && '--all'].filter(
    Boolean,
  );
  if (chosen.length !== 1) {
    throw new UsageError(
      chosen.length === 0
        ? 'say what to refresh: --tenant, --service or --all'
        : `give only one of --tenant, --service, --all (got ${chosen.join(', ')})`,
    );
  }
  if (flags.platform !== undefined && flags.tenant === undefined) throw new UsageError('--platform goes with --tenant');
  if (flags.platform !== undefined && !isPlatform(flags.platform)) {
    throw new UsageError(`--platform must be linux or windows, got "${flags.platform}"`);
  }

  const config = loadConfig(flags.config, deps);
  if (flags.tenant !== undefined && !config.tenants.allowed.includes(flags.tenant)) {
    throw new UsageError(`--tenant ${flags.tenant}: not in tenants.allowed (${config.tenants.allowed.join(', ')})`);
  }
  const services = [...BACKEND_SERVICES, ...(config.collector?.enabled ? ['collector'] : [])];
  if (flags.service !== undefined && !services.includes(flags.service)) {
    throw new UsageError(`--service must be one of ${services.join(', ')}, got "${flags.service}"`);
  }

  const requestedBy = deps.requestedBy ?? defaultRequester();
  const detail: RefreshRequestDetail =
    flags.tenant !== undefined
      ? { tenant: flags.tenant, ...(flags.platform ? { platform: flags.platform as Platform } : {}), requestedBy }
      : flags.service !== undefined
        ? { service: flags.service, requestedBy }
        : { all: true, requestedBy };
  // The refresh function dead-letters a request its schema refuses: check with the same schema.
  const checked = refreshRequestDetail.safeParse(detail);
  if (!checked.success) throw new UsageError(`the request would be refused: ${describeIssues(checked.error)}`);

  if (flags.bus !== undefined && !/^[A-Za-z0-9._\-/:]{1,256}$/.test(flags.bus))
    throw new UsageError(`--bus: not an event bus name or ARN: "${flags.bus}"`);
  return { detail: checked.data, bus: flags.bus ?? config.stackName, region: flags.region ?? config.env?.region };
}

function loadConfig(file: string | undefined, deps: RefreshCliDeps): LgtmConfig {
  const inline = 'cdkContext' in deps ? deps.cdkContext : readCdkContext();
  return resolveConfig({ inline, file });
}

function readCdkContext(): unknown {
  const cdkJson = JSON.parse(readFileSync(join(__dirname, '..', 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context?.[CONFIG_CONTEXT_KEY];
}

function defaultClient(region: string | undefined): EventBridgeClient {
  return new EventBridgeClient(region ? { region } : {});
}

function defaultRequester(): string {
  try {
    return `${userInfo().username}@${hostname()}`.slice(0, 256);
  } catch {
    return `unknown@${hostname()}`.slice(0, 256);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exitCode = EXIT.failed;
    },
  );
}
