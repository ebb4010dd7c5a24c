import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { BackendService, type BackendServiceProps, oneExtraTaskPercent } from '../../lib/backend-service';
import { Loki } from '../../lib/components/loki';
import { Memcached } from '../../lib/components/memcached';
import { Mimir } from '../../lib/components/mimir';
import { readTaskValueCommands } from '../../lib/config-delivery';
import { BACKENDS } from '../../lib/render/catalog';
import { MEMBERLIST_PORT, TASK_PLACEHOLDERS, type TaskValue } from '../../lib/render/cluster';
import { renderLokiConfig } from '../../lib/render/loki';
import { renderMimirConfig } from '../../lib/render/mimir';
import { componentBasics, containerNamed, logicalIdOf, resourcesOf, testConfig, testStack } from '../helpers';

const CLUSTERED = {
  mimir: { construct: Mimir, id: 'Mimir', render: renderMimirConfig, ringPageUrl: 'http://mimir.test.internal:8080/ingester/ring' },
  loki: { construct: Loki, id: 'Loki', render: renderLokiConfig, ringPageUrl: 'http://loki.test.internal:3100/ring' },
} as const;
type Clustered = keyof typeof CLUSTERED;

/** Mimir or Loki alone, with its config rendered for `replicas` over `availabilityZones` zones. */
function backend(service: Clustered, replicas: number, availabilityZones = 2): { template: Template; configFile: string } {
  const stack = testStack();
  const config = testConfig({ services: { [service]: { replicas } } });
  const { construct, id, render } = CLUSTERED[service];
  const configFile = render({
    config,
    deploy: { region: 'eu-west-1', bucketName: 'data-bucket', urlSuffix: 'amazonaws.com', availabilityZones },
  });
  new construct(stack, id, {
    ...componentBasics(stack),
    parameterPrefix: '/Test',
    image: config.images[service],
    size: config.services[service],
    replicas,
    bucket: new s3.Bucket(stack, 'Bucket'),
    configFile,
  });
  return { template: Template.fromStack(stack), configFile };
}

/** The one ECS service's properties. */
function serviceOf(template: Template): Record<string, unknown> {
  const services = Object.values(resourcesOf(template, 'AWS::ECS::Service'));
  expect(services).toHaveLength(1);
  return services[0].Properties;
}

/** Ports the service's security group accepts from itself, as `from-to/protocol`. */
function selfIngress(template: Template, prefix: string): string[] {
  const group = JSON.stringify({ 'Fn::GetAtt': [logicalIdOf(template, 'AWS::EC2::SecurityGroup', prefix), 'GroupId'] });
  return Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress'))
    .map((rule) => rule.Properties)
    .filter((rule) => JSON.stringify(rule.GroupId) === group && JSON.stringify(rule.SourceSecurityGroupId) === group)
    .map((rule) => `${rule.FromPort}-${rule.ToPort}/${rule.IpProtocol}`)
    .sort();
}

/** Where in the init container's command `value` is read from the task metadata and written into the config, or `undefined`. */
function taskValueSteps(command: string, service: Clustered, value: TaskValue): { read: number; written: number } | undefined {
  const description = `${service} task ${value === 'address' ? 'address' : 'availability zone'}`;
  const file = `/config/${BACKENDS[service].configFile}`;
  for (const variable of new Set(command.match(/VALUE_[0-9]+/g) ?? [])) {
    const read = command.indexOf(readTaskValueCommands(variable, value, description).join(' && '));
    if (read < 0) continue;
    // The file's one awk program, which writes this variable in place of the placeholder.
    const program = command.indexOf(`awk '`, read);
    const assignment = command.indexOf(`= "${TASK_PLACEHOLDERS[value]}"; v[`, program);
    const writes = command.indexOf(`val("${variable}", "${description}")`, assignment);
    const into = command.indexOf(`' ${file} > ${file}.tmp`, writes);
    return { read, written: program >= 0 && assignment > program && writes > assignment && into > writes ? program : -1 };
  }
  return undefined;
}

