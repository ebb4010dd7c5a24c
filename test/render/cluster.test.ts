import { parse } from 'yaml';
import { loadConfig } from '../../lib/config/load';
import { substitutionCommand } from '../../lib/config-delivery';
import { BACKENDS, type RenderInput, stateOnFileSystem } from '../../lib/render/catalog';
import { clusterOf, clusterPorts, MEMBERLIST_PORT, ringInstance, TASK_PLACEHOLDERS } from '../../lib/render/cluster';
import { renderLokiConfig } from '../../lib/render/loki';
import { renderMimirConfig } from '../../lib/render/mimir';

const BACKENDS_CLUSTERED = ['mimir', 'loki'] as const;
type Clustered = (typeof BACKENDS_CLUSTERED)[number];

function input(values: Record<string, unknown>, availabilityZones: number): RenderInput {
  return {
    config: loadConfig([{ origin: 'test', values }]),
    deploy: { region: 'eu-west-1', bucketName: 'data-bucket', urlSuffix: 'amazonaws.com', availabilityZones },
  };
}

function replicasOf(service: Clustered, replicas: number, availabilityZones = 2, values: Record<string, unknown> = {}): RenderInput {
  return input({ ...values, services: { [service]: { replicas } } }, availabilityZones);
}

describe('clusterOf', () => {
  test.each(BACKENDS_CLUSTERED)('%s with one replica forms no cluster, whatever the zones', (service) => {
    for (const zones of [2, 3, 6]) expect(clusterOf(replicasOf(service, 1, zones), service)).toBeUndefined();
  });

  test.each(BACKENDS_CLUSTERED)('%s with replicas joins the others through its Cloud Map name on the memberlist port', (service) => {
    const cluster = clusterOf(replicasOf(service, 3), service);
    expect(cluster?.replicas).toBe(3);
    expect(cluster?.memberlist).toMatchObject({
      join_members: [`dns+${service}.lgtm.internal:7946`],
      bind_port: MEMBERLIST_PORT,
      advertise_port: MEMBERLIST_PORT,
      advertise_addr: TASK_PLACEHOLDERS.address,
    });
    const custom = clusterOf(replicasOf(service, 5, 2, { network: { namespaceName: 'obs.example.internal' } }), service);
    expect(custom?.memberlist.join_members).toEqual([`dns+${service}.obs.example.internal:7946`]);
  });

  test('each backend gossips under its own cluster label, so Mimir and Loki never join each other’s rings', () => {
    const label = (service: Clustered, stackName = 'LgtmFleet') =>
      clusterOf(input({ stackName, services: { mimir: { replicas: 3 }, loki: { replicas: 3 } } }, 2), service)?.memberlist.cluster_label;
    expect(label('mimir')).toEqual(expect.any(String));
    expect(label('loki')).toEqual(expect.any(String));
    expect(label('mimir')).not.toBe(label('loki'));
    expect(label('mimir', 'OtherFleet')).not.toBe(label('mimir'));
  });

  test('replicas started together start alone rather than fail, then merge by rejoining', () => {
    const memberlist = clusterOf(replicasOf('loki', 3), 'loki')?.memberlist;
    expect(memberlist?.abort_if_cluster_join_fails).toBe(false);
    expect(memberlist?.rejoin_interval).toMatch(/^[1-9][0-9]*[sm]$/);
  });

  test.each([
    [2, false, ['address']],
    [3, true, ['address', 'availabilityZone']],
    [4, true, ['address', 'availabilityZone']],
  ])('over %d zones: zone-aware %s, task values %j', (zones, zoneAware, taskValues) => {
    for (const service of BACKENDS_CLUSTERED) {
      const cluster = clusterOf(replicasOf(service, 3, zones), service);
      // Three copies: a quorum of two survives the loss of any one replica.
      expect(cluster?.replicationFactor).toBe(3);
      expect(cluster?.zoneAware).toBe(zoneAware);
      expect(cluster?.taskValues).toEqual(taskValues);
    }
  });
});

describe('stateOnFileSystem', () => {
  test.each([
    ['efs', 1, true],
    ['efs', 3, false],
    ['ephemeral', 1, false],
    ['ephemeral', 3, false],
  ] as const)('%s durability, %d replicas: state on EFS %s', (durability, replicas, onFileSystem) => {
    for (const service of BACKENDS_CLUSTERED) {
      const { config } = input({ storage: { durability }, services: { [service]: { replicas } } }, 2);
      expect(stateOnFileSystem(config, service)).toBe(onFileSystem);
    }
  });
});

