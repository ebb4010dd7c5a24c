/**
 * The ingest gateway's rendered config, run by the real nginx in front of the real Loki: senders
 * with the write credentials of two tenants, one with an unknown credential and one with none push
 * lines claiming every tenant, with and without a forged `X-Forwarded-For` entry; then every
 * tenant's lines are read back from Loki itself, and each line must be in the tenant of its
 * sender's credential.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NO_PREVIOUS_CREDENTIAL } from '../../lambdas/shared/contract';
import type { LgtmConfig } from '../../lib/config/schema';
import { BACKENDS, type RenderInput } from '../../lib/render/catalog';
import { credentialPlaceholder, GATEWAY_PORT, type GatewayBinding, renderGatewayConfig } from '../../lib/render/gateway';
import { LOKI_RULES_DIRECTORY, renderLokiConfig } from '../../lib/render/loki';
import { localLokiConfig } from './local-config';
import { runCheck, Server } from './process';
import { Checks, oneLine, progress } from './report';

/** The loopback port nginx listens on instead of the task's. */
const LOCAL_GATEWAY_PORT = 18080;

export interface GatewayRun {
  readonly nginx: string;
  readonly loki: string;
  readonly config: LgtmConfig;
  readonly workDir: string;
  readonly memcached?: string;
}

/** A sender as the gateway sees it: its address and the credential it presents, if any. */
interface Sender {
  readonly name: string;
  readonly address: string;
  readonly credential?: string;
  /** The tenant its lines must land in; undefined: every write refused. */
  readonly bound?: string;
}

/** Every line of `tenant` whose job is the gateway smoke run's, as `sender id` strings. */
async function linesOf(tenant: string, runId: string): Promise<string[]> {
  const params = new URLSearchParams({
    query: `{job="lgtm-smoke-gateway", run="${runId}"}`,
    start: String(BigInt(Date.now() - 3_600_000) * 1_000_000n),
    end: String(BigInt(Date.now() + 60_000) * 1_000_000n),
    limit: '5000',
  });
  const response = await fetch(`http://127.0.0.1:${BACKENDS.loki.httpPort}/loki/api/v1/query_range?${params}`, {
    headers: { 'X-Scope-OrgID': tenant },
  });
  if (!response.ok) throw new Error(`query as ${tenant} answered ${response.status}: ${oneLine(await response.text(), 200)}`);
  const body = (await response.json()) as { data: { result: Array<{ values: string[][] }> } };
  return body.data.result.flatMap((stream) => stream.values.map(([, line]) => line));
}

/** One write's expected tenant: its credential's; without any credential, in `migrate`, its header's if it is one of the stack's. */
function expectedTenant(sender: Sender, claimed: string, mode: GatewayBinding['mode'], tenants: readonly string[]): string | undefined {
  if (sender.credential !== undefined) return sender.bound;
  return mode === 'migrate' && tenants.includes(claimed) ? claimed : undefined;
}

/** The tenants' credentials written into the rendered config, with a loopback listener; no rotation under way. */
function localGatewayConfig(
  binding: GatewayBinding,
  credentials: { readonly write: readonly string[]; readonly agent: readonly string[] },
  paths: { readonly temp: string; readonly accessLog: string },
): string {
  let text = renderGatewayConfig(
    binding,
    {
      backends: { mimir: '127.0.0.1:9', loki: `127.0.0.1:${BACKENDS.loki.httpPort}`, tempo: '127.0.0.1:9' },
      resolver: '127.0.0.1',
      loadBalancerCidrs: ['127.0.0.1/32'],
    },
    { tempDir: paths.temp, accessLog: paths.accessLog },
  ).replace(`listen ${GATEWAY_PORT};`, `listen 127.0.0.1:${LOCAL_GATEWAY_PORT};`);
  binding.tenants.forEach((_, index) => {
    for (const kind of ['write', 'agent'] as const) {
      text = text.replace(credentialPlaceholder(index, kind), credentials[kind][index]);
      text = text.replace(credentialPlaceholder(index, kind, 'previous'), NO_PREVIOUS_CREDENTIAL);
    }
  });
  return text;
}

