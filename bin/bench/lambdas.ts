import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build, buildSync } from 'esbuild';
import { HANDLER_BUNDLE_OPTIONS } from '../../lib/synth-speed/bundling';
import { harnessEnvironment } from '../../test/support/function-environment';
import { errorRow, median, progress, type Row, row, tail } from './table';

/**
 * Timed loads per side, alternating bundle and SDK baseline, after one untimed warm-up of each: a
 * load takes a few hundred milliseconds, so many short runs keep the median steady on a busy machine.
 */
export const LOAD_RUNS = 15;
/**
 * A reference size printed beside each bundle's size, not a target: a bundle's size matters through
 * its module load, which LOAD_TARGET_RATIO holds.
 */
export const BUNDLE_TARGET_KB = 100;
export const LOAD_TARGET_RATIO = 1.15;

/** Runs in a fresh Node process per measurement: see the file for what it times. */
const LOAD_PROBE = join(__dirname, 'load-probe.cjs');

/** A handler's median module load, for comparing handlers with each other. */
interface ModuleLoad {
  readonly name: string;
  readonly milliseconds: number;
  /** Whether the bundle imports any AWS SDK client package. */
  readonly withSdk: boolean;
}

/**
 * Every `lambdas/<name>/index.ts`: bundle size, and module-load time next to the AWS SDK clients it
 * imports. A handler that imports none has no such baseline: its load is held against the lightest
 * handler that does (see {@link sdkFreeRows}).
 */
export async function benchLambdas(repo: string, work: string, assemblyDir: string | undefined): Promise<Row[]> {
  const names = readdirSync(join(repo, 'lambdas'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(repo, 'lambdas', entry.name, 'index.ts')))
    .map((entry) => entry.name)
    .sort();
  const rows: Row[] = [];
  try {
    rows.push(benchBundling(repo, join(work, 'bundling'), names));
  } catch (error) {
    rows.push(errorRow('synth-speed: handler bundling', error));
  }
  const loads: ModuleLoad[] = [];
  for (const name of names) {
    try {
      const measured = await benchLambda(repo, join(work, `lambda-${name}`), name, assemblyDir);
      rows.push(...measured.rows);
      loads.push(measured.load);
    } catch (error) {
      rows.push(errorRow(`${name}: bundle and module load`, error));
    }
  }
  return [...rows, ...sdkFreeRows(loads)];
}

/**
 * A handler without AWS SDK clients (ring-forget calls only the Mimir or Loki ring page) loads Powertools, middy and its
 * schemas like every handler, and nothing as heavy as an SDK client: it should load faster than the
 * lightest handler that has one. More would mean a heavy import crept in.
 */
function sdkFreeRows(loads: readonly ModuleLoad[]): Row[] {
  const lightest = loads.filter((load) => load.withSdk).sort((a, b) => a.milliseconds - b.milliseconds)[0];
  return loads
    .filter((load) => !load.withSdk)
    .map((load) => {
      if (lightest === undefined) {
        return row(`${load.name}: module load against the lightest handler with SDK clients`, 'n/a (none measured)');
      }
      const ratio = load.milliseconds / lightest.milliseconds;
      return row(
        `${load.name}: module load against the lightest handler with SDK clients (${lightest.name}, ${lightest.milliseconds.toFixed(0)} ms)`,
        `${ratio.toFixed(2)}×`,
        '< 1×',
        ratio < 1,
      );
    });
}

