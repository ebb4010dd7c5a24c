/**
 * Loki as a cluster of three replicas with the rendered clustered config (`services.loki.replicas:
 * 3`), each on its own loopback address (127.0.0.<n>) with its own data directory, one shared
 * bucket directory. A writer pushes a numbered line every few milliseconds through the replicas
 * in the load balancer's list (round robin; a failed push is retried on the next one, as Alloy
 * does), while the harness plays what ECS does:
 * - a crash: one replica is killed (SIGKILL, no flush) and a replacement starts on a new address
 *   with an empty disk, as a new Fargate task would;
 * - a rolling deployment (minimum healthy 100 %): for each replica, a new one starts and becomes
 *   ready, the old one leaves the load balancer's list, gets SIGTERM and exits.
 * Every acknowledged line must read back at the end: lines lost must be 0.
 *
 * The rings are zone-aware, one zone per replica, and new replicas are placed as ECS places them:
 * spread over the zones, a replacement in the zone with the fewest replicas, and a rolling
 * deployment stopping the old task of the zone its new task started in (the scheduler keeps the
 * zones balanced when it stops tasks).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKENDS, type RenderInput } from '../../lib/render/catalog';
import { MEMBERLIST_PORT } from '../../lib/render/cluster';
import { LOKI_RULES_DIRECTORY, renderLokiConfig } from '../../lib/render/loki';
import { BACKEND_STOP_TIMEOUT_S } from './backends';
import { localLokiConfig, type Override } from './local-config';
import { eventually, runCheck, Server, sleep } from './process';
import { Checks, oneLine, progress } from './report';

/** The replicas of the smoke cluster: replication factor 3 needs at least three. */
export const CLUSTER_REPLICAS = 3;

/** Availability zones the smoke cluster pretends to span: three, so the rings are zone-aware. */
const LOCAL_ZONES = ['local-a', 'local-b', 'local-c'];

/** Pause between two pushes of the writer. */
const WRITE_EVERY_MS = 50;

const TENANT_HEADER = 'X-Scope-OrgID';

export interface ClusterRun {
  readonly binary: string;
  /** A config with `services.loki.replicas` of 3 or more. */
  readonly input: RenderInput;
  readonly workDir: string;
  readonly memcached?: string;
  readonly printOverrides: (program: string, variant: string, overrides: readonly Override[]) => void;
}

/** One replica: a Loki process on its own loopback address, in one of the local zones. */
interface Replica {
  readonly address: string;
  readonly zone: string;
  readonly server: Server;
}

/** The zone with the fewest of `replicas` (the first such, in zone order): where ECS's spread places a new task. */
function emptiestZone(replicas: readonly Replica[]): string {
  const count = (zone: string) => replicas.filter((r) => r.zone === zone).length;
  return LOCAL_ZONES.reduce((best, zone) => (count(zone) < count(best) ? zone : best));
}

/** What the writer did in one scenario. */
export interface WriteTally {
  /** Lines the writer tried to push (each once, whatever the retries). */
  written: number;
  /** Lines a replica answered 2xx for. */
  acknowledged: number;
  /** Pushes answered with an HTTP error (a refused write), and those that could not connect (retried). */
  refused: number;
  retried: number;
  /** Sequence numbers of the acknowledged lines. */
  readonly acked: Set<number>;
}

/**
 * Pushes numbered lines, round robin over the addresses the load balancer would send to, until
 * stopped. A line is retried on the next address until acknowledged (it stays unacknowledged if the
 * writer is stopped first: it is then not counted as written).
 */
class Writer {
  readonly tally: WriteTally = { written: 0, acknowledged: 0, refused: 0, retried: 0, acked: new Set() };
  private next = 0;
  private turn = 0;
  private running = true;
  private readonly done: Promise<void>;
  private readonly errors: string[] = [];

