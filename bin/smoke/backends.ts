/**
 * Mimir, Loki and Tempo with their rendered configs: config check, ready, one sample / line / span
 * written and read back with the tenant header, another tenant sees nothing, a write without the
 * header is refused, SIGTERM flushes and exits within the ECS stop timeout, and the data reads back
 * from a replacement task (a fresh data directory, or the same one where the design keeps it on
 * EFS) and, finally, from the bucket alone.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LgtmConfig } from '../../lib/config/schema';
import { BACKENDS, type RenderInput } from '../../lib/render/catalog';
import { LOKI_RULES_DIRECTORY, renderLokiConfig } from '../../lib/render/loki';
import { renderMimirConfig } from '../../lib/render/mimir';
import { renderTempoConfig } from '../../lib/render/tempo';
import { type LocalConfig, type LocalDirs, localLokiConfig, localMimirConfig, localTempoConfig, type Override } from './local-config';
import { eventually, runCheck, Server, sleep } from './process';
import { Checks, oneLine, progress } from './report';

/** ECS stop timeout of the stateful backends (lib/components/common.ts). */
export const BACKEND_STOP_TIMEOUT_S = 120;

/** What differs between the three backends. */
interface BackendSpec {
  readonly program: 'mimir' | 'loki' | 'tempo';
  readonly signal: string;
  /** The config with local overrides, for data and bucket directories. */
  local(input: RenderInput, dirs: LocalDirs, memcached?: string): LocalConfig;
  /** Arguments of a config check that does not serve. */
  checkArgs(configFile: string): string[];
  /** Arguments the task runs it with. */
  runArgs(configFile: string): string[];
  readyUrl: string;
  /** Sub-directories of the data volume the init container creates. */
  dataDirectories: readonly string[];
  /** Writes the item; `tenant` undefined sends no header. */
  write(item: Item, tenant: string | undefined): Promise<Response>;
  /** Whether `tenant` reads the item back. */
  read(item: Item, tenant: string): Promise<boolean>;
  /** Whether the data volume survives a task replacement in this variant. */
  durableVolume(config: LgtmConfig): boolean;
  /** After a restart on the durable volume: has the item reached the bucket? */
  inBucket?(bucket: string, tenant: string): boolean;
  /**
   * An upstream hang on SIGTERM the design tolerates: when the program is killed at the stop
   * timeout and its log shows `safeLine` (what must happen before the kill to lose nothing), the
   * stop is reported as a known issue with `reference` instead of a failure.
   */
  stopHang?: { readonly safeLine: RegExp; readonly reference: string };
}

/** One sample, line or span: a random ID and a time. */
interface Item {
  readonly id: string;
  readonly spanId: string;
  readonly timeNs: bigint;
}

function newItem(): Item {
  return { id: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), timeNs: BigInt(Date.now()) * 1_000_000n };
}

const TENANT_HEADER = 'X-Scope-OrgID';

function headers(tenant: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, ...(tenant === undefined ? {} : { [TENANT_HEADER]: tenant }) };
}

const http = (port: number) => `http://127.0.0.1:${port}`;

/** One OTLP/HTTP JSON export of `scope` (spans or metrics) from the `lgtm-smoke` service. */
function postOtlp(url: string, tenant: string | undefined, signal: 'Spans' | 'Metrics', scope: Record<string, unknown>): Promise<Response> {
  const resource = { attributes: [{ key: 'service.name', value: { stringValue: 'lgtm-smoke' } }] };
  return fetch(url, {
    method: 'POST',
    headers: headers(tenant, { 'Content-Type': 'application/json' }),
    body: JSON.stringify({ [`resource${signal}`]: [{ resource, [`scope${signal}`]: [scope] }] }),
  });
}

