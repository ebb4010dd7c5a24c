/** Starting, probing and stopping one upstream program on loopback, with its output in a log file. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where Debian installs system programs (nginx), often not on a user's PATH. */
const SYSTEM_DIRS = ['/usr/sbin', '/sbin'];

/** The binary of `program`: `<PROGRAM>_BIN` if set, else the first on PATH or in /usr/sbin; undefined when neither. */
export function findProgram(program: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const named = env[`${program.toUpperCase()}_BIN`];
  if (named) {
    if (!existsSync(named)) throw new Error(`${program.toUpperCase()}_BIN is "${named}", which does not exist`);
    return named;
  }
  for (const dir of [...(env.PATH ?? '').split(delimiter), ...SYSTEM_DIRS]) {
    if (dir && existsSync(join(dir, program))) return join(dir, program);
  }
  return undefined;
}

/** The first line a program prints for `flag` (its version), or the error. */
export function programVersion(binary: string, args: readonly string[]): string {
  const result = spawnSync(binary, args, { encoding: 'utf8', timeout: 30_000 });
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  return (
    text
      .split('\n')
      .find((line) => /\d+\.\d+/.test(line))
      ?.trim() ??
    (text.split('\n')[0] || 'unknown version')
  );
}

/** Runs a short command (a config check) and returns its exit status and output. */
export function runCheck(binary: string, args: readonly string[], timeoutMs = 60_000): { ok: boolean; output: string } {
  const result = spawnSync(binary, args, { encoding: 'utf8', timeout: timeoutMs });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/** The last lines of a log, for a failure message. */
export function logTail(file: string, lines = 8): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join(' / ');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A running program. */
export class Server {
  private readonly child: ChildProcess;
  private exit?: { code: number | null; signal: NodeJS.Signals | null; at: number };
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    binary: string,
    args: readonly string[],
    readonly logFile: string,
  ) {
    const log = openSync(logFile, 'a');
    this.child = spawn(binary, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        resolve();
      });
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** The process ID (of nginx's master, say, whose workers are its children). */
  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no process ID: it did not start`);
    return this.child.pid;
  }

  /** Polls `url` until it answers 200 (or anything, with `'any'`); throws with the log's tail if the program exits or time runs out. */
  async waitReady(url: string, timeoutMs = 120_000, answer: 200 | 'any' = 200): Promise<number> {
    const start = Date.now();
    while (Date.now() - start < timeoutMs) {
      if (!this.running)
        throw new Error(`${this.name} exited (${this.exit?.code ?? this.exit?.signal}) before ready: ${logTail(this.logFile)}`);
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
        if (response.status === 200 || answer === 'any') return (Date.now() - start) / 1000;
      } catch {
        // not listening yet
      }
      await sleep(500);
    }
    throw new Error(`${this.name} not ready at ${url} after ${timeoutMs / 1000} s: ${logTail(this.logFile)}`);
  }

  /**
   * SIGTERM, then waits up to `stopTimeoutS` (the ECS stop timeout) for the exit; past it, SIGKILL
   * as ECS would. Returns the seconds it took and whether it exited cleanly on its own.
   */
  async stop(stopTimeoutS: number): Promise<{ seconds: number; clean: boolean; killed: boolean; code: number | null }> {
    if (!this.running) return { seconds: 0, clean: false, killed: false, code: this.exit?.code ?? null };
    const start = Date.now();
    this.child.kill('SIGTERM');
    const timer = sleep(stopTimeoutS * 1000).then(() => 'timeout' as const);
    const outcome = await Promise.race([this.exited.then(() => 'exited' as const), timer]);
    if (outcome === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
      return { seconds: stopTimeoutS, clean: false, killed: true, code: null };
    }
    const code = this.exit?.code ?? null;
    return { seconds: ((this.exit?.at ?? Date.now()) - start) / 1000, clean: code === 0, killed: false, code };
  }

  /** Kills without waiting for a flush (clean-up after a failure). */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Polls `probe` until it returns a value, or gives up after `timeoutMs` returning undefined. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 1_000): Promise<T | undefined> {
  const start = Date.now();
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() - start >= timeoutMs) return undefined;
    await sleep(everyMs);
  }
}
