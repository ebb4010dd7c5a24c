import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { VARIANTS } from '../../bin/smoke';
import { BACKEND_SPECS } from '../../bin/smoke/backends';
import { localLokiConfig } from '../../bin/smoke/local-config';
import { itemSizeBytes, localMemcachedArgs } from '../../bin/smoke/memcached';
import { findProgram } from '../../bin/smoke/process';
import { Checks, smokeTable } from '../../bin/smoke/report';
import { loadConfig } from '../../lib/config/load';
import type { RenderInput } from '../../lib/render/catalog';
import { renderLokiConfig } from '../../lib/render/loki';
import { memcachedCommand } from '../../lib/render/memcached';
import { renderMimirConfig } from '../../lib/render/mimir';
import { renderTempoConfig } from '../../lib/render/tempo';

const DIRS = { data: '/tmp/smoke/data', bucket: '/tmp/smoke/bucket' };
const RENDERERS = { mimir: renderMimirConfig, loki: renderLokiConfig, tempo: renderTempoConfig } as const;

/** Key paths a local run may change: storage, listeners, ring addresses, cache addresses, data paths. */
const ALLOWED = [
  /^common\.storage\.(backend|s3|filesystem)$/,
  /^storage\.trace\.(backend|s3|local)$/,
  /^schema_config\.configs\.\d+\.object_store$/,
  /^compactor\.delete_request_store$/,
  /^server\.(http|grpc)_listen_address$/,
  /^distributor\.receivers\.otlp\.protocols\.(grpc|http)\.endpoint$/,
  /^(common\.instance_addr|frontend\.address|memberlist\.bind_addr)$/,
  /\.ring\.instance_addr$|\.sharding_ring\.instance_addr$/,
  /(memcached_client\.addresses|memcached\.addresses)$/,
];

function input(values: Record<string, unknown>): RenderInput {
  return {
    config: loadConfig([{ origin: 'test', values }]),
    deploy: { region: 'us-east-1', bucketName: 'lgtm-smoke', urlSuffix: 'amazonaws.com', availabilityZones: 2 },
  };
}