const LOKI: BackendSpec = {
  program: 'loki',
  signal: 'log line',
  local: (input, dirs, memcached) => localLokiConfig(renderLokiConfig(input), BACKENDS.loki.dataDir, dirs, { memcached }),
  checkArgs: (file) => ['-verify-config', `-config.file=${file}`],
  runArgs: (file) => [`-config.file=${file}`],
  readyUrl: `${http(BACKENDS.loki.httpPort)}/ready`,
  dataDirectories: [LOKI_RULES_DIRECTORY],
  write: (item, tenant) =>
    fetch(`${http(BACKENDS.loki.httpPort)}/loki/api/v1/push`, {
      method: 'POST',
      headers: headers(tenant, { 'Content-Type': 'application/json' }),
      body: JSON.stringify({ streams: [{ stream: { job: 'lgtm-smoke' }, values: [[String(item.timeNs), `smoke ${item.id}`]] }] }),
    }),
  read: async (item, tenant) => {
    const params = new URLSearchParams({
      query: `{job="lgtm-smoke"} |= "${item.id}"`,
      start: String(item.timeNs - 3_600_000_000_000n),
      end: String(item.timeNs + 3_600_000_000_000n),
      limit: '10',
    });
    const response = await fetch(`${http(BACKENDS.loki.httpPort)}/loki/api/v1/query_range?${params}`, { headers: headers(tenant) });
    if (!response.ok) throw new Error(`query answered ${response.status}: ${oneLine(await response.text(), 200)}`);
    const body = (await response.json()) as { data: { result: Array<{ values: string[][] }> } };
    return body.data.result.some((stream) => stream.values.some(([, line]) => line.includes(item.id)));
  },
  durableVolume: (config) => config.storage.durability === 'efs',
};

const TEMPO: BackendSpec = {
  program: 'tempo',
  signal: 'span',
  local: (input, dirs) => localTempoConfig(renderTempoConfig(input), BACKENDS.tempo.dataDir, dirs),
  checkArgs: (file) => ['-config.verify', `-config.file=${file}`],
  runArgs: (file) => [`-config.file=${file}`],
  readyUrl: `${http(BACKENDS.tempo.httpPort)}/ready`,
  dataDirectories: [],
  write: (item, tenant) =>
    postOtlp(`${http(BACKENDS.tempo.otlpHttpPort)}/v1/traces`, tenant, 'Spans', {
      spans: [
        {
          traceId: item.id,
          spanId: item.spanId,
          name: 'smoke',
          kind: 1,
          startTimeUnixNano: String(item.timeNs),
          endTimeUnixNano: String(item.timeNs + 1_000_000n),
        },
      ],
    }),
  read: async (item, tenant) => {
    const response = await fetch(`${http(BACKENDS.tempo.httpPort)}/api/traces/${item.id}`, { headers: headers(tenant) });
    if (response.status === 404) return false;
    if (!response.ok) throw new Error(`trace lookup answered ${response.status}: ${oneLine(await response.text(), 200)}`);
    return (await response.text()).includes('lgtm-smoke');
  },
  // The live-store WAL is on EFS in every mode (lib/components/tempo.ts).
  durableVolume: () => true,
  stopHang: {
    // Logged within milliseconds of SIGTERM: the live traces are in the WAL on the durable volume.
    safeLine: /msg="done cutting all instances to WAL"/,
    reference:
      'Tempo 3.0.3 hangs on SIGTERM after serving a query in the last ~30 s (its query queue waits for an idle tenant queue; grafana/tempo#7967)',
  },
  // A completed block: <bucket>/[prefix/]<tenant>/<block>/meta.json.
  inBucket: (bucket, tenant) => findFile(bucket, (path) => path.endsWith('meta.json') && path.includes(`/${tenant}/`)),
};

