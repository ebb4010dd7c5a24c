#!/usr/bin/env node
/**
 * Runs the real upstream programs with the configs this project renders, on 127.0.0.1:
 *   npm run smoke                          # every program found on PATH (or named by <PROGRAM>_BIN)
 *   npm run smoke -- --only loki,memcached # some programs
 *   npm run smoke -- --require memcached   # fail, rather than skip, when one of these is missing
 * For Mimir, Loki and Tempo it runs the default deployment's config and the `storage.durability:
 * efs` one; for Loki also three replicas as one cluster, through a crash and a rolling restart; and
 * nginx with the ingest gateway's config in front of Loki, reading back where each write landed. It prints every override it needed off AWS, then one table; it exits non-zero if a
 * check failed or a required program is missing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config/load';
import type { LgtmConfig } from '../lib/config/schema';
import { smokeAlloy } from './smoke/alloy';
import { BACKEND_SPECS, smokeBackend } from './smoke/backends';
import { CLUSTER_REPLICAS, smokeLokiCluster } from './smoke/cluster';
import { smokeGateway } from './smoke/gateway';
import type { Override } from './smoke/local-config';
import { LOCAL_MEMCACHED_PORT, localMemcachedArgs, smokeMemcached } from './smoke/memcached';
import { findProgram, programVersion, type Server } from './smoke/process';
import { type Checks, progress, type SmokeRow, smokeTable } from './smoke/report';

export const PROGRAMS = ['memcached', 'mimir', 'loki', 'tempo', 'alloy', 'nginx'] as const;
type Program = (typeof PROGRAMS)[number];

const VERSION_ARGS: Record<Program, string[]> = {
  memcached: ['-V'],
  mimir: ['-version'],
  loki: ['-version'],
  tempo: ['-version'],
  alloy: ['--version'],
  nginx: ['-v'],
};

/** The deployments the backends run in: the default one and `storage.durability: efs`. */
export const VARIANTS: ReadonlyArray<{ name: string; values: Record<string, unknown> }> = [
  { name: 'default', values: {} },
  { name: 'efs', values: { storage: { durability: 'efs' } } },
];

function programList(value: string | undefined, option: string): Program[] {
  if (value === undefined || value === '') return [];
  return value.split(',').map((name) => {
    if (!(PROGRAMS as readonly string[]).includes(name))
      throw new Error(`${option}: unknown program "${name}" (choose from ${PROGRAMS.join(', ')})`);
    return name as Program;
  });
}

function formatValue(value: unknown): string {
  return value === undefined ? '(unset)' : JSON.stringify(value);
}

function printOverrides(program: string, variant: string, overrides: readonly Override[]): void {
  process.stdout.write(`\n${program} (${variant}): overrides for a run off AWS\n`);
  for (const o of overrides) process.stdout.write(`  ${o.path}: ${formatValue(o.from)} -> ${formatValue(o.to)}\n`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, require: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(`usage: npm run smoke -- [--only ${PROGRAMS.join(',')}] [--require <programs>]`);
    return 0;
  }
  const only = programList(values.only, '--only');
  const required = programList(values.require, '--require');
  const wanted = only.length > 0 ? only : [...PROGRAMS];
  const found = new Map<Program, string>();
  const missing: Program[] = [];
  for (const program of wanted) {
    const binary = findProgram(program);
    if (binary) found.set(program, binary);
    else missing.push(program);
  }
  process.stdout.write('programs:\n');
  for (const program of wanted) {
    const binary = found.get(program);
    process.stdout.write(
      binary
        ? `  ${program}: ${binary} (${programVersion(binary, VERSION_ARGS[program])})\n`
        : `  ${program}: SKIPPED, not on PATH (set ${program.toUpperCase()}_BIN to run it)\n`,
    );
  }

  const workRoot = mkdtempSync(join(tmpdir(), 'lgtm-smoke-'));
  const rows: SmokeRow[] = [];
  const keep = (checks: Checks) => rows.push(...checks.rows);
  let memcached: Server | undefined;
  try {
    const defaults: LgtmConfig = loadConfig([{ origin: 'smoke', values: {} }]);
    const memcachedBinary = found.get('memcached');
    if (memcachedBinary) {
      printOverrides('memcached', '—', localMemcachedArgs(defaults).overrides);
      progress('memcached');
      const result = await smokeMemcached(memcachedBinary, defaults, workRoot);
      keep(result.checks);
      memcached = result.server;
    }
    for (const program of ['mimir', 'loki', 'tempo'] as const) {
      const binary = found.get(program);
      if (!binary) continue;
      for (const variant of VARIANTS) {
        progress(`${program} (${variant.name})`);
        const workDir = mkdtempSync(join(workRoot, `${program}-${variant.name}-`));
        keep(
          await smokeBackend(BACKEND_SPECS[program], {
            binary,
            config: loadConfig([{ origin: `smoke ${variant.name}`, values: variant.values }]),
            variant: variant.name,
            workDir,
            memcached: memcached?.running ? `127.0.0.1:${LOCAL_MEMCACHED_PORT}` : undefined,
            printOverrides,
          }),
        );
      }
    }
    const loki = found.get('loki');
    if (loki) {
      progress(`loki (${CLUSTER_REPLICAS} replicas)`);
      const config = loadConfig([{ origin: 'smoke cluster', values: { services: { loki: { replicas: CLUSTER_REPLICAS } } } }]);
      keep(
        await smokeLokiCluster({
          binary: loki,
          // Three zones: the rings are zone-aware, one replica per zone.
          input: { config, deploy: { region: 'us-east-1', bucketName: 'lgtm-smoke', urlSuffix: 'amazonaws.com', availabilityZones: 3 } },
          workDir: mkdtempSync(join(workRoot, 'loki-cluster-')),
          memcached: memcached?.running ? `127.0.0.1:${LOCAL_MEMCACHED_PORT}` : undefined,
          printOverrides,
        }),
      );
    }
    const nginx = found.get('nginx');
    if (nginx && loki) {
      progress('nginx (ingest gateway in front of Loki)');
      keep(
        await smokeGateway({
          nginx,
          loki,
          config: defaults,
          workDir: mkdtempSync(join(workRoot, 'gateway-')),
          memcached: memcached?.running ? `127.0.0.1:${LOCAL_MEMCACHED_PORT}` : undefined,
        }),
      );
    } else if (nginx) {
      progress('nginx: the gateway run needs loki as well; skipped');
    }
    const alloy = found.get('alloy');
    if (alloy) {
      progress('alloy');
      keep(smokeAlloy(alloy, defaults, mkdtempSync(join(workRoot, 'alloy-'))));
    }
  } finally {
    await memcached?.stop(30);
  }

  process.stdout.write(`\n${smokeTable(rows)}\n\n`);
  const failed = rows.filter((r) => r.outcome === 'FAIL');
  const requiredMissing = required.filter((p) => missing.includes(p));
  if (missing.length > 0) process.stdout.write(`skipped (not found): ${missing.join(', ')}\n`);
  if (requiredMissing.length > 0) process.stdout.write(`REQUIRED but not found: ${requiredMissing.join(', ')}\n`);
  const known = rows.filter((r) => r.outcome === 'known issue').length;
  process.stdout.write(
    `${rows.filter((r) => r.outcome === 'pass').length} of ${rows.length} checks passed, ${failed.length} failed, ${known} known upstream issue(s); logs and data in ${workRoot}\n`,
  );
  if (failed.length === 0 && requiredMissing.length === 0) rmSync(workRoot, { recursive: true, force: true });
  return failed.length > 0 || requiredMissing.length > 0 ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(2);
    },
  );
}
