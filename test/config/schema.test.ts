import { canonicalCidr } from '../../lib/config/cidr';
import { ConfigError, loadConfig, mergeConfig } from '../../lib/config/load';
import { tenantIdProblem } from '../../lib/config/schema';

function problemsOf(values: unknown): string[] {
  try {
    loadConfig([{ origin: 'test.json', values }]);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('defaults reproduce the seed', () => {
  const config = loadConfig([]);

  test('tenants, retention and storage', () => {
    expect(config.tenants.allowed).toEqual(['aws-rag-ec2', 'aws-rag-cloudwatch', 'aws-rag-rds']);
    expect(config.tenants.ec2Default).toBe('aws-rag-ec2');
    expect(config.tenants.cloudwatchMetrics).toBe('aws-rag-cloudwatch');
    expect(config.tenants.cloudwatchLogs).toBe('aws-rag-rds');
    expect(config.retention.metricsDays).toBe(365);
    expect(config.storage.bucketName).toBeUndefined();
    expect(config.storage.durability).toBe('ephemeral');
  });

  test('a new VPC, internal Grafana, tag keys', () => {
    expect(config.network.vpc.mode).toBe('create');
    expect(config.grafana.internetFacing).toBe(false);
    expect(config.tags).toEqual({ tenant: 'lgtm:tenant', optOut: 'lgtm:opt-out' });
  });

  test('every image is pinned', () => {
    for (const image of Object.values(config.images)) expect(image).toMatch(/:v?[0-9][\w.-]*$|@sha256:/);
  });
});

describe('rejected values name the field and the value', () => {
  test.each([
    [{ tenants: { allowed: ['aws-rag-ec2', 'bad tenant!'] } }, 'tenants.allowed[1]', '"bad tenant!"'],
    [{ tenants: { allowed: ['a|b'] } }, 'tenants.allowed[0]', '"a|b"'],
    [{ tenants: { allowed: ['..'] } }, 'tenants.allowed[0]', '".."'],
    [{ tenants: { allowed: ['x'.repeat(129)] } }, 'tenants.allowed[0]', 'xxxx'],
    [{ tenants: { ec2Default: 'not-listed' } }, 'tenants.ec2Default', '"not-listed"'],
    [{ retention: { metricsDays: 0 } }, 'retention.metricsDays', '0'],
    [{ retention: { logsDays: -5 } }, 'retention.logsDays', '-5'],
    [{ retention: { tracesDays: 1.5 } }, 'retention.tracesDays', '1.5'],
    [{ retention: { containerLogsDays: 31 } }, 'retention.containerLogsDays', '31'],
    [{ ingest: { allowedCidrs: ['10.0.0.0/33'] } }, 'ingest.allowedCidrs[0]', '"10.0.0.0/33"'],
    [{ ingest: { allowedCidrs: ['300.0.0.0/8'] } }, 'ingest.allowedCidrs[0]', '"300.0.0.0/8"'],
    [{ network: { vpc: { mode: 'create', cidr: 'banana' } } }, 'network.vpc.cidr', '"banana"'],
    [
      { network: { vpc: { mode: 'create', cidr: '10.0.0.1/16' } } },
      'network.vpc.cidr',
      '"10.0.0.1/16" has host bits set: write the block as 10.0.0.0/16',
    ],
    [{ ingest: { allowedCidrs: ['192.168.1.77/24'] } }, 'ingest.allowedCidrs[0]', 'write the block as 192.168.1.0/24'],
    [{ services: { mimir: { cpu: 1024, memoryMiB: 1000 } } }, 'services.mimir', 'memoryMiB 1000'],
    [{ services: { loki: { cpu: 300 } } }, 'services.loki', 'cpu 300'],
    [{ images: { mimir: 'grafana/mimir:latest' } }, 'images.mimir', 'grafana/mimir:latest'],
    [{ images: { loki: 'grafana/loki' } }, 'images.loki', '"grafana/loki"'],
    [{ storage: { bucketName: 'Not_A_Bucket' } }, 'storage.bucketName', '"Not_A_Bucket"'],
    [{ storage: { durability: 'nfs' } }, 'storage.durability', '"nfs"'],
    [{ grafana: { internetFacing: true, allowedCidrs: ['0.0.0.0/0'] } }, 'grafana.certificateArn', 'HTTPS'],
    [{ stackName: '1stack' }, 'stackName', '"1stack"'],
    [{ tags: { tenant: 'same', optOut: 'same' } }, 'tags.optOut', '"same"'],
  ])('%j → %s', (values, field, value) => {
    const problems = problemsOf(values);
    const problem = problems.find((p) => p.startsWith(`${field}:`));
    expect(problem).toBeDefined();
    expect(problem).toContain(value);
  });

  test('an unknown key is an error, with a suggestion for a typo', () => {
    expect(problemsOf({ retention: { metricDays: 30 } })).toEqual(['retention.metricDays: unknown key (did you mean "metricsDays"?)']);
    expect(problemsOf({ tenant: {} })).toEqual(['tenant: unknown key (did you mean "tenants"?)']);
    expect(problemsOf({ grafana: { zzz: 1 } })[0]).toMatch(/^grafana\.zzz: unknown key \(known keys: .*internetFacing/);
  });

  test('an imported VPC needs its IDs, named one by one', () => {
    const problems = problemsOf({ network: { vpc: { mode: 'import' } } });
    expect(problems).toEqual(
      expect.arrayContaining([
        'network.vpc.vpcId: required (expected string)',
        'network.vpc.vpcCidr: required (expected string)',
        'network.vpc.privateSubnetIds: required (expected array)',
      ]),
    );
  });

  test('the error message lists every problem and the source', () => {
    expect(() =>
      loadConfig([{ origin: 'prod.json', values: { retention: { metricsDays: 0 }, tenants: { allowed: ['bad tenant!'] } } }]),
    ).toThrow(/invalid configuration \(from prod\.json\):\n {2}- .*\n {2}- /);
  });

  test('a source that is not an object is refused', () => {
    expect(() => loadConfig([{ origin: 'x.json', values: [1, 2] }])).toThrow(/x\.json: expected a JSON object/);
  });
});

describe('replicas', () => {
  test('every service runs one task by default', () => {
    const { services } = loadConfig([]);
    for (const service of ['mimir', 'loki', 'tempo', 'grafana', 'memcached'] as const) expect(services[service].replicas).toBe(1);
  });

  test.each([
    ['mimir', 3],
    ['mimir', 30],
    ['loki', 3],
    ['loki', 30],
    ['memcached', 8],
  ] as const)('%s with %d replicas is accepted, the other services keep one', (service, replicas) => {
    const { services } = loadConfig([{ origin: 'test.json', values: { services: { [service]: { replicas } } } }]);
    expect(services[service].replicas).toBe(replicas);
    const others = (['mimir', 'loki', 'memcached'] as const).filter((other) => other !== service);
    for (const other of others) expect(services[other].replicas).toBe(1);
  });

  test.each([
    [{ mimir: { replicas: 2 } }, 'services.mimir.replicas', 'every write needs both', 2],
    [{ loki: { replicas: 2 } }, 'services.loki.replicas', 'every write needs both', 2],
    [{ mimir: { replicas: 31 } }, 'services.mimir.replicas', 'at most 30', 31],
    [{ loki: { replicas: 0 } }, 'services.loki.replicas', '>=1', 0],
    [{ loki: { replicas: 3.5 } }, 'services.loki.replicas', 'int', 3.5],
    [{ memcached: { replicas: 9 } }, 'services.memcached.replicas', 'at most 8', 9],
    [{ tempo: { replicas: 3 } }, 'services.tempo.replicas', 'Tempo runs as one replica', 3],
    [{ grafana: { replicas: 3 } }, 'services.grafana.replicas', 'Grafana runs as one replica', 3],
  ])('%j is refused, naming %s and why', (services, field, reason, value) => {
    const problems = problemsOf({ services });
    expect(problems).toHaveLength(1);
    expect(problems[0].startsWith(`${field}: `)).toBe(true);
    expect(problems[0]).toContain(reason);
    expect(problems[0]).toContain(`(got ${value})`);
  });

  test('2 replicas are refused with the choices that work', () => {
    expect(problemsOf({ services: { loki: { replicas: 2 } } })[0]).toContain('use 1, or 3 or more');
  });

  test('efs durability with replicas is accepted (the replicas keep their WAL on task storage)', () => {
    const values = {
      storage: { durability: 'efs' },
      services: { mimir: { replicas: 3 }, loki: { replicas: 5 }, memcached: { replicas: 3 } },
    };
    const config = loadConfig([{ origin: 'test.json', values }]);
    expect(config.storage.durability).toBe('efs');
    expect([config.services.mimir.replicas, config.services.loki.replicas]).toEqual([3, 5]);
  });
});

describe('tenant IDs', () => {
  test.each(['aws-rag-ec2', 'team_a', 'a.b', 'A1'])('%s is accepted', (id) => expect(tenantIdProblem(id)).toBeUndefined());
  test.each(['', 'has space', 'a|b', 'slash/no', '.', '..', '__mimir_cluster', 'ünïcode'])('%j is rejected', (id) =>
    expect(tenantIdProblem(id)).toBeDefined(),
  );
});

describe('merging sources', () => {
  test('objects merge key by key; arrays and scalars replace', () => {
    expect(mergeConfig({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: 2 })).toEqual({ a: { b: 1, c: [3] }, d: 2 });
  });

  test('later sources win', () => {
    const config = loadConfig([
      { origin: 'context', values: { retention: { metricsDays: 30, logsDays: 7 } } },
      { origin: 'file', values: { retention: { metricsDays: 60 } } },
    ]);
    expect(config.retention.metricsDays).toBe(60);
    expect(config.retention.logsDays).toBe(7);
  });
});

describe('canonicalCidr', () => {
  test.each([
    ['10.0.0.1/16', '10.0.0.0/16'],
    ['10.40.0.0/16', '10.40.0.0/16'],
    ['255.255.255.255/0', '0.0.0.0/0'],
    ['203.0.113.7/32', '203.0.113.7/32'],
    ['172.31.255.255/12', '172.16.0.0/12'],
  ])('%s → %s', (value, canonical) => {
    expect(canonicalCidr(value)).toBe(canonical);
  });
  test('is undefined for an invalid block', () => {
    expect(canonicalCidr('10.0.0.0/33')).toBeUndefined();
  });
});

describe('the tenant-binding gateway (ingest.tenantBinding)', () => {
  /** An existing VPC with two private subnets and their route tables. */
  const pair = (kind: string) => [`${kind}-0abcdef01`, `${kind}-0abcdef02`];
  const subnets = {
    availabilityZones: ['us-east-1a', 'us-east-1b'],
    privateSubnetIds: pair('subnet'),
    privateSubnetRouteTableIds: pair('rtb'),
  };
  const importedVpc = { mode: 'import', vpcId: 'vpc-0abcdef01', vpcCidr: '10.2.0.0/16', ...subnets };

  test('enforced by default, by two nginx tasks of 0.25 vCPU and 0.5 GB from ECR Public', () => {
    const config = loadConfig([]);
    expect(config.ingest.tenantBinding).toBe('enforce');
    expect(config.images.gateway).toBe('public.ecr.aws/docker/library/nginx:1.30.6-alpine');
    expect(config.services.gateway).toEqual({ cpu: 256, memoryMiB: 512, replicas: 2 });
  });

  test.each([
    [1, 'services.gateway.replicas: at least 2 gateway tasks'],
    [11, 'services.gateway.replicas: at most 10 gateway tasks'],
  ])('%i gateway tasks are refused', (replicas, message) => {
    expect(problemsOf({ services: { gateway: { replicas } } }).join('\n')).toContain(message);
  });

  test('works with any network and bucket: the gateway needs no look-up', () => {
    for (const values of [
      { ingest: { tenantBinding: true }, network: { vpc: importedVpc } },
      { ingest: { tenantBinding: true }, storage: { bucketName: 'rag-mimir-pos-s3', importBucket: true } },
    ]) {
      expect(loadConfig([{ origin: 'test', values }]).ingest.tenantBinding).toBe('enforce');
    }
  });

  test.each([
    ['enforce', 'enforce'],
    ['migrate', 'migrate'],
    ['off', 'off'],
    [true, 'enforce'],
    [false, 'off'],
  ])('%p is the mode %p', (tenantBinding, mode) => {
    expect(loadConfig([{ origin: 'test', values: { ingest: { tenantBinding } } }]).ingest.tenantBinding).toBe(mode);
  });

  test.each(['on', 'Enforce', '', 1, null])('%p is refused, naming the field and the modes', (tenantBinding) => {
    const problems = problemsOf({ ingest: { tenantBinding } }).join('\n');
    expect(problems).toContain('ingest.tenantBinding');
    expect(problems).toContain('"enforce"');
  });
});
