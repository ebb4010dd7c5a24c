import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The bench's module-load probe (bin/bench/load-probe.cjs), run as the bench runs it. */
const PROBE = join(__dirname, '..', '..', 'bin', 'bench', 'load-probe.cjs');
const REPO_MODULES = join(__dirname, '..', '..', 'node_modules');

describe('module-load probe', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'load-probe-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function probe(bundleSource: string, sdkModules: readonly string[]) {
    const bundle = join(dir, `bundle-${Math.random().toString(36).slice(2)}.js`);
    writeFileSync(bundle, bundleSource);
    return spawnSync(process.execPath, [PROBE], {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        NODE_PATH: REPO_MODULES,
        NODE_NO_WARNINGS: '1',
        AWS_REGION: 'ap-northeast-2',
        BENCH_SDK_MODULES: JSON.stringify(sdkModules),
        BENCH_BUNDLE: bundle,
      },
    });
  }

  test('times the SDK packages, their clients and the bundle as separate parts', () => {
    const result = probe(
      "const { SQSClient } = require('@aws-sdk/client-sqs'); new SQSClient({ maxAttempts: 5 }); const spin = Date.now() + 30; while (Date.now() < spin);",
      ['@aws-sdk/client-sqs'],
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const times = JSON.parse(result.stdout) as Record<string, number>;
    expect(Object.keys(times).sort()).toEqual(['own', 'sdkCreate', 'sdkRequire']);
    expect(times.sdkRequire).toBeGreaterThan(0);
    expect(times.sdkCreate).toBeGreaterThan(0);
    // The bundle's own 30 ms of work lands in its part, not the SDK's.
    expect(times.own).toBeGreaterThanOrEqual(30);
  });

  test('counts work the bundle defers to the next event-loop turn as its own', () => {
    const result = probe(
      "const { SQSClient } = require('@aws-sdk/client-sqs'); new SQSClient({}); Promise.resolve().then(() => { const spin = Date.now() + 30; while (Date.now() < spin); });",
      ['@aws-sdk/client-sqs'],
    );
    expect(result.status).toBe(0);
    expect((JSON.parse(result.stdout) as { own: number }).own).toBeGreaterThanOrEqual(30);
  });

  test('fails when the bundle imports an SDK package but creates no client of it', () => {
    const result = probe("require('@aws-sdk/client-sqs');", ['@aws-sdk/client-sqs']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('the bundle imports @aws-sdk/client-sqs but creates no client of it at load');
  });

  test('fails on a package that exports no client class', () => {
    const result = probe('', ['@aws-sdk/client-sqs/package.json']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('@aws-sdk/client-sqs/package.json exports no client class');
  });
});
