/**
 * memcached with the arguments the task runs it with (`memcachedCommand`), plus a loopback
 * listener: starts, stores and returns an item of the largest size the backends' caches write,
 * and exits on SIGTERM within the task's stop timeout. It then stays up (restarted) for the
 * backends' cache clients during the rest of the run.
 */
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { LgtmConfig } from '../../lib/config/schema';
import { MEMCACHED_MAX_ITEM_SIZE, memcachedCommand } from '../../lib/render/memcached';
import type { Override } from './local-config';
import { eventually, Server } from './process';
import { Checks, oneLine } from './report';

/** ECS stop timeout of memcached (BackendService's default). */
export const MEMCACHED_STOP_TIMEOUT_S = 30;

/** Port of the local run (the task's own, 11211, may be taken on a developer's machine). */
export const LOCAL_MEMCACHED_PORT = 21211;

/** Sends one text-protocol request and returns the reply once it ends with `terminator`. */
export function memcachedRequest(port: number, request: Buffer | string, terminator: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete reply within ${timeoutMs} ms (got "${oneLine(reply, 80)}")`));
    }, timeoutMs);
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.endsWith(terminator) || /^(ERROR|CLIENT_ERROR|SERVER_ERROR)/.test(reply)) {
        clearTimeout(timer);
        socket.end();
        resolve(reply);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.connect(port, '127.0.0.1', () => socket.write(request));
  });
}

/** Bytes of `-I` (`5m` → 5 MiB). */
export function itemSizeBytes(size: string): number {
  const match = /^(\d+)([km]?)$/i.exec(size);
  if (!match) throw new Error(`memcached item size "${size}" is not a number with k or m`);
  const unit = match[2].toLowerCase();
  return Number(match[1]) * (unit === 'm' ? 1024 * 1024 : unit === 'k' ? 1024 : 1);
}

export function localMemcachedArgs(config: LgtmConfig, root = process.getuid?.() === 0): { args: string[]; overrides: Override[] } {
  // The image runs as its own user; memcached refuses to run as root without -u.
  const user = root ? ['-u', 'nobody'] : [];
  return {
    args: [...memcachedCommand(config), '-l', '127.0.0.1', '-p', String(LOCAL_MEMCACHED_PORT), '-U', '0', ...user],
    overrides: [
      { path: '-l (listen address)', from: undefined, to: '127.0.0.1' },
      { path: '-p (port)', from: 11211, to: LOCAL_MEMCACHED_PORT },
      { path: '-U (UDP port)', from: undefined, to: 0 },
      ...(root ? [{ path: '-u (user, when run as root)', from: undefined, to: 'nobody' }] : []),
    ],
  };
}

export function startMemcached(binary: string, config: LgtmConfig, workDir: string, index: number): Server {
  return new Server('memcached', binary, localMemcachedArgs(config).args, join(workDir, `memcached-${index}.log`));
}

async function waitListening(server: Server): Promise<void> {
  const up = await eventually(
    async () => {
      if (!server.running) throw new Error('exited');
      return (await memcachedRequest(LOCAL_MEMCACHED_PORT, 'version\r\n', '\r\n')).startsWith('VERSION') ? true : undefined;
    },
    10_000,
    200,
  );
  if (!up) throw new Error('memcached did not answer "version" within 10 s');
}

/** The checks; returns the checks and a running memcached for the backends (or undefined if it failed). */
export async function smokeMemcached(binary: string, config: LgtmConfig, workDir: string): Promise<{ checks: Checks; server?: Server }> {
  const checks = new Checks('memcached', '—');
  let server = startMemcached(binary, config, workDir, 1);
  try {
    if (
      !(await checks.run('starts with the rendered arguments', async () => {
        await waitListening(server);
        return { passed: true, detail: localMemcachedArgs(config).args.join(' ') };
      }))
    ) {
      await server.kill();
      return { checks };
    }
    const size = itemSizeBytes(MEMCACHED_MAX_ITEM_SIZE) - 64 * 1024;
    const value = Buffer.alloc(size, 'x');
    await checks.run(`stores and returns a ${(size / 1024 / 1024).toFixed(2)} MiB item (-I ${MEMCACHED_MAX_ITEM_SIZE})`, async () => {
      const stored = await memcachedRequest(
        LOCAL_MEMCACHED_PORT,
        Buffer.concat([Buffer.from(`set lgtm-smoke 0 60 ${size}\r\n`), value, Buffer.from('\r\n')]),
        '\r\n',
      );
      if (stored !== 'STORED\r\n') return { passed: false, detail: `set answered ${oneLine(stored, 120)}` };
      const got = await memcachedRequest(LOCAL_MEMCACHED_PORT, 'get lgtm-smoke\r\n', 'END\r\n');
      return { passed: got.includes(value.toString('latin1')), detail: `${got.length} bytes back` };
    });
    const stopped = await server.stop(MEMCACHED_STOP_TIMEOUT_S);
    checks.add(
      `SIGTERM: exits within the ${MEMCACHED_STOP_TIMEOUT_S} s stop timeout`,
      stopped.clean,
      stopped.killed ? 'killed at the stop timeout' : `exit ${stopped.code} after ${stopped.seconds.toFixed(1)} s`,
    );
    server = startMemcached(binary, config, workDir, 2);
    await waitListening(server);
    return { checks, server };
  } catch (error) {
    checks.add('harness', false, oneLine(error instanceof Error ? error.message : String(error)));
    await server.kill();
    return { checks };
  }
}