  constructor(
    private readonly targets: () => readonly string[],
    private readonly tenant: string,
    private readonly runId: string,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const sequence = this.next++;
      const timeNs = BigInt(Date.now()) * 1_000_000n;
      let acknowledged = false;
      for (let attempt = 0; !acknowledged && this.running && attempt < 50; attempt++) {
        const list = this.targets();
        const address = list[this.turn++ % list.length];
        acknowledged = await this.push(address, sequence, timeNs, attempt > 0);
        if (!acknowledged) await sleep(100);
      }
      if (acknowledged || this.running) this.tally.written++;
      if (acknowledged) {
        this.tally.acknowledged++;
        this.tally.acked.add(sequence);
      }
      await sleep(WRITE_EVERY_MS);
    }
  }

  private async push(address: string, sequence: number, timeNs: bigint, retry: boolean): Promise<boolean> {
    try {
      const response = await fetch(`http://${address}:${BACKENDS.loki.httpPort}/loki/api/v1/push`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', [TENANT_HEADER]: this.tenant },
        body: JSON.stringify({
          streams: [{ stream: { job: 'lgtm-smoke-cluster', run: this.runId }, values: [[String(timeNs), `line ${sequence}`]] }],
        }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = await response.text();
      if (response.ok) return true;
      this.tally.refused++;
      this.note(`${address}: HTTP ${response.status} ${oneLine(body, 160)}`);
      if (this.tally.refused === 1) this.note(`ring seen by ${address} then: ${await ringSnapshot(address)}`);
      return false;
    } catch (error) {
      this.tally.retried++;
      if (!retry)
        this.note(`${address}: ${error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)}`);
      return false;
    }
  }

  private note(error: string): void {
    if (this.errors.length < 6) this.errors.push(error);
  }

  /** Stops after the line in flight; returns the tally and the first errors seen. */
  async stop(): Promise<{ tally: WriteTally; errors: readonly string[] }> {
    this.running = false;
    await this.done;
    return { tally: this.tally, errors: this.errors };
  }
}

/** The ingester ring as a replica sees it (dskit's ring page in JSON): each member's state, zone and heartbeat age. */
async function ringSnapshot(address: string): Promise<string> {
  try {
    const response = await fetch(`http://${address}:${BACKENDS.loki.httpPort}/ring`, {
      headers: { Accept: 'application/json' },
      signal: AbortSignal.timeout(5_000),
    });
    const ring = (await response.json()) as { shards: Array<{ id: string; state: string; zone: string; timestamp: string }>; now: string };
    return ring.shards
      .map((m) => `${m.id} ${m.state} ${m.zone} ${((Date.parse(ring.now) - Date.parse(m.timestamp)) / 1000).toFixed(0)}s`)
      .join(', ');
  } catch (error) {
    return `unavailable (${error instanceof Error ? error.message : String(error)})`;
  }
}

/** The IDs in the ingester ring as a replica sees it. */
async function ringMembers(address: string): Promise<string[]> {
  const response = await fetch(`http://${address}:${BACKENDS.loki.httpPort}/ring`, {
    headers: { Accept: 'application/json' },
    signal: AbortSignal.timeout(5_000),
  });
  return ((await response.json()) as { shards: Array<{ id: string }> }).shards.map((m) => m.id).sort();
}

/**
 * Seconds until every live replica's ring holds exactly the live replicas: a killed replica counts
 * as healthy until its heartbeat is older than the ring's heartbeat timeout (1 min), and is then
 * forgotten. Until then the cluster has one copy fewer than it looks, and a planned stop on top of
 * it takes two of three copies of some streams away (a double fault).
 */
async function secondsUntilRingIs(live: readonly string[], timeoutMs: number): Promise<number | undefined> {
  const start = Date.now();
  const expected = [...live].sort().join(',');
  const settled = await eventually(
    async () => {
      const views = await Promise.all(live.map((address) => ringMembers(address)));
      return views.every((view) => view.join(',') === expected) ? true : undefined;
    },
    timeoutMs,
    2_000,
  );
  return settled ? (Date.now() - start) / 1000 : undefined;
}

/** Sequence numbers of this run's lines that `tenant` reads back through `address`. */
async function readBack(address: string, tenant: string, runId: string, sinceNs: bigint): Promise<Set<number>> {
  const found = new Set<number>();
  let end = BigInt(Date.now() + 60_000) * 1_000_000n;
  for (;;) {
    const params = new URLSearchParams({
      query: `{job="lgtm-smoke-cluster", run="${runId}"}`,
      start: String(sinceNs),
      end: String(end),
      limit: '5000',
      direction: 'backward',
    });
    const response = await fetch(`http://${address}:${BACKENDS.loki.httpPort}/loki/api/v1/query_range?${params}`, {
      headers: { [TENANT_HEADER]: tenant },
    });
    if (!response.ok) throw new Error(`query answered ${response.status}: ${oneLine(await response.text(), 200)}`);
    const body = (await response.json()) as { data: { result: Array<{ values: string[][] }> } };
    const values = body.data.result.flatMap((stream) => stream.values);
    for (const [, line] of values) found.add(Number(line.replace(/^line /, '')));
    if (values.length < 5000) return found;
    // Next page: everything older than the oldest line of this one.
    // biome-ignore lint/complexity/useMathMinMax: BigInt values, which Math.min does not take
    end = values.map(([time]) => BigInt(time)).reduce((oldest, time) => (time < oldest ? time : oldest));
  }
}

/** The three-replica Loki cluster with its crash and rolling-deployment scenarios. */
export async function smokeLokiCluster(run: ClusterRun): Promise<Checks> {
  const config = run.input.config;
  const checks = new Checks('loki', `${config.services.loki.replicas} replicas`);
  const tenant = config.tenants.ec2Default ?? config.tenants.allowed[0];
  const rendered = renderLokiConfig(run.input);
  const bucket = join(run.workDir, 'bucket');
  mkdirSync(bucket, { recursive: true });
  let started = 0;
  const members = (count: number) => Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}:${MEMBERLIST_PORT}`);

  /** A new replica on the next loopback address, with an empty data directory (a new Fargate task). */
  const startReplica = (zone: string): Replica => {
    const n = ++started;
    const address = `127.0.0.${n}`;
    const data = join(run.workDir, `replica-${n}`);
    mkdirSync(join(data, LOKI_RULES_DIRECTORY), { recursive: true });
    const local = localLokiConfig(
      rendered,
      BACKENDS.loki.dataDir,
      { data, bucket },
      {
        memcached: run.memcached,
        address,
        // Seeds: the first replicas' addresses stand in for the Cloud Map name (one A record per task).
        replica: { zone, members: members(Math.max(n, CLUSTER_REPLICAS)) },
      },
    );
    if (n === 1) run.printOverrides('loki', checks.variant, local.overrides);
    const file = join(run.workDir, `loki-${n}.yaml`);
    writeFileSync(file, local.text);
    if (n === 1) {
      const verify = runCheck(run.binary, ['-verify-config', `-config.file=${file}`]);
      if (!verify.ok) throw new Error(`config refused: ${oneLine(verify.output)}`);
    }
    return { address, zone, server: new Server(`loki-${n}`, run.binary, [`-config.file=${file}`], join(run.workDir, `loki-${n}.log`)) };
  };
  const ready = (replica: Replica) => replica.server.waitReady(`http://${replica.address}:${BACKENDS.loki.httpPort}/ready`, 240_000);

  const replicas: Replica[] = [];
  const inRotation = () => replicas.map((r) => r.address);
  try {
    for (let i = 0; i < CLUSTER_REPLICAS; i++) replicas.push(startReplica(emptiestZone(replicas)));
    const readyIn = await Promise.all(replicas.map(ready));
    checks.add(
      `${CLUSTER_REPLICAS} replicas form one ring and become ready`,
      true,
      `/ready after ${readyIn.map((s) => s.toFixed(0)).join(', ')} s`,
    );

    await scenario(
      checks,
      'one replica killed (SIGKILL) and replaced on a new address with an empty disk',
      tenant,
      inRotation,
      async () => {
        const victim = replicas.splice(1, 1)[0];
        await victim.server.kill();
        // The load balancer keeps sending to the dead task until its health check fails: the writer
        // meets connection errors there and retries elsewhere (the killed address stays in rotation a while).
        replicas.push(victim);
        await sleep(10_000);
        replicas.splice(replicas.indexOf(victim), 1);
        const replacement = startReplica(emptiestZone(replicas));
        await ready(replacement);
        replicas.push(replacement);
      },
    );

    const recovered = await secondsUntilRingIs(inRotation(), 180_000);
    checks.add(
      'after the kill, the dead replica leaves every ring (heartbeat timeout, then forgotten)',
      recovered !== undefined,
      recovered !== undefined ? `${recovered.toFixed(0)} s after the replacement was ready` : 'still in a ring after 180 s',
    );

    await scenario(
      checks,
      'rolling restart of every replica, one at a time (new task ready, then the old one stops)',
      tenant,
      inRotation,
      async () => {
        for (const old of [...replicas]) {
          const replacement = startReplica(old.zone);
          await ready(replacement);
          replicas.push(replacement);
          // ECS deregisters the old task from the load balancer before it sends SIGTERM.
          replicas.splice(replicas.indexOf(old), 1);
          await sleep(2_000);
          const stopped = await old.server.stop(BACKEND_STOP_TIMEOUT_S);
          if (!stopped.clean)
            throw new Error(`${old.address} did not exit cleanly on SIGTERM (code ${stopped.code}, ${stopped.seconds.toFixed(1)} s)`);
        }
      },
    );
  } catch (error) {
    checks.add('harness', false, oneLine(error instanceof Error ? error.message : String(error)));
  } finally {
    await Promise.all(replicas.map((r) => r.server.kill()));
  }
  return checks;
}