async function benchLambda(
  repo: string,
  outDir: string,
  name: string,
  assemblyDir: string | undefined,
): Promise<{ rows: Row[]; load: ModuleLoad }> {
  const entry = join(repo, 'lambdas', name, 'index.ts');
  progress(`${name}: esbuild bundle`);
  const { file, sdkModules } = await bundle(repo, entry, outDir);
  const kb = statSync(file).size / 1024;
  const sizeRow = row(`${name}: bundle, minified, AWS SDK external`, `${kb.toFixed(1)} KB`, `none (${BUNDLE_TARGET_KB} KB for reference)`);

  const fromTests = await testEnvironment(repo, name);
  const fromTemplate = assemblyDir ? templateEnvironment(assemblyDir, entry, fromTests ?? {}) : undefined;
  const environment = fromTemplate ?? fromTests ?? {};
  const source = fromTemplate ? 'the synthesized template' : fromTests ? 'the TEST_ENV of its tests' : 'none found';
  const times = { sdkRequire: [] as number[], sdkCreate: [] as number[], own: [] as number[] };
  progress(`${name}: module load, warm-up`);
  loadMilliseconds(repo, file, sdkModules, environment);
  progress(`${name}: module load, ${LOAD_RUNS} runs`);
  for (let run = 1; run <= LOAD_RUNS; run += 1) {
    const measured = loadMilliseconds(repo, file, sdkModules, environment);
    times.sdkRequire.push(measured.sdkRequire);
    times.sdkCreate.push(measured.sdkCreate);
    times.own.push(measured.own);
  }
  const sdkRequire = median(times.sdkRequire);
  const sdkCreate = median(times.sdkCreate);
  const own = median(times.own);
  const sdk = sdkRequire + sdkCreate;
  const load = { name, milliseconds: sdk + own, withSdk: sdkModules.length > 0 };
  const total = row(
    `${name}: module load in a fresh Node, SDK clients and handler (median of ${LOAD_RUNS}; env from ${source})`,
    `${(sdk + own).toFixed(0)} ms`,
  );
  // No SDK share to report or to hold the handler's own code against: benchLambdas compares it with the other handlers.
  if (!load.withSdk) {
    return { rows: [sizeRow, total, row(`${name}: … all of it the handler's own code`, 'imports no AWS SDK client')], load };
  }
  const clients = sdkModules.map((module) => module.replace('@aws-sdk/', '')).join(', ');
  const rows = [
    sizeRow,
    total,
    row(`${name}: … of which the AWS SDK client packages it imports, required (${clients})`, `${sdkRequire.toFixed(0)} ms`),
    row(`${name}: … of which one client of each, created with default settings`, `${sdkCreate.toFixed(1)} ms`),
    row(
      `${name}: … of which the handler's own code (its modules, settings, Powertools, middy, creating its own clients)`,
      `${own.toFixed(1)} ms`,
    ),
  ];
  const ratio = (sdk + own) / sdk;
  const ratioRows = [
    row(
      `${name}: load time, bundle / SDK clients (required and created)`,
      `${ratio.toFixed(2)}×`,
      `≤ ${LOAD_TARGET_RATIO}×`,
      ratio <= LOAD_TARGET_RATIO,
    ),
    row(
      `${name}: … the same over the packages' require time alone (creating the SDK's clients counted as the handler's)`,
      `${((sdk + own) / sdkRequire).toFixed(2)}×`,
    ),
  ];
  return { rows: [...rows, ...ratioRows], load };
}

/** Bundled exactly as lib/synth-speed/bundling.ts bundles for deployment. */
async function bundle(repo: string, entry: string, outDir: string): Promise<{ file: string; sdkModules: string[] }> {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'index.js');
  const result = await build({
    entryPoints: [entry],
    outfile: file,
    ...HANDLER_BUNDLE_OPTIONS,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: repo,
  });
  const output = Object.entries(result.metafile.outputs).find(([path]) => path.endsWith('index.js'))?.[1];
  if (!output) throw new Error(`esbuild wrote no index.js for ${entry}`);
  // The packages the sources import statically, which load with the module: a package required
  // later, at first use (a `require` inside a function, as the agent-credential reader does), is
  // not part of a cold start. The sources' imports say which is which; the CommonJS output's do not.
  const sdkModules = new Set(
    Object.values(result.metafile.inputs).flatMap((input) =>
      input.imports
        .filter((imported) => imported.external && imported.path.startsWith('@aws-sdk/') && imported.kind === 'import-statement')
        .map((imported) => imported.path),
    ),
  );
  return { file, sdkModules: [...sdkModules].sort() };
}

interface LoadTimes {
  readonly sdkRequire: number;
  readonly sdkCreate: number;
  readonly own: number;
}

function loadMilliseconds(repo: string, bundleFile: string, sdkModules: readonly string[], environment: Record<string, string>): LoadTimes {
  const result = spawnSync(process.execPath, [LOAD_PROBE], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH,
      // The bundle lives in a temp folder; the SDK clients resolve from this repo.
      NODE_PATH: join(repo, 'node_modules'),
      // Lambda runs the handlers on Node 24; on an older Node (this machine's 20) the SDK builds and
      // emits a deprecation warning when the first client is created, which Lambda never does.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      NODE_NO_WARNINGS: '1',
      AWS_REGION: 'ap-northeast-2',
      ...environment,
      BENCH_SDK_MODULES: JSON.stringify(sdkModules),
      BENCH_BUNDLE: bundleFile,
    },
  });
  const times = parseLoadTimes(result.stdout);
  if (result.status !== 0 || times === undefined) {
    // The thrown error's own line: the lines above it quote the (minified) source, the ones below are the stack.
    const thrown = /^\w*Error\b.*$/m.exec(result.stderr)?.[0];
    throw new Error(`loading ${bundleFile} failed (exit ${result.status}): ${thrown ?? tail(result.stderr || String(result.error))}`);
  }
  return times;
}

function parseLoadTimes(stdout: string): LoadTimes | undefined {
  try {
    const parsed = JSON.parse(stdout) as Partial<Record<keyof LoadTimes, unknown>>;
    const values = [parsed.sdkRequire, parsed.sdkCreate, parsed.own];
    if (!values.every((value) => typeof value === 'number' && Number.isFinite(value))) return undefined;
    return parsed as LoadTimes;
  } catch {
    return undefined;
  }
}

