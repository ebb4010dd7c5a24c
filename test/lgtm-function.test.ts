import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AssetStaging, Stack, Stage } from 'aws-cdk-lib';
import { LgtmFunction } from '../lib/lgtm-function';
import { resourcesOf, synthStack } from './helpers';

describe('handler bundles', () => {
  // Mimir replicas: the stack then has every handler (ring-forget exists only with Mimir or Loki
  // replicas; Loki's function would run the same bundle).
  const VALUES = { services: { mimir: { replicas: 3 } } };
  const { stack, template } = synthStack(VALUES, { bundle: true });
  const outdir = Stage.of(stack)?.outdir as string;
  const functions = stack.node.findAll().filter((c): c is LgtmFunction => c instanceof LgtmFunction);
  /** The staged asset directory of a function, from the S3 key `<hash>.zip` in its template. */
  const assetDir = (fn: LgtmFunction): string => {
    const id = Stack.of(fn).getLogicalId(fn.function.node.defaultChild as never);
    const code = resourcesOf(template, 'AWS::Lambda::Function')[id].Properties.Code as { S3Key: string };
    return join(outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
  };

  test('every function has a bundle of its own', () => {
    expect(functions.length).toBeGreaterThanOrEqual(4);
    expect(new Set(functions.map(assetDir)).size).toBe(functions.length);
  });

  test.each(functions.map((fn) => [fn.handlerFolder, fn] as const))('the %s bundle is built from its own handler only', (folder, fn) => {
    const map = join(assetDir(fn), 'index.js.map');
    expect(existsSync(map)).toBe(true);
    const sources = (JSON.parse(readFileSync(map, 'utf8')) as { sources: string[] }).sources;
    expect(sources.some((s) => s.endsWith(`${folder}/index.ts`))).toBe(true);
    for (const other of functions.filter((f) => f.handlerFolder !== folder)) {
      expect(sources.some((s) => s.endsWith(`${other.handlerFolder}/index.ts`))).toBe(false);
    }
  });

  test.each(functions.map((fn) => [fn.handlerFolder, fn] as const))(
    'the %s source map names the real source files, so stack traces point at them',
    (folder, fn) => {
      const dir = assetDir(fn);
      const { sources, sourceRoot = '' } = JSON.parse(readFileSync(join(dir, 'index.js.map'), 'utf8')) as {
        sources: string[];
        sourceRoot?: string;
      };
      const own = sources.filter((s) => !s.includes('node_modules'));
      expect(own.length).toBeGreaterThan(0);
      for (const source of own) expect(existsSync(resolve(dir, sourceRoot, source))).toBe(true);
      expect(own.map((s) => resolve(dir, sourceRoot, s))).toContain(resolve(__dirname, '..', 'lambdas', folder, 'index.ts'));
    },
  );

  /**
   * zod schemas are built when their module loads, whether the handler parses with them or not, so
   * a bundle that carried another handler's schemas would pay for them on every cold start.
   */
  const SCHEMA_MODULES: Record<string, { readonly carries: readonly string[]; readonly never: readonly string[] }> = {
    enroll: { carries: ['lambdas/shared/events.ts'], never: ['lambdas/shared/refresh-events.ts'] },
    reconcile: { carries: [], never: ['node_modules/zod/', 'lambdas/shared/schema.ts', 'lambdas/shared/events.ts'] },
    refresh: { carries: ['lambdas/shared/refresh-events.ts'], never: ['lambdas/shared/events.ts'] },
    status: { carries: ['lambdas/shared/schema.ts'], never: ['lambdas/shared/events.ts', 'lambdas/shared/refresh-events.ts'] },
    'ring-forget': {
      carries: ['lambdas/shared/schema.ts'],
      never: ['lambdas/shared/events.ts', 'lambdas/shared/refresh-events.ts', 'node_modules/@aws-sdk/'],
    },
  };

  test('every handler has an entry in the table of the schema modules its bundle may carry', () => {
    expect(functions.map((fn) => fn.handlerFolder).sort()).toEqual(Object.keys(SCHEMA_MODULES).sort());
  });

  test.each(functions.map((fn) => [fn.handlerFolder, fn] as const))(
    'the %s bundle builds only the event schemas it parses',
    (folder, fn) => {
      const { sources } = JSON.parse(readFileSync(join(assetDir(fn), 'index.js.map'), 'utf8')) as { sources: string[] };
      const expected = SCHEMA_MODULES[folder];
      for (const module of expected.carries) expect(sources.filter((s) => s.endsWith(module))).toHaveLength(1);
      for (const module of expected.never) expect(sources.filter((s) => s.includes(module))).toEqual([]);
    },
  );

  test('a second synth bundles again to the same bytes (the asset hashes do not churn)', () => {
    // Without this, CDK would hand the second app the first one's staged bundles.
    AssetStaging.clearAssetHashCache();
    const again = synthStack(VALUES, { bundle: true });
    const keys = (t: typeof template) =>
      Object.values(resourcesOf(t, 'AWS::Lambda::Function'))
        .map((r) => (r.Properties.Code as { S3Key: string }).S3Key)
        .sort();
    expect(keys(again.template)).toEqual(keys(template));
  });
});
