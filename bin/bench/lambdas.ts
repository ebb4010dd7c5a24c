import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { HANDLER_BUNDLE_OPTIONS } from '../../lib/lgtm-function';
import { errorRow, median, progress, type Row, row, tail } from './table';

/**
 * Timed loads per side, alternating bundle and SDK baseline, after one untimed warm-up of each: a
 * load takes a few hundred milliseconds, so many short runs keep the median steady on a busy machine.
 */
export const LOAD_RUNS = 15;
export const BUNDLE_TARGET_KB = 100;
export const LOAD_TARGET_RATIO = 1.15;

/**
 * Loads the given modules in order, then waits one event-loop turn so that work a module defers
 * (the handler's `import('@middy/core')` chain) is counted too; prints the elapsed milliseconds.
 */
const LOAD_SCRIPT = [
  'const start = process.hrtime.bigint();',
  'for (const name of JSON.parse(process.env.BENCH_MODULES)) require(name);',
  'setImmediate(() => process.stdout.write(String(Number(process.hrtime.bigint() - start) / 1e6)));',
].join('\n');

/** Every `lambdas/<name>/index.ts`: bundle size, and module-load time next to the AWS SDK clients it imports. */
export async function benchLambdas(repo: string, work: string, assemblyDir: string | undefined): Promise<Row[]> {
  const names = readdirSync(join(repo, 'lambdas'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(repo, 'lambdas', entry.name, 'index.ts')))
    .map((entry) => entry.name)
    .sort();
  const rows: Row[] = [];
  for (const name of names) {
    try {
      rows.push(...(await benchLambda(repo, join(work, `lambda-${name}`), name, assemblyDir)));
    } catch (error) {
      rows.push(errorRow(`${name}: bundle and module load`, error));
    }
  }
  return rows;
}

async function benchLambda(repo: string, outDir: string, name: string, assemblyDir: string | undefined): Promise<Row[]> {
  const entry = join(repo, 'lambdas', name, 'index.ts');
  progress(`${name}: esbuild bundle`);
  const { file, sdkModules } = await bundle(repo, entry, outDir);
  const kb = statSync(file).size / 1024;
  const sizeRow = row(
    `${name}: bundle, minified, AWS SDK external`,
    `${kb.toFixed(1)} KB`,
    `≤ ${BUNDLE_TARGET_KB} KB`,
    kb <= BUNDLE_TARGET_KB,
  );

  const fromTests = await testEnvironment(repo, name);
  const fromTemplate = assemblyDir ? templateEnvironment(assemblyDir, entry, fromTests ?? {}) : undefined;
  const environment = fromTemplate ?? fromTests ?? {};
  const source = fromTemplate ? 'the synthesized template' : fromTests ? 'the TEST_ENV of its tests' : 'none found';
  const bundleTimes: number[] = [];
  const sdkTimes: number[] = [];
  progress(`${name}: module load, warm-up`);
  loadMilliseconds(repo, [file], environment);
  loadMilliseconds(repo, sdkModules, environment);
  progress(`${name}: module load, ${LOAD_RUNS} runs of each`);
  for (let run = 1; run <= LOAD_RUNS; run += 1) {
    bundleTimes.push(loadMilliseconds(repo, [file], environment));
    sdkTimes.push(loadMilliseconds(repo, sdkModules, environment));
  }
  const own = median(bundleTimes);
  const sdk = median(sdkTimes);
  const clients = sdkModules.map((module) => module.replace('@aws-sdk/', '')).join(', ') || 'none';
  const ratio =
    sdkModules.length === 0
      ? row(`${name}: load time, bundle / SDK clients`, 'n/a (imports no AWS SDK client)')
      : row(
          `${name}: load time, bundle / SDK clients`,
          `${(own / sdk).toFixed(2)}×`,
          `≤ ${LOAD_TARGET_RATIO}×`,
          own / sdk <= LOAD_TARGET_RATIO,
        );
  return [
    sizeRow,
    row(`${name}: module load in a fresh Node (median of ${LOAD_RUNS}; env from ${source})`, `${own.toFixed(0)} ms`),
    row(`${name}: load of just the AWS SDK clients it imports (${clients}; median of ${LOAD_RUNS})`, `${sdk.toFixed(0)} ms`),
    ratio,
  ];
}

/** Bundled exactly as lib/lgtm-function.ts bundles for deployment. */
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
  const sdkModules = new Set(
    output.imports.filter((imported) => imported.external && imported.path.startsWith('@aws-sdk/')).map((i) => i.path),
  );
  return { file, sdkModules: [...sdkModules].sort() };
}

function loadMilliseconds(repo: string, modules: readonly string[], environment: Record<string, string>): number {
  const result = spawnSync(process.execPath, ['-e', LOAD_SCRIPT], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH,
      // The bundle lives in a temp folder; the SDK clients resolve from this repo.
      NODE_PATH: join(repo, 'node_modules'),
      // The SDK warns about Node 20 when a client is created; a Lambda on Node 24 never prints that.
      NODE_NO_WARNINGS: '1',
      AWS_REGION: 'ap-northeast-2',
      ...environment,
      BENCH_MODULES: JSON.stringify(modules),
    },
  });
  const milliseconds = Number(result.stdout);
  if (result.status !== 0 || result.stdout === '' || !Number.isFinite(milliseconds)) {
    // The thrown error's own line: the lines above it quote the (minified) source, the ones below are the stack.
    const thrown = /^\w*Error\b.*$/m.exec(result.stderr)?.[0];
    throw new Error(
      `loading ${modules.join(', ')} failed (exit ${result.status}): ${thrown ?? tail(result.stderr || String(result.error))}`,
    );
  }
  return milliseconds;
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
      const variables = Object.entries(resource.Properties?.Environment?.Variables ?? {}).filter(
        ([variable]) => variable !== 'NODE_OPTIONS',
      );
      return Object.fromEntries(
        variables.map(([variable, value]) => [
          variable,
          typeof value === 'string' ? value : (deployTimeValues[variable] ?? `dummy-${variable.toLowerCase()}`),
        ]),
      );
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