interface TemplateResource {
  readonly Type?: string;
  readonly Metadata?: Record<string, unknown>;
  readonly Properties?: { readonly Environment?: { readonly Variables?: Record<string, unknown> } };
}

/**
 * The environment the stack gives the function whose bundle was built from `entry` (found through
 * the source map of each bundled asset). Values that are CloudFormation references (only known once
 * deployed) take the realistic value its tests use, else a dummy string; NODE_OPTIONS (source maps) is left out so that both sides of the comparison load alike.
 */
function templateEnvironment(
  assemblyDir: string,
  entry: string,
  deployTimeValues: Record<string, string>,
): Record<string, string> | undefined {
  for (const templateFile of readdirSync(assemblyDir).filter((file) => file.endsWith('.template.json'))) {
    const template = JSON.parse(readFileSync(join(assemblyDir, templateFile), 'utf8')) as { Resources?: Record<string, TemplateResource> };
    for (const resource of Object.values(template.Resources ?? {})) {
      const assetPath = resource.Metadata?.['aws:asset:path'];
      if (resource.Type !== 'AWS::Lambda::Function' || typeof assetPath !== 'string') continue;
      const assetDir = join(assemblyDir, assetPath);
      const sourceMap = join(assetDir, 'index.js.map');
      if (!existsSync(sourceMap)) continue;
      const { sources = [], sourceRoot = '' } = JSON.parse(readFileSync(sourceMap, 'utf8')) as { sources?: string[]; sourceRoot?: string };
      if (!sources.some((source) => resolve(assetDir, sourceRoot, source) === entry)) continue;
      const { NODE_OPTIONS: _sourceMaps, ...environment } = harnessEnvironment(
        resource.Properties?.Environment?.Variables ?? {},
        deployTimeValues,
      );
      return environment;
    }
  }
  return undefined;
}

/**
 * For a function the synthesized app does not contain (yet): the `TEST_ENV` its handler tests export
 * (test/lambdas/<name>/*.ts), the project's statement of the environment the construct gives it.
 */
async function testEnvironment(repo: string, name: string): Promise<Record<string, string> | undefined> {
  const folder = join(repo, 'test', 'lambdas', name);
  if (!existsSync(folder)) return undefined;
  for (const file of readdirSync(folder).filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))) {
    const path = join(folder, file);
    if (!/^export const TEST_ENV\b/m.test(readFileSync(path, 'utf8'))) continue;
    const harness = (await import(path)) as { TEST_ENV?: Record<string, string> };
    if (harness.TEST_ENV) return harness.TEST_ENV;
  }
  return undefined;
}

/** Timed runs per side of the bundling comparison, alternating, after one untimed warm-up of each. */
const BUNDLING_RUNS = 9;

/**
 * lib/synth-speed/bundling.ts against the plain way: every handler in one in-process esbuild run
 * (what a synth does), against one esbuild process per handler with the same options (what
 * NodejsFunction's local bundling spawns). Both write nothing but their output files.
 */
function benchBundling(repo: string, outDir: string, names: readonly string[]): Row {
  mkdirSync(outDir, { recursive: true });
  const entries = names.map((name) => join(repo, 'lambdas', name, 'index.ts'));
  const esbuild = join(repo, 'node_modules', '.bin', 'esbuild');
  const oneRun = (): number => {
    const start = performance.now();
    buildSync({
      ...HANDLER_BUNDLE_OPTIONS,
      entryPoints: entries,
      outbase: join(repo, 'lambdas'),
      outdir: join(outDir, 'one'),
      logLevel: 'error',
    });
    return performance.now() - start;
  };
  const perHandler = (): number => {
    const start = performance.now();
    for (const [index, entry] of entries.entries()) {
      const args = [entry, '--bundle', '--platform=node', '--target=node24', '--format=cjs', '--minify', '--sourcemap'];
      args.push('--external:@aws-sdk/*', `--outfile=${join(outDir, `each-${index}`, 'index.js')}`, '--log-level=error');
      const result = spawnSync(esbuild, args, { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`esbuild failed for ${entry}: ${tail(result.stderr)}`);
    }
    return performance.now() - start;
  };
  progress('synth-speed: handler bundling, one run against one process per handler');
  oneRun();
  perHandler();
  const times = { one: [] as number[], each: [] as number[] };
  for (let run = 0; run < BUNDLING_RUNS; run += 1) {
    times.one.push(oneRun());
    times.each.push(perHandler());
  }
  const one = median(times.one);
  const each = median(times.each);
  return row(
    `synth-speed: ${names.length} handlers bundled in one in-process esbuild run (lib/synth-speed/bundling.ts) against one esbuild process per handler, as NodejsFunction spawns it (median of ${BUNDLING_RUNS})`,
    `${one.toFixed(0)} ms against ${each.toFixed(0)} ms: ${(each - one).toFixed(0)} ms saved`,
    'saves time',
    each > one,
  );
}