/** Runs `disrupt` while the writer writes, then reads every acknowledged line back. */
async function scenario(
  checks: Checks,
  name: string,
  tenant: string,
  targets: () => readonly string[],
  disrupt: () => Promise<void>,
): Promise<void> {
  const runId = `${Date.now()}`;
  const since = BigInt(Date.now() - 60_000) * 1_000_000n;
  progress(`loki cluster: ${name}`);
  const writer = new Writer(targets, tenant, runId);
  await sleep(3_000);
  let disruption: string | undefined;
  try {
    await disrupt();
  } catch (error) {
    disruption = oneLine(error instanceof Error ? error.message : String(error));
  }
  await sleep(3_000);
  const { tally, errors } = await writer.stop();
  const found = await eventually(
    async () => {
      const seen = await readBack(targets()[0], tenant, runId, since);
      return [...tally.acked].every((n) => seen.has(n)) ? seen : undefined;
    },
    60_000,
    2_000,
  );
  const seen = found ?? (await readBack(targets()[0], tenant, runId, since));
  const lost = [...tally.acked].filter((n) => !seen.has(n));
  const detail =
    `written ${tally.written}, acknowledged ${tally.acknowledged}, refused ${tally.refused}, ` +
    `retried after a connection error ${tally.retried}, read back ${[...tally.acked].filter((n) => seen.has(n)).length}, lost ${lost.length}` +
    (lost.length ? ` (e.g. ${lost.slice(0, 5).join(', ')})` : '') +
    (errors.length ? `; first errors: ${errors.join(' | ')}` : '') +
    (disruption ? `; disruption failed: ${disruption}` : '');
  checks.add(name, disruption === undefined && lost.length === 0 && tally.refused === 0 && tally.acknowledged > 0, detail);
}