describe.each(Object.keys(CLUSTERED) as Clustered[])('%s', (service) => {
  const prefix = `${CLUSTERED[service].id}Backend`;
  let single: Template;
  let three: Template;
  beforeAll(() => {
    single = backend(service, 1).template;
    three = backend(service, 3).template;
  });

  test('one replica: one task, stopped before its replacement starts, never rebalanced', () => {
    const properties = serviceOf(single);
    expect(properties.DesiredCount).toBe(1);
    expect(properties.DeploymentConfiguration).toMatchObject({ MinimumHealthyPercent: 0, MaximumPercent: 100 });
    expect(properties.AvailabilityZoneRebalancing).toBeUndefined();
  });

  test('three replicas: replaced one at a time with the others serving, spread over the zones', () => {
    const properties = serviceOf(three);
    expect(properties.DesiredCount).toBe(3);
    expect(properties.DeploymentConfiguration).toMatchObject({ MinimumHealthyPercent: 100, MaximumPercent: 134 });
    expect(properties.AvailabilityZoneRebalancing).toBe('ENABLED');
  });

  test('three replicas reach each other on gRPC and memberlist; one replica opens nothing to itself', () => {
    expect(selfIngress(three, `${prefix}SecurityGroup`)).toEqual(
      [BACKENDS[service].grpcPort, MEMBERLIST_PORT].map((port) => `${port}-${port}/tcp`).sort(),
    );
    expect(selfIngress(single, `${prefix}SecurityGroup`)).toEqual([]);
  });

  test('one Cloud Map name with A records for every replica: ECS registers each task under it', () => {
    for (const template of [single, three]) {
      const registries = Object.values(resourcesOf(template, 'AWS::ServiceDiscovery::Service'));
      expect(registries).toHaveLength(1);
      expect(registries[0].Properties).toMatchObject({
        Name: service,
        DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }], RoutingPolicy: 'MULTIVALUE' },
      });
      expect(serviceOf(template).ServiceRegistries).toHaveLength(1);
    }
  });

  test('one replica: the init container reads nothing from the task metadata', () => {
    const command = (containerNamed(single, prefix, 'config-init').Command as string[])[0];
    expect(command).not.toContain('ECS_CONTAINER_METADATA_URI_V4');
  });

  test.each([
    [2, false],
    [3, true],
  ])('three replicas over %d zones: the init container writes in the task address, and its zone: %s', (zones, withZone) => {
    const { template, configFile } = backend(service, 3, zones);
    expect(configFile.includes(TASK_PLACEHOLDERS.availabilityZone)).toBe(withZone);
    const command = (containerNamed(template, prefix, 'config-init').Command as string[])[0];
    const fileWritten = command.indexOf(`> /config/${BACKENDS[service].configFile}`);
    expect(fileWritten).toBeGreaterThanOrEqual(0);
    const address = taskValueSteps(command, service, 'address');
    expect(address?.read).toBeGreaterThan(fileWritten);
    expect(address?.written).toBeGreaterThan(address?.read ?? Number.POSITIVE_INFINITY);
    const zone = taskValueSteps(command, service, 'availabilityZone');
    if (withZone) expect(zone?.written).toBeGreaterThan(zone?.read ?? Number.POSITIVE_INFINITY);
    else expect(zone).toBeUndefined();
  });
});

describe.each(Object.keys(CLUSTERED) as Clustered[])('%s ring entries of stopped tasks', (service) => {
  const { id, ringPageUrl } = CLUSTERED[service];
  const httpPort = BACKENDS[service].httpPort;
  const ringForgetFunctions = (template: Template) =>
    Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).filter(([logicalId]) => logicalId.startsWith(`${id}RingForget`));
  let three: Template;
  beforeAll(() => {
    three = backend(service, 3).template;
  });

  test('three replicas: a function in the VPC posts to the ring page on the service’s Cloud Map name', () => {
    const functions = ringForgetFunctions(three);
    expect(functions).toHaveLength(1);
    expect(functions[0]?.[1].Properties).toMatchObject({
      Environment: {
        Variables: expect.objectContaining({ POWERTOOLS_SERVICE_NAME: 'lgtm-fleet-ring-forget', RING_PAGE_URL: ringPageUrl }),
      },
      VpcConfig: {
        SecurityGroupIds: [{ 'Fn::GetAtt': [logicalIdOf(three, 'AWS::EC2::SecurityGroup', `${id}RingForgetSecurityGroup`), 'GroupId'] }],
      },
    });
  });

  test('three replicas: its rule takes the STOPPED task state changes of this service only, in its cluster', () => {
    const rules = Object.values(resourcesOf(three, 'AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties.EventPattern).toEqual({
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: {
        clusterArn: [{ 'Fn::GetAtt': [logicalIdOf(three, 'AWS::ECS::Cluster', 'Cluster'), 'Arn'] }],
        group: [
          { 'Fn::Join': ['', ['service:', { 'Fn::GetAtt': [logicalIdOf(three, 'AWS::ECS::Service', `${id}BackendService`), 'Name'] }]] },
        ],
        lastStatus: ['STOPPED'],
      },
    });
  });

  test('three replicas: its security group reaches the service’s HTTP port and nothing else', () => {
    const own = { 'Fn::GetAtt': [logicalIdOf(three, 'AWS::EC2::SecurityGroup', `${id}RingForgetSecurityGroup`), 'GroupId'] };
    const backendGroup = { 'Fn::GetAtt': [logicalIdOf(three, 'AWS::EC2::SecurityGroup', `${id}BackendSecurityGroup`), 'GroupId'] };
    const egress = Object.values(resourcesOf(three, 'AWS::EC2::SecurityGroupEgress'))
      .map((rule) => rule.Properties)
      .filter((rule) => JSON.stringify(rule.GroupId) === JSON.stringify(own));
    expect(egress).toEqual([
      {
        GroupId: own,
        DestinationSecurityGroupId: backendGroup,
        IpProtocol: 'tcp',
        FromPort: httpPort,
        ToPort: httpPort,
        Description: expect.any(String),
      },
    ]);
    const group = resourcesOf(three, 'AWS::EC2::SecurityGroup')[own['Fn::GetAtt'][0] as string].Properties;
    // No inline egress either: the rule above is all it may send.
    expect(group).toEqual({ GroupDescription: `lgtm-fleet ${id} ring-forget function`, VpcId: expect.anything() });
  });

  test('one replica: no function, no rule, no queue', () => {
    const { template } = backend(service, 1);
    expect(ringForgetFunctions(template)).toEqual([]);
    template.resourceCountIs('AWS::Events::Rule', 0);
    template.resourceCountIs('AWS::SQS::Queue', 0);
  });
});