/** What one round of spoof attempts gave: counts, and each accepted line's expected tenant by its id. */
interface Round {
  readonly runId: string;
  tried: number;
  accepted: number;
  refused: number;
  readonly unexpected: string[];
  readonly expected: Map<string, string>;
}

/** Every sender pushes a line claiming each tenant, two tenants and none, with and without a forged `X-Forwarded-For`. */
async function spoofRound(senders: readonly Sender[], claims: readonly string[], mode: GatewayBinding['mode'], tenants: readonly string[]) {
  const round: Round = { runId: `${mode}-${Date.now()}`, tried: 0, accepted: 0, refused: 0, unexpected: [], expected: new Map() };
  for (const sender of senders) {
    for (const claimed of claims) {
      for (const forwarded of ['', '10.40.1.5']) {
        const id = `${sender.address}-${round.tried++}`;
        const response = await fetch(`http://127.0.0.1:${LOCAL_GATEWAY_PORT}/loki/api/v1/push`, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'X-Forwarded-For': forwarded ? `${forwarded}, ${sender.address}` : sender.address,
            ...(claimed ? { 'X-Scope-OrgID': claimed } : {}),
            ...(sender.credential ? { Authorization: `Bearer ${sender.credential}` } : {}),
          },
          body: JSON.stringify({
            streams: [
              {
                stream: { job: 'lgtm-smoke-gateway', run: round.runId },
                values: [[`${BigInt(Date.now()) * 1_000_000n}`, `${sender.name} ${id}`]],
              },
            ],
          }),
        });
        await response.arrayBuffer();
        const expected = expectedTenant(sender, claimed, mode, tenants);
        if (response.ok) {
          round.accepted++;
          if (expected !== undefined) round.expected.set(id, expected);
        } else if (response.status === 401) round.refused++;
        if (response.ok !== (expected !== undefined))
          round.unexpected.push(`${sender.name} claiming "${claimed}": HTTP ${response.status}`);
      }
    }
  }
  return round;
}

/** Reads back every tenant's lines of the round from Loki itself: where did each accepted line land? */
async function readBack(
  round: Round,
  tenants: readonly string[],
  claims: readonly string[],
): Promise<{ landed: number; outside: string[] }> {
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  let landed = 0;
  const outside: string[] = [];
  for (const tenant of new Set([...tenants, ...claims.filter((c) => c && !c.includes('|'))])) {
    for (const line of await linesOf(tenant, round.runId)) {
      landed++;
      const id = line.slice(line.lastIndexOf(' ') + 1);
      if (round.expected.get(id) !== tenant) outside.push(`"${line}" in ${tenant}`);
    }
  }
  return { landed, outside };
}