describe('smoke harness: the local run changes only what cannot work off AWS', () => {
  for (const program of ['mimir', 'loki', 'tempo'] as const) {
    for (const variant of VARIANTS) {
      test(`${program} (${variant.name}): every override is a storage, address or data-path change, and is listed`, () => {
        const rendered = RENDERERS[program](input(variant.values));
        const local = BACKEND_SPECS[program].local(input(variant.values), DIRS, '127.0.0.1:21211');
        expect(local.overrides.length).toBeGreaterThan(0);
        for (const o of local.overrides) {
          const isPath = typeof o.to === 'string' && o.to.startsWith(DIRS.data);
          const allowed = isPath || ALLOWED.some((pattern) => pattern.test(o.path));
          expect([o.path, allowed]).toEqual([o.path, true]);
        }
        // Nothing else moved: undo the listed overrides and the rendered document comes back.
        const doc = parse(local.text) as Record<string, unknown>;
        for (const o of [...local.overrides].reverse()) {
          const keys = o.path.split('.');
          let node = doc as Record<string, unknown>;
          for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
          if (o.from === undefined) delete node[keys[keys.length - 1]];
          else node[keys[keys.length - 1]] = o.from;
        }
        const prune = (value: unknown): unknown => {
          if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
          const entries = Object.entries(value).map(([k, v]) => [k, prune(v)] as const);
          return Object.fromEntries(
            entries.filter(([, v]) => !(v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)),
          );
        };
        expect(prune(doc)).toEqual(prune(parse(rendered)));
      });
    }
  }

  test('a cluster replica: its own address and zone in place of the task placeholders, the other replicas in place of the Cloud Map name', () => {
    const clustered = { ...input({ services: { loki: { replicas: 3 } } }), deploy: { ...input({}).deploy, availabilityZones: 3 } };
    const members = ['127.0.0.1:7946', '127.0.0.2:7946', '127.0.0.3:7946'];
    const local = localLokiConfig(renderLokiConfig(clustered), '/loki', DIRS, {
      address: '127.0.0.2',
      replica: { zone: 'local-b', members },
    });
    expect(local.text).not.toMatch(/__LGTM_TASK_|lgtm\.internal|amazonaws\.com/);
    const doc = parse(local.text);
    expect([doc.common.instance_addr, doc.common.ring.instance_id, doc.common.ring.instance_availability_zone]).toEqual([
      '127.0.0.2',
      '127.0.0.2',
      'local-b',
    ]);
    expect(doc.memberlist).toMatchObject({ join_members: members, bind_addr: ['127.0.0.2'], advertise_addr: '127.0.0.2' });
    expect([doc.server.http_listen_address, doc.frontend.scheduler_address]).toEqual(['127.0.0.2', '127.0.0.2:9096']);
    // Each change is listed, as for one process.
    expect(local.overrides.map((o) => o.path)).toEqual(
      expect.arrayContaining(['memberlist.join_members', 'memberlist.bind_addr', 'common.ring.instance_availability_zone']),
    );
  });

  test('S3 and Cloud Map names never reach a local run', () => {
    for (const program of ['mimir', 'loki', 'tempo'] as const) {
      const text = BACKEND_SPECS[program].local(input({}), DIRS, '127.0.0.1:21211').text;
      expect(text).not.toMatch(/amazonaws\.com|lgtm\.internal|0\.0\.0\.0/);
    }
  });

  test('without a memcached, the caches are removed rather than pointed at nothing', () => {
    const loki = parse(BACKEND_SPECS.loki.local(input({}), DIRS).text);
    expect(loki.chunk_store_config).toBeUndefined();
    const mimir = parse(BACKEND_SPECS.mimir.local(input({}), DIRS).text);
    expect(mimir.frontend.cache_results).toBe(false);
  });

  test('memcached runs with the rendered arguments first, then only listener and user overrides', () => {
    const config = input({}).config;
    const { args, overrides } = localMemcachedArgs(config, true);
    expect(args.slice(0, memcachedCommand(config).length)).toEqual(memcachedCommand(config));
    expect(overrides.map((o) => o.path)).toEqual(['-l (listen address)', '-p (port)', '-U (UDP port)', '-u (user, when run as root)']);
    expect(localMemcachedArgs(config, false).args).not.toContain('-u');
    expect(itemSizeBytes('5m')).toBe(5 * 1024 * 1024);
    expect(itemSizeBytes('512k')).toBe(512 * 1024);
    expect(() => itemSizeBytes('5g')).toThrow(/5g/);
  });
});

describe('smoke harness: finding programs and reporting', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smoke-test-'));
  writeFileSync(join(dir, 'loki'), '#!/bin/sh\n', { mode: 0o755 });

  test('a <PROGRAM>_BIN variable wins over PATH, and a missing one is an error naming it', () => {
    expect(findProgram('loki', { PATH: dir })).toBe(join(dir, 'loki'));
    expect(findProgram('tempo', { PATH: dir })).toBeUndefined();
    expect(findProgram('loki', { PATH: '', LOKI_BIN: join(dir, 'loki') })).toBe(join(dir, 'loki'));
    expect(() => findProgram('loki', { PATH: dir, LOKI_BIN: '/nowhere/loki' })).toThrow(
      'LOKI_BIN is "/nowhere/loki", which does not exist',
    );
  });

  test('a thrown check becomes a FAIL row with its message; known issues are their own outcome', async () => {
    const checks = new Checks('loki', 'default');
    expect(await checks.run('ready', async () => Promise.reject(new Error('exited | early')))).toBe(false);
    checks.knownIssue('stop', 'upstream hang');
    expect(checks.rows.map((r) => r.outcome)).toEqual(['FAIL', 'known issue']);
    expect(smokeTable(checks.rows)).toContain('| loki | default | ready | FAIL | exited \\| early |');
  });
});
