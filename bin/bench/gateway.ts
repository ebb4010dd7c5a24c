import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NO_PREVIOUS_CREDENTIAL } from '../../lambdas/shared/contract';
import { credentialPlaceholder, GATEWAY_PORT, renderGatewayConfig } from '../../lib/render/gateway';
import { findProgram, Server } from '../smoke/process';
import { errorRow, median, progress, type Row, row } from './table';

/**
 * The ingest gateway's cost per write, measured with the real nginx: the rendered config (three
 * tenants, credentials written in) and, side by side, a plain nginx reverse proxy with the same
 * log line and proxy settings but no binding, each in front of an nginx that answers 204. Each
 * takes the same writes (an 8 KiB body, a credential, keep-alive from the client); what counts is
 * the CPU time nginx's workers spend per write (from /proc), which is what a Fargate task's vCPU
 * share has to cover. Skipped when nginx is not installed.
 */

/** Writes per round, and rounds per config (alternating, so that drift hits both alike). */
export const WRITES = 10_000;
export const ROUNDS = 3;
export const CONCURRENCY = 16;
const BODY = Buffer.alloc(8 * 1024, 'x');
/** 1,000 agents, each writing metrics, logs and traces every 15 s. */
export const TARGET_WRITES_PER_SECOND = 200;
/** A gateway task's share of a vCPU (services.gateway.cpu 256). */
export const TASK_VCPU = 0.25;
const TENANTS = ['team-a', 'team-b', 'team-c'];
const CREDENTIAL = 'a'.repeat(64);
const PORTS = { backend: 18181, gateway: 18182 } as const;

/** CPU seconds the children of `pid` (nginx's workers) have used, from /proc (Linux). */
function workersCpuSeconds(pid: number): number {
  const ticksPerSecond = 100;
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces): state, ppid, …, utime (14), stime (15).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) total += Number(fields[11]) + Number(fields[12]);
  }
  return total / ticksPerSecond;
}

function nginxConfig(dir: string, name: string, http: string): string {
  const file = join(dir, `${name}.conf`);
  writeFileSync(
    file,
    `worker_processes 1;\npid ${dir}/${name}.pid;\nerror_log stderr warn;\nevents { worker_connections 1024; }\nhttp {\n` +
      `  client_body_temp_path ${dir}/${name}-body;\n  proxy_temp_path ${dir}/${name}-proxy;\n${http}\n}\n`,
  );
  return file;
}

/** The rendered gateway config with its credentials written in, one worker, listening on loopback. */
function renderedGateway(dir: string): string {
  let text = renderGatewayConfig(
    { tenants: TENANTS, mode: 'enforce' },
    {
      backends: { mimir: `127.0.0.1:${PORTS.backend}`, loki: `127.0.0.1:${PORTS.backend}`, tempo: `127.0.0.1:${PORTS.backend}` },
      resolver: '127.0.0.1',
      loadBalancerCidrs: ['127.0.0.1/32'],
    },
    { tempDir: join(dir, 'gateway-tmp'), accessLog: join(dir, 'gateway-access.log') },
  )
    .replace(`listen ${GATEWAY_PORT};`, `listen 127.0.0.1:${PORTS.gateway};`)
    .replace('worker_processes auto;', 'worker_processes 1;');
  TENANTS.forEach((_, index) => {
    for (const kind of ['write', 'agent'] as const) {
      text = text.replace(
        credentialPlaceholder(index, kind),
        index === 0 && kind === 'write' ? CREDENTIAL : `${kind}${index}`.padEnd(64, '0'),
      );
      text = text.replace(credentialPlaceholder(index, kind, 'previous'), NO_PREVIOUS_CREDENTIAL);
    }
  });
  mkdirSync(join(dir, 'gateway-tmp'));
  const file = join(dir, 'gateway.conf');
  writeFileSync(file, text);
  return file;
}

/** The same proxying without the binding: the baseline. */
function plainProxy(dir: string): string {
  return nginxConfig(
    dir,
    'plain',
    `  log_format ingest escape=json '{"time":"$time_iso8601","client":"$remote_addr","path":"$uri","status":$status,"bytes":$request_length}';
  access_log ${dir}/plain-access.log ingest;
  client_max_body_size 64m;
  proxy_http_version 1.1;
  server {
    listen 127.0.0.1:${PORTS.gateway};
    location = /api/v1/push {
      set $backend "127.0.0.1:${PORTS.backend}";
      proxy_pass http://$backend;
    }
  }`,
  );
}