describe('ringInstance', () => {
  test('carries the task address, and the zone only when zone-aware', () => {
    const twoZones = clusterOf(replicasOf('mimir', 3, 2), 'mimir');
    const threeZones = clusterOf(replicasOf('mimir', 3, 3), 'mimir');
    if (!twoZones || !threeZones) throw new Error('expected a cluster');
    expect(ringInstance(twoZones)).toEqual({ instance_addr: TASK_PLACEHOLDERS.address });
    expect(ringInstance(threeZones)).toEqual({
      instance_addr: TASK_PLACEHOLDERS.address,
      zone_awareness_enabled: true,
      instance_availability_zone: TASK_PLACEHOLDERS.availabilityZone,
    });
  });
});

describe('task placeholders and ports', () => {
  test('the placeholders are text the init container can substitute, and neither holds the other', () => {
    const [address, zone] = [TASK_PLACEHOLDERS.address, TASK_PLACEHOLDERS.availabilityZone];
    for (const placeholder of [address, zone]) {
      expect(() =>
        substitutionCommand('/config/x.yaml', 'VALUE_0', { placeholder, source: { value: 'x' }, escapes: {}, description: 'x' }),
      ).not.toThrow();
    }
    expect(address.includes(zone) || zone.includes(address)).toBe(false);
  });

  test.each(BACKENDS_CLUSTERED)('%s replicas reach each other on its gRPC port and the memberlist port', (service) => {
    expect(clusterPorts(service)).toEqual([BACKENDS[service].grpcPort, MEMBERLIST_PORT]);
  });

  test('the memberlist port is none of the services’ own ports', () => {
    const ports = Object.values(BACKENDS).flatMap((backend) =>
      Object.entries(backend)
        .filter(([key]) => /port$/i.test(key))
        .map(([, port]) => port),
    );
    expect(ports.length).toBeGreaterThan(5);
    expect(ports).not.toContain(MEMBERLIST_PORT);
  });
});

/**
 * The settings a cluster adds or changes in each backend's config: with them removed, a clustered
 * config must equal the single-replica one (storage, WAL, retention and caches stay as they are).
 */
const CLUSTER_SETTINGS: Record<Clustered, readonly string[]> = {
  loki: [
    'memberlist',
    'common.replication_factor',
    'common.instance_addr',
    'common.ring',
    'ingester.autoforget_unhealthy',
    'ruler.enable_sharding',
    'frontend',
    'frontend_worker',
  ],
  mimir: [
    'memberlist',
    ...['ingester.ring', 'store_gateway.sharding_ring'].flatMap((ring) =>
      ['instance_addr', 'instance_id', 'replication_factor', 'zone_awareness_enabled', 'instance_availability_zone'].map(
        (key) => `${ring}.${key}`,
      ),
    ),
    'distributor.ring',
    'compactor.sharding_ring',
    'ruler.ring',
    'frontend.address',
  ],
};

const RENDER: Record<Clustered, (input: RenderInput) => string> = { mimir: renderMimirConfig, loki: renderLokiConfig };

/** `doc` without the value at each dotted path, and without the objects that leaves empty. */
function without(doc: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
  for (const path of paths) {
    const keys = path.split('.');
    const parents = [copy];
    for (const key of keys.slice(0, -1)) parents.push((parents[parents.length - 1]?.[key] ?? {}) as Record<string, unknown>);
    delete parents[parents.length - 1][keys[keys.length - 1]];
    for (let i = parents.length - 1; i > 0 && Object.keys(parents[i]).length === 0; i--) delete parents[i - 1][keys[i - 1]];
  }
  return copy;
}

describe.each(BACKENDS_CLUSTERED)('the rendered %s config', (service) => {
  const render = (replicas: number, zones: number) => RENDER[service](replicasOf(service, replicas, zones));

  test('with one replica holds no task placeholder and does not depend on the zones', () => {
    const text = render(1, 2);
    for (const placeholder of Object.values(TASK_PLACEHOLDERS)) expect(text).not.toContain(placeholder);
    expect(render(1, 3)).toBe(text);
    expect(parse(text).memberlist).toBeUndefined();
  });

  test.each([2, 3])('with replicas over %d zones changes only the cluster settings', (zones) => {
    const single = parse(render(1, zones)) as Record<string, unknown>;
    const clustered = parse(render(3, zones)) as Record<string, unknown>;
    expect(clustered).not.toEqual(single);
    expect(without(clustered, CLUSTER_SETTINGS[service])).toEqual(without(single, CLUSTER_SETTINGS[service]));
  });

  test('with replicas does not depend on storage.durability: replicas keep their WAL on task storage', () => {
    const efs = RENDER[service](replicasOf(service, 3, 2, { storage: { durability: 'efs' } }));
    expect(efs).toBe(RENDER[service](replicasOf(service, 3, 2, { storage: { durability: 'ephemeral' } })));
  });

  test('with replicas holds the zone placeholder only over 3 zones or more', () => {
    expect(render(3, 2)).toContain(TASK_PLACEHOLDERS.address);
    expect(render(3, 2)).not.toContain(TASK_PLACEHOLDERS.availabilityZone);
    expect(render(3, 3)).toContain(TASK_PLACEHOLDERS.availabilityZone);
  });
});