describe('memcached', () => {
  function memcached(replicas?: number): Record<string, unknown> {
    const stack = testStack();
    const config = testConfig();
    new Memcached(stack, 'Memcached', {
      ...componentBasics(stack),
      image: config.images.memcached,
      size: config.services.memcached,
      replicas,
    });
    return serviceOf(Template.fromStack(stack));
  }

  test('one node by default, rolled with a fresh task started first', () => {
    const properties = memcached();
    expect(properties.DesiredCount).toBe(1);
    expect(properties.DeploymentConfiguration).toMatchObject({ MinimumHealthyPercent: 100, MaximumPercent: 200 });
    expect(properties.AvailabilityZoneRebalancing).toBeUndefined();
  });

  test('four nodes, rolled one at a time and spread over the zones', () => {
    const properties = memcached(4);
    expect(properties.DesiredCount).toBe(4);
    expect(properties.DeploymentConfiguration).toMatchObject({ MinimumHealthyPercent: 100, MaximumPercent: 125 });
    expect(properties.AvailabilityZoneRebalancing).toBe('ENABLED');
  });
});

describe('oneExtraTaskPercent', () => {
  test.each([1, 2, 3, 5, 7, 30])('lets %d replicas run exactly one extra task during a deployment', (replicas) => {
    const percent = oneExtraTaskPercent(replicas);
    expect(Number.isInteger(percent)).toBe(true);
    // ECS runs at most floor(desired × maximumPercent / 100) tasks.
    expect(Math.floor((replicas * percent) / 100)).toBe(replicas + 1);
  });
});

describe('BackendService replicas', () => {
  /** A plain service `svc` with these props, on `basics` (a new test network unless given). */
  function service(stack: Stack, props: Partial<BackendServiceProps>, basics = componentBasics(stack)): BackendService {
    return new BackendService(stack, 'Svc', {
      ...basics,
      serviceName: 'svc',
      image: 'example/image:1.0.0',
      size: { cpu: 256, memoryMiB: 512 },
      ports: [8080],
      ...props,
    });
  }

  test('several replicas roll on task storage', () => {
    const stack = testStack();
    service(stack, { replicas: 3, deployment: 'rolling', data: { kind: 'ephemeral', path: '/data', uid: 10001 } });
    expect(serviceOf(Template.fromStack(stack)).DesiredCount).toBe(3);
  });

  test('several replicas cannot be single writers', () => {
    expect(() => service(testStack(), { replicas: 3 })).toThrow(
      'svc has 3 replicas: a single-writer deployment runs one task only, use rolling',
    );
    expect(() => service(testStack(), { replicas: 3, deployment: 'single-writer' })).toThrow(/single-writer/);
  });

  test('several replicas cannot share a data directory on EFS', () => {
    const stack = testStack();
    const basics = componentBasics(stack);
    const fileSystem = new efs.FileSystem(stack, 'FileSystem', { vpc: basics.cluster.vpc });
    expect(() =>
      service(stack, { replicas: 3, deployment: 'rolling', data: { kind: 'efs', path: '/data', uid: 10001, fileSystem } }, basics),
    ).toThrow('svc has 3 replicas: they cannot share one data directory on EFS');
  });

  test.each([0, -1, 1.5])('%d replicas are refused, naming the value', (replicas) => {
    expect(() => service(testStack(), { replicas, deployment: 'rolling' })).toThrow(
      `replicas of svc must be a whole number of at least 1, got ${replicas}`,
    );
  });
});