/** `WRITES` writes with `CONCURRENCY` in flight; the wall time, or the first failure. */
async function load(): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < WRITES) {
      next++;
      const response = await fetch(`http://127.0.0.1:${PORTS.gateway}/api/v1/push`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${CREDENTIAL}`, 'X-Scope-OrgID': 'team-b', 'Content-Type': 'application/x-protobuf' },
        body: BODY,
      });
      await response.arrayBuffer();
      if (response.status !== 204) throw new Error(`a write answered ${response.status}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return (performance.now() - started) / 1000;
}

/** CPU microseconds per write of nginx's worker running `config`, over one round. */
async function round(nginx: string, config: string, dir: string, name: string): Promise<{ cpuMicros: number; wallSeconds: number }> {
  const server = new Server(name, nginx, ['-c', config, '-e', 'stderr', '-g', 'daemon off;'], join(dir, `${name}.log`));
  try {
    // The plain proxy answers its unknown paths with 404: any answer means it listens.
    await server.waitReady(`http://127.0.0.1:${PORTS.gateway}${name === 'gateway' ? '/healthz' : '/'}`, 30_000, 'any');
    const pid = server.pid;
    const before = workersCpuSeconds(pid);
    const wallSeconds = await load();
    const cpu = workersCpuSeconds(pid) - before;
    return { cpuMicros: (cpu / WRITES) * 1e6, wallSeconds };
  } finally {
    await server.stop(10);
  }
}

export async function benchGateway(): Promise<Row[]> {
  const nginx = findProgram('nginx');
  if (nginx === undefined) return [row('ingest gateway (nginx): CPU per write', 'skipped: nginx is not installed')];
  progress('ingest gateway: the rendered nginx config against a plain proxy');
  // nginx's workers run as an unprivileged user when the bench runs as root: their directory must be reachable.
  const work = mkdtempSync(join(tmpdir(), 'lgtm-bench-nginx-'));
  chmodSync(work, 0o755);
  let backend: Server | undefined;
  try {
    const backendConfig = nginxConfig(
      work,
      'backend',
      `  access_log off;\n  client_max_body_size 64m;\n  server { listen 127.0.0.1:${PORTS.backend}; location / { return 204; } }`,
    );
    backend = new Server('backend', nginx, ['-c', backendConfig, '-e', 'stderr', '-g', 'daemon off;'], join(work, 'backend.log'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const configs = { gateway: renderedGateway(work), plain: plainProxy(work) };
    const results: Record<keyof typeof configs, Array<{ cpuMicros: number; wallSeconds: number }>> = { gateway: [], plain: [] };
    for (let i = 0; i < ROUNDS; i++) {
      for (const name of ['gateway', 'plain'] as const) results[name].push(await round(nginx, configs[name], work, name));
    }
    const cpu = (name: keyof typeof configs) => median(results[name].map((r) => r.cpuMicros));
    const rate = (name: keyof typeof configs) => median(results[name].map((r) => WRITES / r.wallSeconds));
    const perTask = (TASK_VCPU * 1e6) / cpu('gateway');
    const spread = (name: keyof typeof configs) =>
      `${Math.min(...results[name].map((r) => r.cpuMicros)).toFixed(0)}–${Math.max(...results[name].map((r) => r.cpuMicros)).toFixed(0)}`;
    return [
      row(
        'ingest gateway (nginx, rendered config): worker CPU per 8 KiB write',
        `${cpu('gateway').toFixed(0)} µs (${spread('gateway')}; ${ROUNDS} rounds of ${WRITES.toLocaleString('en-US')}), ${rate('gateway').toFixed(0)} writes/s on one worker here`,
      ),
      row(
        'ingest gateway: CPU per write against a plain nginx proxy, side by side',
        `${(cpu('gateway') / cpu('plain')).toFixed(2)}× (plain ${cpu('plain').toFixed(0)} µs, ${spread('plain')})`,
      ),
      row(
        `ingest gateway: writes a ${TASK_VCPU} vCPU task carries (its CPU share over the CPU per write)`,
        `${perTask.toFixed(0)} writes/s`,
        `≥ ${TARGET_WRITES_PER_SECOND} (1,000 agents every 15 s, on one task while the other restarts)`,
        perTask >= TARGET_WRITES_PER_SECOND,
      ),
    ];
  } catch (error) {
    return [errorRow('ingest gateway (nginx): CPU per write', error)];
  } finally {
    await backend?.stop(10);
    rmSync(work, { recursive: true, force: true });
  }
}
