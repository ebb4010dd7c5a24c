import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { errorRow, median, progress, type Row, row, tail } from './table';

/** Timed runs per app, after one untimed warm-up run each (it fills the tsx and disk caches). */
export const SYNTH_RUNS = 5;
export const SYNTH_TARGET_RATIO = 1.5;

export interface SynthBench {
  readonly rows: Row[];
  /** Cloud assembly of the last successful synth of the default app (its template gives the Lambdas' environment). */
  readonly assemblyDir?: string;
}

/**
 * `cdk synth --quiet` of this app, exactly as cdk.json runs it (`tsc -b bin` type-check beside the
 * app run by tsx), next to an empty app generated from the current `cdk init` template with the
 * same project-pinned CLI and node_modules. The app is timed twice per run: as a synth normally
 * runs (sources unchanged since the last type-check, which `tsc -b` then finds up to date) and as
 * the first synth after a source change (its build info deleted, so the type-check runs in full).
 * Runs alternate between the apps; each figure is the median of {@link SYNTH_RUNS}, after one
 * untimed warm-up of each.
 */
export function benchSynth(repo: string, work: string): SynthBench {
  const cli = join(repo, 'node_modules', '.bin', 'cdk');
  let emptyApp: string;
  try {
    emptyApp = createEmptyApp(cli, repo, work);
  } catch (error) {
    return { rows: [errorRow('empty `cdk init` app', error)] };
  }
  const times = {
    app: [] as number[],
    changed: [] as number[],
    empty: [] as number[],
    mainThreadValidation: [] as number[],
    sequentialCheck: [] as number[],
  };
  const assemblyDir = join(work, 'synth-default');
  try {
    const buildInfo = typeCheckBuildInfo(repo);
    progress('cdk synth, warm-up of both apps');
    synthSeconds(cli, emptyApp, join(work, 'synth-empty'));
    synthSeconds(cli, repo, assemblyDir);
    for (let run = 1; run <= SYNTH_RUNS; run += 1) {
      progress(`cdk synth, empty app, run ${run}/${SYNTH_RUNS}`);
      times.empty.push(synthSeconds(cli, emptyApp, join(work, 'synth-empty')));
      progress(`cdk synth, default app, run ${run}/${SYNTH_RUNS}`);
      times.app.push(synthSeconds(cli, repo, assemblyDir));
      progress(`cdk synth, default app after a source change, run ${run}/${SYNTH_RUNS}`);
      rmSync(buildInfo, { force: true });
      times.changed.push(synthSeconds(cli, repo, assemblyDir));
      // The synth-speed machinery (lib/synth-speed/), each piece against CDK's plain way.
      progress(`cdk synth, default app, CDK's validation plugin in the main thread, run ${run}/${SYNTH_RUNS}`);
      times.mainThreadValidation.push(synthSeconds(cli, repo, assemblyDir, [], { LGTM_VALIDATION: 'main-thread' }));
      progress(`cdk synth, default app after a source change, type-check before the app, run ${run}/${SYNTH_RUNS}`);
      rmSync(buildInfo, { force: true });
      times.sequentialCheck.push(synthSeconds(cli, repo, assemblyDir, ['--app', SEQUENTIAL_APP]));
      // Leave the build info as the parallel script writes it for the next run's first synth.
      synthSeconds(cli, repo, assemblyDir);
    }
  } catch (error) {
    return { rows: [errorRow('`cdk synth`', error)], assemblyDir: times.app.length > 0 ? assemblyDir : undefined };
  }
  const app = median(times.app);
  const changed = median(times.changed);
  const empty = median(times.empty);
  const ratio = app / empty;
  const changedRatio = changed / empty;
  const mainThread = median(times.mainThreadValidation);
  const sequential = median(times.sequentialCheck);
  return {
    assemblyDir,
    rows: [
      row(`\`cdk synth\`, default app, type-check included, sources unchanged (median of ${SYNTH_RUNS})`, `${app.toFixed(1)} s`),
      row(
        `\`cdk synth\`, default app, first synth after a source change: full type-check (median of ${SYNTH_RUNS})`,
        `${changed.toFixed(1)} s`,
      ),
      row(`\`cdk synth\`, empty \`cdk init\` app (median of ${SYNTH_RUNS})`, `${empty.toFixed(1)} s`),
      row('synth time, default app / empty app', `${ratio.toFixed(2)}×`, `≤ ${SYNTH_TARGET_RATIO}×`, ratio <= SYNTH_TARGET_RATIO),
      row(
        'synth time after a source change / empty app',
        `${changedRatio.toFixed(2)}×`,
        `≤ ${SYNTH_TARGET_RATIO}×`,
        changedRatio <= SYNTH_TARGET_RATIO,
      ),
      row(
        `synth-speed: template validation in a worker (lib/synth-speed/template-validation.ts) against CDK's plugin in the main thread, sources unchanged (median of ${SYNTH_RUNS})`,
        `${app.toFixed(1)} s against ${mainThread.toFixed(1)} s: ${(mainThread - app).toFixed(1)} s saved`,
        'saves time',
        mainThread > app,
      ),
      row(
        `synth-speed: type-check beside the app (lib/synth-speed/app.sh) against type-check, then app, after a source change (median of ${SYNTH_RUNS})`,
        `${changed.toFixed(1)} s against ${sequential.toFixed(1)} s: ${(sequential - changed).toFixed(1)} s saved`,
        'saves time',
        sequential > changed,
      ),
    ],
  };
}