export async function smokeGateway(run: GatewayRun): Promise<Checks> {
  const checks = new Checks('nginx', 'gateway → loki');
  const tenants = run.config.tenants.allowed;
  const [tenantA, tenantB, tenantC] = [tenants[0], tenants[1] ?? tenants[0], tenants[2] ?? tenants[0]];
  const credentials = tenants.map((_, index) => `smoke${index}${Math.random().toString(36).slice(2)}${Date.now()}`);
  const agentCredentials = tenants.map((_, index) => `agent${index}${Math.random().toString(36).slice(2)}${Date.now()}`);
  const senders: Sender[] = [
    { name: `sender of ${tenantA}`, address: '10.40.1.5', credential: credentials[0], bound: tenantA },
    { name: `sender of ${tenantC}`, address: '10.40.2.7', credential: credentials[tenants.indexOf(tenantC)], bound: tenantC },
    { name: `agent of ${tenantB}`, address: '10.40.4.4', credential: agentCredentials[tenants.indexOf(tenantB)], bound: tenantB },
    { name: 'unknown credential', address: '10.40.3.3', credential: `${credentials[0]}x` },
    { name: 'no credential', address: '10.40.9.9' },
  ];
  // Each tenant, two at once, none, and (for migrate) the stack's own tenant, which no sender may name.
  const claims = [...new Set([tenantA, tenantB, tenantC, `${tenantA}|${tenantB}`, ''])];
  let temp: string | undefined;
  let loki: Server | undefined;
  let nginx: Server | undefined;
  try {
    const input: RenderInput = {
      config: run.config,
      deploy: { region: 'us-east-1', bucketName: 'lgtm-smoke', urlSuffix: 'amazonaws.com', availabilityZones: 2 },
    };
    const data = join(run.workDir, 'loki-data');
    mkdirSync(join(data, LOKI_RULES_DIRECTORY), { recursive: true });
    const lokiConfig = join(run.workDir, 'loki.yaml');
    writeFileSync(
      lokiConfig,
      localLokiConfig(
        renderLokiConfig(input),
        BACKENDS.loki.dataDir,
        { data, bucket: join(run.workDir, 'bucket') },
        { memcached: run.memcached },
      ).text,
    );
    loki = new Server('loki', run.loki, [`-config.file=${lokiConfig}`], join(run.workDir, 'loki.log'));

    // nginx's workers run as an unprivileged user when the harness runs as root: their temp
    // directory must be reachable from /, which the run's private work directory is not.
    temp = mkdtempSync(join(tmpdir(), 'lgtm-smoke-nginx-'));
    chmodSync(temp, 0o755);
    await loki.waitReady(`http://127.0.0.1:${BACKENDS.loki.httpPort}/ready`);

    for (const mode of ['enforce', 'migrate'] as const) {
      const prefix = mode === 'enforce' ? '' : 'migrate: ';
      const nginxConfig = join(run.workDir, `nginx-${mode}.conf`);
      const modeClaims = mode === 'migrate' ? [...claims, run.config.collector.metaTenant] : claims;
      writeFileSync(
        nginxConfig,
        localGatewayConfig(
          { tenants, mode },
          { write: credentials, agent: agentCredentials },
          { temp, accessLog: join(run.workDir, `nginx-access-${mode}.log`) },
        ),
      );
      const verify = runCheck(run.nginx, ['-t', '-c', nginxConfig, '-e', 'stderr']);
      if (!checks.add(`${prefix}config accepted`, verify.ok, verify.ok ? 'nginx -t' : oneLine(verify.output))) return checks;
      nginx = new Server(
        'nginx',
        run.nginx,
        ['-c', nginxConfig, '-e', 'stderr', '-g', 'daemon off;'],
        join(run.workDir, `nginx-${mode}.log`),
      );
      await nginx.waitReady(`http://127.0.0.1:${LOCAL_GATEWAY_PORT}/healthz`);

      progress(`nginx gateway (${mode}): spoof attempts in front of Loki`);
      const round = await spoofRound(senders, modeClaims, mode, tenants);
      checks.add(
        mode === 'enforce'
          ? 'writes accepted from senders with a known credential only'
          : 'migrate: writes accepted with a known credential, or without any into the tenant their header names if it is one of the stack’s',
        round.unexpected.length === 0,
        `${round.tried} tried, ${round.accepted} accepted, ${round.refused} refused with 401${round.unexpected.length ? `; unexpected: ${round.unexpected.slice(0, 3).join(' | ')}` : ''}`,
      );
      const { landed, outside } = await readBack(round, tenants, modeClaims);
      checks.add(
        `${prefix}every accepted line is in its sender’s bound tenant (read back from Loki)`,
        outside.length === 0 && landed === round.accepted,
        `${landed} of ${round.accepted} accepted lines read back, ${outside.length} outside their bound tenant${outside.length ? `: ${outside.slice(0, 3).join(' | ')}` : ''}`,
      );
      // SIGTERM: nginx's master stops its workers (a SIGKILL would leave them holding the port).
      await nginx.stop(30);
      nginx = undefined;
    }
  } catch (error) {
    checks.add('harness', false, oneLine(error instanceof Error ? error.message : String(error)));
  } finally {
    await nginx?.stop(30);
    await loki?.kill();
    if (temp) rmSync(temp, { recursive: true, force: true });
  }
  return checks;
}
