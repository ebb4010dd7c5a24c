import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CredentialKey, NO_PREVIOUS_CREDENTIAL } from '../../lambdas/shared/contract';
import {
  credentialEscapes,
  credentialPlaceholder,
  GATEWAY_PORT,
  GATEWAY_ROUTES,
  GATEWAY_SERVICE_NAME,
  type GatewayBinding,
  renderGatewayConfig,
} from '../../lib/render/gateway';

/**
 * The rendered gateway config run by the real nginx (Debian's package in CI) in front of a
 * stand-in backend that records the tenant header of every write it receives. The load balancer
 * is played by the test client, which appends the sender's address to `X-Forwarded-For` as the
 * load balancer does.
 */
/** nginx from PATH, or where Debian installs it (/usr/sbin is not on a user's PATH). */
const NGINX = [process.env.NGINX_BIN, 'nginx', '/usr/sbin/nginx'].find(
  (candidate) => candidate !== undefined && spawnSync(candidate, ['-v']).status === 0,
);
const haveNginx = NGINX !== undefined;

test('nginx runs these checks in CI', () => {
  if (process.env.CI || process.env.LGTM_REQUIRE_NGINX) expect(haveNginx).toBe(true);
});

const describeNginx = haveNginx ? describe : describe.skip;

const TENANTS = ['team-a', 'team-b', 'team-c'];

interface Received {
  readonly path: string;
  readonly tenant: string | undefined;
  readonly authorization: string | undefined;
}