/** The build info `tsc -b bin` keeps (bin/tsconfig.json `tsBuildInfoFile`): without it the type-check runs in full. */
function typeCheckBuildInfo(repo: string): string {
  const config = JSON.parse(readFileSync(join(repo, 'bin', 'tsconfig.json'), 'utf8')) as { compilerOptions?: { tsBuildInfoFile?: string } };
  const file = config.compilerOptions?.tsBuildInfoFile;
  if (!file) throw new Error('bin/tsconfig.json sets no compilerOptions.tsBuildInfoFile: the bench cannot time a full type-check');
  return resolve(repo, 'bin', file);
}

/** `cdk init app --language typescript --generate-only` installs nothing; the repo's node_modules stand in. */
function createEmptyApp(cli: string, repo: string, work: string): string {
  const dir = join(work, 'empty');
  mkdirSync(dir);
  const init = spawnSync(cli, ['init', 'app', '--language', 'typescript', '--generate-only'], {
    cwd: dir,
    encoding: 'utf8',
    env: cliEnv(),
  });
  if (init.status !== 0) throw new Error(`cdk init failed (exit ${init.status}): ${tail(init.stderr || init.stdout)}`);
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** The app with its type-check first and the app after it, as a plain `cdk.json` would run them. */
const SEQUENTIAL_APP = 'sh -c "node_modules/.bin/tsc -b bin --singleThreaded && node --import tsx bin/lgtm-fleet.ts"';

function synthSeconds(cli: string, cwd: string, outDir: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): number {
  rmSync(outDir, { recursive: true, force: true });
  const start = performance.now();
  const result = spawnSync(cli, ['synth', '--quiet', '--no-notices', '-o', outDir, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...cliEnv(), ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = (performance.now() - start) / 1000;
  if (result.status !== 0) throw new Error(`cdk synth in ${cwd} failed (exit ${result.status}): ${tail(result.stderr || result.stdout)}`);
  return seconds;
}

/**
 * Offline on purpose: no notices download (--no-notices), no telemetry, no version check. The
 * `npm_*` variables of `npm run bench` are dropped so that both apps run as from a plain shell.
 */
function cliEnv(): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([name]) => !name.startsWith('npm_'));
  return { ...Object.fromEntries(inherited), CDK_DISABLE_CLI_TELEMETRY: 'true', CDK_DISABLE_VERSION_CHECK: 'true' };
}