const MIMIR: BackendSpec = {
  program: 'mimir',
  signal: 'sample',
  local: (input, dirs, memcached) => localMimirConfig(renderMimirConfig(input), BACKENDS.mimir.dataDir, dirs, { memcached }),
  checkArgs: (file) => ['-modules', `-config.file=${file}`],
  runArgs: (file) => [`-config.file=${file}`, '-target=all'],
  readyUrl: `${http(BACKENDS.mimir.httpPort)}/ready`,
  dataDirectories: [],
  write: (item, tenant) =>
    postOtlp(`${http(BACKENDS.mimir.httpPort)}/otlp/v1/metrics`, tenant, 'Metrics', {
      metrics: [
        {
          name: 'lgtm_smoke',
          gauge: {
            dataPoints: [
              { asDouble: 1, timeUnixNano: String(item.timeNs), attributes: [{ key: 'smoke_id', value: { stringValue: item.id } }] },
            ],
          },
        },
      ],
    }),
  read: async (item, tenant) => {
    const params = new URLSearchParams({
      query: `lgtm_smoke{smoke_id="${item.id}"}`,
      time: String(Number(item.timeNs / 1_000_000n) / 1000),
    });
    const response = await fetch(`${http(BACKENDS.mimir.httpPort)}/prometheus/api/v1/query?${params}`, { headers: headers(tenant) });
    if (!response.ok) throw new Error(`query answered ${response.status}: ${oneLine(await response.text(), 200)}`);
    const body = (await response.json()) as { data: { result: unknown[] } };
    return body.data.result.length > 0;
  },
  durableVolume: (config) => config.storage.durability === 'efs',
};

export const BACKEND_SPECS = { mimir: MIMIR, loki: LOKI, tempo: TEMPO } as const;

function findFile(dir: string, matches: (path: string) => boolean): boolean {
  if (!existsSync(dir)) return false;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory() ? findFile(path, matches) : matches(path)) return true;
  }
  return false;
}

export interface BackendRun {
  readonly binary: string;
  readonly config: LgtmConfig;
  readonly variant: string;
  /** An empty directory for this run. */
  readonly workDir: string;
  /** `127.0.0.1:port` of a running memcached, if any. */
  readonly memcached?: string;
  readonly printOverrides: (program: string, variant: string, overrides: readonly Override[]) => void;
}

function describeWrite(response: Response, body: string): string {
  return `HTTP ${response.status}${body ? `: ${oneLine(body, 160)}` : ''}`;
}

/** SIGTERM with the ECS stop timeout, as a row: pass, FAIL, or a known upstream hang with its evidence. */
async function stopAndReport(checks: Checks, spec: BackendSpec, server: Server, check: string): Promise<void> {
  const stopped = await server.stop(BACKEND_STOP_TIMEOUT_S);
  if (!stopped.killed) {
    checks.add(check, stopped.clean, `exit ${stopped.code} after ${stopped.seconds.toFixed(1)} s`);
    return;
  }
  const killed = `still running after ${BACKEND_STOP_TIMEOUT_S} s: killed, as ECS would`;
  const log = readFileSync(server.logFile, 'utf8');
  if (spec.stopHang?.safeLine.test(log)) {
    checks.knownIssue(check, `${killed}. ${spec.stopHang.reference}; the log shows ${spec.stopHang.safeLine.source} before the kill`);
  } else {
    checks.add(check, false, killed);
  }
}