async function listen(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ server: Server; address: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function freePort(): Promise<number> {
  const { server, address } = await listen(() => {});
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return Number(address.split(':')[1]);
}

/** A running gateway: the rendered config (credentials written in) served by nginx in front of a recording backend. */
interface RunningGateway {
  /** Each tenant's write credential; `rotate` replaces one. */
  readonly credentials: Map<string, string>;
  /** Each tenant's agent credential (what its enrolled instances receive with the install command). */
  readonly agentCredentials: Map<string, string>;
  /** The credential each tenant's write credential replaced (`previous` of its secret): "none" at first. */
  readonly previousCredentials: Map<string, string>;
  port(): number;
  configFile(): string;
  accessLog(): string;
  /** The access log line of the last write, once nginx has written it (after the response). */
  lastLogEntry(): Promise<Record<string, unknown>>;
  /** Writes the config again (after a credential changed) and has nginx reload it. */
  reload(): void;
  /** One write as the load balancer forwards it: the sender's address appended to `X-Forwarded-For`. */
  write(path: string, sender: string, headers?: Record<string, string>): Promise<{ status: number; landed: Received[] }>;
}

/** Starts nginx with the config rendered for `mode` before the block's tests, and stops it after them. */
function runGateway(mode: GatewayBinding['mode']): RunningGateway {
  const received: Received[] = [];
  const servers: Server[] = [];
  let nginx: ChildProcess;
  let port = 0;
  let configFile = '';
  let accessLog = '';
  let rendered = '';
  /** Lines in the access log before the last write: its own line is the next one. */
  let logLinesBefore = 0;
  const credentials = new Map<string, string>(TENANTS.map((tenant) => [tenant, randomBytes(32).toString('hex')]));
  const agentCredentials = new Map<string, string>(TENANTS.map((tenant) => [tenant, randomBytes(32).toString('hex')]));
  const previousCredentials = new Map<string, string>(TENANTS.map((tenant) => [tenant, NO_PREVIOUS_CREDENTIAL]));

  /** The rendered config with the credentials written in, escaped as the init container does, and a local listener. */
  const writeConfig = () => {
    let text = rendered.replace(`listen ${GATEWAY_PORT};`, `listen 127.0.0.1:${port};`);
    const written = (value: string, key: CredentialKey) => {
      const escapes = credentialEscapes(key);
      return [...value].map((c) => escapes[c] ?? c).join('');
    };
    TENANTS.forEach((tenant, index) => {
      const values: Array<[string, string]> = [
        [credentialPlaceholder(index), written(credentials.get(tenant) as string, 'current')],
        [credentialPlaceholder(index, 'write', 'previous'), written(previousCredentials.get(tenant) as string, 'previous')],
        [credentialPlaceholder(index, 'agent'), written(agentCredentials.get(tenant) as string, 'current')],
        [credentialPlaceholder(index, 'agent', 'previous'), written(NO_PREVIOUS_CREDENTIAL, 'previous')],
      ];
      for (const [placeholder, value] of values) text = text.replaceAll(placeholder, () => value);
    });
    writeFileSync(configFile, text);
  };

  beforeAll(async () => {
    const backend = await listen((request, response) => {
      received.push({
        path: request.url ?? '',
        tenant: request.headers['x-scope-orgid'] as string | undefined,
        authorization: request.headers.authorization,
      });
      request.resume();
      request.on('end', () => response.writeHead(204).end());
    });
    servers.push(backend.server);
    const dir = mkdtempSync(join(tmpdir(), 'gateway-'));
    // nginx's workers run as an unprivileged user when the test runs as root: they must reach the temp directories.
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'tmp'));
    accessLog = join(dir, 'access.log');
    writeFileSync(accessLog, '');
    rendered = renderGatewayConfig(
      { tenants: TENANTS, mode },
      {
        backends: { mimir: backend.address, loki: backend.address, tempo: backend.address },
        resolver: '127.0.0.1',
        loadBalancerCidrs: ['127.0.0.1/32'],
      },
      { tempDir: join(dir, 'tmp'), accessLog },
    );
    configFile = join(dir, 'nginx.conf');
    port = await freePort();
    writeConfig();
    const check = spawnSync(NGINX as string, ['-t', '-c', configFile, '-e', 'stderr'], {
      encoding: 'utf8',
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    expect(check.stderr).toContain('test is successful');
    nginx = spawn(NGINX as string, ['-c', configFile, '-e', 'stderr', '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    nginx.stderr?.on('data', (chunk: Buffer) => {
      errors = `${errors}${chunk}`.slice(-4000);
    });
    for (let i = 0; i < 300; i++) {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`nginx did not answer its health check within 30 s: ${errors}`);
  });

  afterAll(async () => {
    nginx?.kill('SIGQUIT');
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  });

  return {
    credentials,
    agentCredentials,
    previousCredentials,
    port: () => port,
    configFile: () => configFile,
    accessLog: () => accessLog,
    async lastLogEntry() {
      for (let i = 0; i < 50; i++) {
        const lines = readFileSync(accessLog, 'utf8').split('\n').filter(Boolean);
        if (lines.length > logLinesBefore) return JSON.parse(lines[logLinesBefore]);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error('nginx logged no line for the last write within 1 s');
    },
    reload: () => {
      writeConfig();
      nginx.kill('SIGHUP');
    },
    async write(path, sender, headers = {}) {
      const before = received.length;
      logLinesBefore = readFileSync(accessLog, 'utf8').split('\n').filter(Boolean).length;
      const forwarded = headers['X-Forwarded-For'] ? `${headers['X-Forwarded-For']}, ${sender}` : sender;
      const send = () =>
        fetch(`http://127.0.0.1:${port}${path}`, {
          method: 'POST',
          headers: { ...headers, 'X-Forwarded-For': forwarded, 'Content-Type': 'application/x-protobuf' },
          body: 'payload',
        });
      // After a reload, an idle connection to a worker that has left fails when reused: send once
      // more on a new one (a write that did reach the backend twice would show in `landed`).
      const response = await send().catch(send);
      await response.arrayBuffer();
      return { status: response.status, landed: received.slice(before) };
    },
  };
}

describeNginx('the ingest gateway with the real nginx (enforce)', () => {
  const gateway = runGateway('enforce');
  const { credentials, agentCredentials, previousCredentials, write } = gateway;

  const bearer = (tenant: string) => ({ Authorization: `Bearer ${credentials.get(tenant)}` });

  test.each(GATEWAY_ROUTES.flatMap(({ paths }) => paths))("%s: a write lands in its credential's tenant", async (path) => {
    const { status, landed } = await write(path, '10.40.1.5', { ...bearer('team-a'), 'X-Scope-OrgID': 'team-a' });
    expect([status, landed.map((r) => [r.path, r.tenant])]).toEqual([204, [[path, 'team-a']]]);
  });

  test('a forged header is overwritten with the bound tenant, and the access log shows both', async () => {
    const { status, landed } = await write('/loki/api/v1/push', '10.40.1.5', { ...bearer('team-a'), 'X-Scope-OrgID': 'team-b' });
    expect([status, landed.map((r) => r.tenant)]).toEqual([204, ['team-a']]);
    expect(await gateway.lastLogEntry()).toMatchObject({
      service: GATEWAY_SERVICE_NAME,
      client: '10.40.1.5',
      path: '/loki/api/v1/push',
      status: 204,
      bound_tenant: 'team-a',
      requested_tenant: 'team-b',
      binding: 'credential',
    });
  });

  test("a tenant's agent credential binds to the tenant too, and only to it", async () => {
    for (const tenant of TENANTS) {
      const { status, landed } = await write('/v1/traces', '10.40.1.5', {
        Authorization: `Bearer ${agentCredentials.get(tenant)}`,
        'X-Scope-OrgID': 'team-a',
      });
      expect([tenant, status, landed.map((r) => r.tenant)]).toEqual([tenant, 204, [tenant]]);
    }
  });

  test('the credential is not passed on to the backend', async () => {
    const { landed } = await write('/api/v1/push', '10.40.1.5', bearer('team-c'));
    expect(landed.map((r) => [r.tenant, r.authorization])).toEqual([['team-c', undefined]]);
  });

  test('no credential: 401, nothing forwarded, whatever the header claims', async () => {
    expect(await write('/api/v1/push', '10.40.9.9', { 'X-Scope-OrgID': 'team-a' })).toEqual({ status: 401, landed: [] });
  });

  test('an unknown credential, or a known one in another form: 401', async () => {
    expect(await write('/api/v1/push', '10.40.1.5', { Authorization: 'Bearer not-a-credential' })).toEqual({ status: 401, landed: [] });
    const credential = credentials.get('team-a') as string;
    for (const form of [credential, `Bearer  ${credential}`, `Basic ${credential}`, `Bearer ${credential}x`]) {
      expect([form.slice(0, 8), await write('/api/v1/push', '10.40.1.5', { Authorization: form })]).toEqual([
        form.slice(0, 8),
        { status: 401, landed: [] },
      ]);
    }
  });

  test("spoof attempts: none lands outside the tenant of the sender's credential", async () => {
    const senders: Array<{ credential?: string; tenant?: string }> = [
      ...TENANTS.map((tenant) => ({ credential: credentials.get(tenant), tenant })),
      { credential: 'stolen-looking-but-unknown' },
      {},
    ];
    let tried = 0;
    for (const sender of senders) {
      for (const claimed of [...TENANTS, 'team-a|team-b', '']) {
        for (const forwarded of ['', '10.40.1.5']) {
          const headers: Record<string, string> = {};
          if (sender.credential) headers.Authorization = `Bearer ${sender.credential}`;
          if (claimed) headers['X-Scope-OrgID'] = claimed;
          if (forwarded) headers['X-Forwarded-For'] = forwarded;
          const { status, landed } = await write('/loki/api/v1/push', '10.40.9.9', headers);
          tried++;
          expect([sender.tenant, claimed, status, landed.map((r) => r.tenant)]).toEqual([
            sender.tenant,
            claimed,
            sender.tenant ? 204 : 401,
            sender.tenant ? [sender.tenant] : [],
          ]);
        }
      }
    }
    expect(tried).toBe(senders.length * (TENANTS.length + 2) * 2);
  });

  test('health check and unknown paths need no credential', async () => {
    expect((await fetch(`http://127.0.0.1:${gateway.port()}/healthz`)).status).toBe(200);
    expect(await write('/prometheus/api/v1/query', '10.40.1.5', bearer('team-a'))).toEqual({ status: 404, landed: [] });
  });

  /** Reloads nginx and waits until the old workers are gone: until `credential` gets `status`. */
  async function reloadUntil(credential: string, status: number): Promise<void> {
    gateway.reload();
    let seen = 0;
    for (let i = 0; i < 50 && seen !== status; i++) {
      // A worker leaving closes its idle connections: a write on one fails, and is tried again.
      seen = (await write('/api/v1/push', '10.40.9.9', { Authorization: `Bearer ${credential}` }).catch(() => ({ status: 0 }))).status;
      if (seen !== status) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect([credential.slice(0, 6), seen]).toEqual([credential.slice(0, 6), status]);
  }

  test('a rotation: old and new both land while senders move, then the old one is refused', async () => {
    const old = credentials.get('team-b') as string;
    const fresh = randomBytes(32).toString('hex');
    credentials.set('team-b', fresh);
    previousCredentials.set('team-b', old);
    await reloadUntil(fresh, 204);
    for (const credential of [old, fresh]) {
      const { status, landed } = await write('/api/v1/push', '10.40.9.9', {
        Authorization: `Bearer ${credential}`,
        'X-Scope-OrgID': 'team-a',
      });
      expect([status, landed.map((r) => r.tenant)]).toEqual([204, ['team-b']]);
    }
    // The scheme in any case, as for the current credential; the credential itself exactly.
    expect((await write('/api/v1/push', '10.40.9.9', { Authorization: `bearer ${old}` })).status).toBe(204);
    expect((await write('/api/v1/push', '10.40.9.9', { Authorization: `Bearer ${old}x` })).status).toBe(401);
    expect((await write('/api/v1/push', '10.40.9.9', { Authorization: `Bearer ${old.slice(1)}` })).status).toBe(401);

    previousCredentials.set('team-b', NO_PREVIOUS_CREDENTIAL);
    await reloadUntil(old, 401);
    expect(readFileSync(gateway.configFile(), 'utf8')).not.toContain(old);
    const after = await write('/api/v1/push', '10.40.9.9', { Authorization: `Bearer ${fresh}` });
    expect([after.status, after.landed.map((r) => r.tenant)]).toEqual([204, ['team-b']]);
  });

  test.each(['.*', '[a-z0-9]+', '[a-z0-9]{64}', '.{64}', '(?:x|', '"; return 200; "', '\\d+', ''])(
    'a previous value put by hand, %p, matches no sender (and nginx accepts the config)',
    async (previous) => {
      const someone = randomBytes(32).toString('hex');
      previousCredentials.set('team-c', previous);
      await reloadUntil(someone, 401);
      for (const authorization of [`Bearer ${someone}`, `Bearer ${previous}`, `Bearer ${'a'.repeat(64)}`]) {
        expect([authorization, (await write('/api/v1/push', '10.40.9.9', { Authorization: authorization })).landed]).toEqual([
          authorization,
          [],
        ]);
      }
      previousCredentials.set('team-c', NO_PREVIOUS_CREDENTIAL);
    },
  );
});

describeNginx('the ingest gateway with the real nginx (migrate: senders still moving to credentials)', () => {
  const gateway = runGateway('migrate');
  const { credentials, write } = gateway;

  test('a write with a credential is bound exactly as in enforce mode', async () => {
    const { status, landed } = await write('/api/v1/push', '10.40.1.5', {
      Authorization: `Bearer ${credentials.get('team-a')}`,
      'X-Scope-OrgID': 'team-b',
    });
    expect([status, landed.map((r) => [r.tenant, r.authorization])]).toEqual([204, [['team-a', undefined]]]);
    expect(await gateway.lastLogEntry()).toMatchObject({ bound_tenant: 'team-a', requested_tenant: 'team-b', binding: 'credential' });
  });

  test("a write without a credential lands in its header's tenant, logged as bound by the header", async () => {
    for (const tenant of TENANTS) {
      const { status, landed } = await write('/loki/api/v1/push', '10.40.9.9', { 'X-Scope-OrgID': tenant });
      expect([tenant, status, landed.map((r) => r.tenant)]).toEqual([tenant, 204, [tenant]]);
      expect(await gateway.lastLogEntry()).toMatchObject({ client: '10.40.9.9', status: 204, bound_tenant: tenant, binding: 'header' });
    }
  });

  test("without a credential, a tenant that is not the stack's (IDs compare with case), several tenants or none: 401", async () => {
    for (const claimed of ['lgtm-meta', 'team-a|team-b', 'TEAM-A', 'team-ab', 'xteam-a', '']) {
      const headers: Record<string, string> = claimed ? { 'X-Scope-OrgID': claimed } : {};
      expect([claimed, await write('/api/v1/push', '10.40.9.9', headers)]).toEqual([claimed, { status: 401, landed: [] }]);
    }
  });

  test('an unknown or malformed credential is still refused, whatever the header', async () => {
    for (const authorization of ['Bearer not-a-credential', `Basic ${credentials.get('team-a')}`, 'Bearer']) {
      expect([
        authorization.slice(0, 8),
        await write('/api/v1/push', '10.40.9.9', { Authorization: authorization, 'X-Scope-OrgID': 'team-a' }),
      ]).toEqual([authorization.slice(0, 8), { status: 401, landed: [] }]);
    }
  });
});