/** Every check of one backend in one variant. */
export async function smokeBackend(spec: BackendSpec, run: BackendRun): Promise<Checks> {
  const checks = new Checks(spec.program, run.variant);
  const tenant = run.config.tenants.ec2Default ?? run.config.tenants.allowed[0];
  const otherTenant = `${tenant}-other`;
  const dirs: LocalDirs = { data: join(run.workDir, 'data'), bucket: join(run.workDir, 'bucket') };
  const input: RenderInput = {
    config: run.config,
    deploy: { region: 'us-east-1', bucketName: 'lgtm-smoke', urlSuffix: 'amazonaws.com', availabilityZones: 2 },
  };
  const local = spec.local(input, dirs, run.memcached);
  run.printOverrides(spec.program, run.variant, local.overrides);
  const configFile = join(run.workDir, `${spec.program}.yaml`);
  writeFileSync(configFile, local.text);
  const freshDataDir = () => {
    if (existsSync(dirs.data)) renameSync(dirs.data, `${dirs.data}.replaced-${Date.now()}`);
    mkdirSync(dirs.data, { recursive: true });
    for (const sub of spec.dataDirectories) mkdirSync(join(dirs.data, sub), { recursive: true });
  };
  freshDataDir();
  mkdirSync(dirs.bucket, { recursive: true });

  const verify = runCheck(run.binary, spec.checkArgs(configFile));
  if (!checks.add('config accepted', verify.ok, verify.ok ? spec.checkArgs('<file>').join(' ') : oneLine(verify.output))) return checks;

  let logIndex = 0;
  const start = () =>
    new Server(spec.program, run.binary, spec.runArgs(configFile), join(run.workDir, `${spec.program}-${++logIndex}.log`));
  let server = start();
  try {
    if (
      !(await checks.run('ready', async () => ({
        passed: true,
        detail: `/ready in ${(await server.waitReady(spec.readyUrl)).toFixed(1)} s`,
      })))
    ) {
      return checks;
    }
    const item = newItem();
    const wrote = await checks.run(`${spec.signal} written with ${TENANT_HEADER}: ${tenant}`, async () => {
      const response = await spec.write(item, tenant);
      return { passed: response.ok, detail: describeWrite(response, await response.text()) };
    });
    if (!wrote) return checks;
    await checks.run(`${spec.signal} read back by ${tenant}`, async () => {
      const found = await eventually(async () => ((await spec.read(item, tenant)) ? true : undefined), 60_000);
      return { passed: found === true, detail: found ? 'found' : 'not found within 60 s' };
    });
    await checks.run(`another tenant (${otherTenant}) sees nothing`, async () => {
      const seen = await spec.read(item, otherTenant);
      return { passed: !seen, detail: seen ? 'the other tenant read it' : 'not found' };
    });
    await checks.run('a write without the tenant header is refused', async () => {
      const response = await spec.write(newItem(), undefined);
      return { passed: !response.ok, detail: describeWrite(response, await response.text()) };
    });

    await stopAndReport(checks, spec, server, `SIGTERM: flushed and exited within the ${BACKEND_STOP_TIMEOUT_S} s stop timeout`);

    const durable = spec.durableVolume(run.config);
    if (!durable) freshDataDir();
    const replacement = durable ? 'the same data volume (EFS)' : 'a fresh data volume';
    progress(`${spec.program} (${run.variant}): starting the replacement with ${replacement}`);
    server = start();
    await server.waitReady(spec.readyUrl);
    const afterRestart = await checks.run(`replacement task (${replacement}) reads the ${spec.signal} back`, async () => {
      const found = await eventually(async () => ((await spec.read(item, tenant)) ? true : undefined), 120_000, 2_000);
      return { passed: found === true, detail: found ? 'found' : 'not found within 120 s' };
    });

    if (durable && afterRestart) {
      // The volume kept it; now show it reached the bucket: a task with nothing but the bucket reads it.
      const inBucket = spec.inBucket;
      if (inBucket) {
        const uploaded = await eventually(async () => (inBucket(dirs.bucket, tenant) ? true : undefined), 120_000, 2_000);
        if (!uploaded) checks.add(`${spec.signal} uploaded to the bucket by the replacement`, false, 'nothing in the bucket after 120 s');
      }
      await sleep(1_000);
      await stopAndReport(checks, spec, server, 'second SIGTERM: exited within the stop timeout');
      freshDataDir();
      server = start();
      await server.waitReady(spec.readyUrl);
      await checks.run(`a task with an empty data volume reads the ${spec.signal} from the bucket`, async () => {
        const found = await eventually(async () => ((await spec.read(item, tenant)) ? true : undefined), 120_000, 2_000);
        return { passed: found === true, detail: found ? 'found' : 'not found within 120 s' };
      });
    }
  } catch (error) {
    checks.add('harness', false, oneLine(error instanceof Error ? error.message : String(error)));
  } finally {
    await server.kill();
  }
  return checks;
}
