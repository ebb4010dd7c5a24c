import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { decodeConfig } from '../lambdas/shared/config-files';
import { AGENT_CREDENTIAL_PLACEHOLDER } from '../lambdas/shared/contract';
import { TASK_PLACEHOLDERS } from '../lib/render/cluster';
import { deadLetterQueuePlaceholder } from '../lib/render/grafana-alerts';
import { containerNamed, containersOf, logicalIdOf, nagViolations, resourcesOf, statementsOfRole, synthStack } from './helpers';
import { functionVariables } from './support/function-environment';

const SERVICES = ['mimir', 'loki', 'tempo', 'grafana', 'memcached'] as const;

/** Mimir and Loki as three-replica clusters, with three memcached nodes. */
const CLUSTERED = { services: { mimir: { replicas: 3 }, loki: { replicas: 3 }, memcached: { replicas: 3 } } };

/** An existing VPC as a user would describe it for `network.vpc.mode: import`. */
const IMPORTED_VPC = {
  mode: 'import',
  vpcId: 'vpc-0123456789abcdef0',
  vpcCidr: '10.1.0.0/16',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
  privateSubnetRouteTableIds: ['rtb-0123456789abcdef0', 'rtb-0123456789abcdef1'],
};

/**
 * Logical IDs of the default template's stateful and fixed-name resources. CloudFormation treats
 * a changed logical ID as a new resource: it creates the new one, then deletes the old one. A
 * table, bucket, file system or secret loses its contents that way, and a resource with a fixed
 * name (a parameter, the event bus, the namespace) cannot be created while the old one still holds
 * the name, so the update fails. Moving or renaming a construct changes the logical ID of every
 * resource below it: keep its construct path, or pin the old IDs (keepLogicalIds in
 * lib/lgtm-fleet-stack.ts). A new resource of these kinds is added here once, deliberately.
 */
const KEPT_LOGICAL_IDS: Record<string, readonly string[]> = {
  'AWS::DynamoDB::Table': ['EnrollmentClaims2B0C5D8D'],
  'AWS::S3::Bucket': ['StorageAccessLogs96FB524C', 'StorageData6BB23F4E'],
  'AWS::EFS::FileSystem': ['StateFileSystem2A7ED472'],
  'AWS::SecretsManager::Secret': [
    'GrafanaAdminPassword191CEB07',
    // Senders hold these: a new logical ID would replace the secret and its value.
    'GatewayWriteCredentialsawsragec2C61481DE',
    'GatewayWriteCredentialsawsragcloudwatchC6834BA2',
    'GatewayWriteCredentialsawsragrds53A65677',
    'GatewayAgentCredentialsawsragec29C77EE69',
    'GatewayAgentCredentialsawsragcloudwatchD6BA0767',
    'GatewayAgentCredentialsawsragrds59F37316',
  ],
  'AWS::SSM::Document': ['EnrollmentLinuxDocument1D9C17BB', 'EnrollmentWindowsDocumentC3144683'],
  'AWS::SSM::Parameter': [
    'GatewayBackendConfig09ABC173',
    'GatewayBackendConfigDeployed3695D171',
    'MimirBackendConfigB5F2E32E',
    'MimirBackendConfigDeployed04E5AC43',
    'LokiBackendConfig16B7E448',
    'LokiBackendConfigDeployedE4C2E95D',
    'TempoBackendConfig8F978DC7',
    'TempoBackendConfigDeployedF57405D3',
    'GrafanaBackendConfigtenantawsragec2yaml796B7C3A',
    'GrafanaBackendConfigtenantawsragec2yamlDeployed5F6132EB',
    'GrafanaBackendConfigtenantawsragcloudwatchyaml0038894F',
    'GrafanaBackendConfigtenantawsragcloudwatchyamlDeployedF4B723AA',
    'GrafanaBackendConfigtenantawsragrdsyaml88F3DF78',
    'GrafanaBackendConfigtenantawsragrdsyamlDeployed908B68A0',
    'GrafanaBackendConfigfederatedmimiryaml84249B5B',
    'GrafanaBackendConfigfederatedmimiryamlDeployedB894843A',
    'GrafanaBackendConfigfederatedlokiyaml49838307',
    'GrafanaBackendConfigfederatedlokiyamlDeployed0FCF1570',
    'GrafanaBackendConfigfederatedtempoyaml6F944C76',
    'GrafanaBackendConfigfederatedtempoyamlDeployed790EAEAE',
    'GrafanaBackendConfigstackmetricsyaml40571E41',
    'GrafanaBackendConfigstackmetricsyamlDeployed5C50B658',
    'GrafanaBackendConfigcloudwatchyaml6618591D',
    'GrafanaBackendConfigcloudwatchyamlDeployed881D8A90',
    'GrafanaBackendConfiglgtmfleetyaml0C821F97',
    'GrafanaBackendConfiglgtmfleetyamlDeployedC525906C',
    'GrafanaBackendConfigfleetoverviewjson4B34D675',
    'GrafanaBackendConfigfleetoverviewjsonDeployed3C4F258D',
    'GrafanaBackendConfiglinuxhostjson318E3414',
    'GrafanaBackendConfiglinuxhostjsonDeployed6DD87B62',
    'GrafanaBackendConfigwindowshostjsonD0EB28B1',
    'GrafanaBackendConfigwindowshostjsonDeployed75E3D310',
    'GrafanaBackendConfigrdsjsonA3CA73A7',
    'GrafanaBackendConfigrdsjsonDeployed400744A6',
    'GrafanaBackendConfigloadbalancersjson823FCC79',
    'GrafanaBackendConfigloadbalancersjsonDeployed91FEA1C9',
    'GrafanaBackendConfigelasticachejson7EBC6CC7',
    'GrafanaBackendConfigelasticachejsonDeployed2D732097',
    'GrafanaBackendConfigpipelinejson4783C2A3',
    'GrafanaBackendConfigpipelinejsonDeployedA5FBE2E9',
    'GrafanaBackendConfigstackhealthjson920C4B46',
    'GrafanaBackendConfigstackhealthjsonDeployed5EF27B22',
    'GrafanaBackendConfiglgtmfleetalertsyaml6F1E6AD1',
    'GrafanaBackendConfiglgtmfleetalertsyamlDeployed7B6B7B62',
    'CollectorBackendConfigD9546ECF',
    'CollectorBackendConfigDeployed0389A20F',
    'EnrollmentAgentawsragec2linuxDBFD9CBD',
    'EnrollmentAgentawsragec2windows37D67EB4',
    'EnrollmentAgentawsragcloudwatchlinuxC270ADF3',
    'EnrollmentAgentawsragcloudwatchwindowsBA2F078F',
    'EnrollmentAgentawsragrdslinuxFD89903D',
    'EnrollmentAgentawsragrdswindowsD85A2D69',
  ],
  'AWS::Events::EventBus': ['EventBus7B8748AA'],
  'AWS::ServiceDiscovery::PrivateDnsNamespace': ['NetworkNamespaceD3AAC531'],
  // Only log groups with a fixed name.
  'AWS::Logs::LogGroup': [],
};

describe('default configuration', () => {
  let template: Template;
  beforeAll(() => {
    template = synthStack().template;
  });

  test('one cluster with Container Insights and one private DNS namespace as the shared network', () => {
    template.resourceCountIs('AWS::ECS::Cluster', 1);
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
    template.resourceCountIs('AWS::ServiceDiscovery::PrivateDnsNamespace', 1);
    template.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', { Name: 'lgtm.internal' });
  });

  test('a new VPC with private subnets, one NAT gateway, an S3 gateway endpoint and flow logs', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('\\.s3$')])] }),
    });
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
  });

  test.each(SERVICES)('%s registers an A record in the namespace and runs on ARM64 Fargate', (name) => {
    template.hasResourceProperties('AWS::ServiceDiscovery::Service', {
      Name: name,
      DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }] },
    });
    const prefix = `${name[0].toUpperCase()}${name.slice(1)}Backend`;
    const taskId = logicalIdOf(template, 'AWS::ECS::TaskDefinition', prefix);
    const task = resourcesOf(template, 'AWS::ECS::TaskDefinition')[taskId].Properties;
    expect(task.RuntimePlatform).toEqual({ CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' });
    expect(task.RequiresCompatibilities).toEqual(['FARGATE']);
  });

  test.each([
    ['Mimir', 'mimir', [8080, 9095]],
    ['Loki', 'loki', [3100, 9096]],
    ['Tempo', 'tempo', [3200, 9097, 4317, 4318]],
    ['Grafana', 'grafana', [3000]],
    ['Memcached', 'memcached', [11211]],
  ])('%s container listens on its ports', (prefix, name, ports) => {
    const main = containerNamed(template, `${prefix}Backend`, name);
    expect((main.PortMappings as Array<{ ContainerPort: number }>).map((p) => p.ContainerPort)).toEqual(ports);
  });

  test.each(['Mimir', 'Loki', 'Tempo'])('%s: stop timeout 120 s, single writer, circuit breaker with rollback', (prefix) => {
    const main = containersOf(template, `${prefix}Backend`).find((c) => c.Essential === true) ?? {};
    expect(main.StopTimeout).toBe(120);
    const serviceId = logicalIdOf(template, 'AWS::ECS::Service', `${prefix}BackendService`);
    const service = resourcesOf(template, 'AWS::ECS::Service')[serviceId].Properties;
    expect(service.DeploymentConfiguration).toEqual({
      MinimumHealthyPercent: 0,
      MaximumPercent: 100,
      DeploymentCircuitBreaker: { Enable: true, Rollback: true },
    });
    expect(service.HealthCheckGracePeriodSeconds).toBe(180);
  });

  test('Mimir runs monolithic with its config file', () => {
    const main = containerNamed(template, 'MimirBackend', 'mimir');
    expect(main.Command).toEqual(['-config.file=/etc/mimir/mimir.yaml', '-target=all']);
  });

  test.each([
    ['Mimir', 'mimir', '/etc/mimir', 'mimir.yaml'],
    ['Loki', 'loki', '/etc/loki', 'loki.yaml'],
    ['Tempo', 'tempo', '/etc/tempo', 'tempo.yaml'],
  ])('%s config travels from Parameter Store through an init container, no shell needed in the image', (prefix, name, dir, file) => {
    // The task reads the stack's immutable copy of the config parameter (same value), never the parameter itself.
    const parameterId = logicalIdOf(template, 'AWS::SSM::Parameter', `${prefix}BackendConfigDeployed`);
    const parameters = resourcesOf(template, 'AWS::SSM::Parameter');
    const config = Object.values(parameters).find((p) => p.Properties.Name === `/LgtmFleet/config/${name}`);
    expect(config?.Properties.Type).toBe('String');
    expect(parameters[parameterId]?.Properties.Name).toMatch(new RegExp(`^/LgtmFleet/deployed/${name}/stack-[0-9a-f]{12}$`));
    expect(parameters[parameterId]?.Properties.Value).toEqual(config?.Properties.Value);
    const init = containerNamed(template, `${prefix}Backend`, 'config-init');
    const main = containerNamed(template, `${prefix}Backend`, name);
    expect(init.Essential).toBe(false);
    expect(init.Image).toMatch(/busybox/);
    expect(JSON.stringify(init.Secrets)).toContain(parameterId);
    expect((init.Command as string[])[0]).toContain(`> /config/${file}`);
    expect(main.DependsOn).toEqual([{ ContainerName: 'config-init', Condition: 'SUCCESS' }]);
    expect(main.MountPoints).toContainEqual({ SourceVolume: 'config', ContainerPath: dir, ReadOnly: true });
  });

  test('Grafana data sources, dashboards and alerts travel as parameters, each written into its directory before Grafana starts', () => {
    const names = Object.values(resourcesOf(template, 'AWS::SSM::Parameter'))
      .map((p) => p.Properties.Name as string)
      .filter((n) => n.startsWith('/LgtmFleet/config/grafana/'))
      .map((n) => n.replace('/LgtmFleet/config/grafana/', ''));
    expect(names).toEqual(
      expect.arrayContaining([
        'tenant-aws-rag-ec2',
        'tenant-aws-rag-cloudwatch',
        'tenant-aws-rag-rds',
        'federated-mimir',
        'federated-loki',
        'federated-tempo',
        'stack-metrics',
        'cloudwatch',
        'dashboards',
        'dashboard-fleet-overview.json',
        'dashboard-pipeline.json',
        'alerting',
      ]),
    );
    const init = containerNamed(template, 'GrafanaBackend', 'config-init');
    expect(init.Secrets as unknown[]).toHaveLength(names.length);
    const command = (init.Command as string[])[0];
    for (const file of [
      '/config/tenant-aws-rag-ec2.yaml',
      '/config/federated-mimir.yaml',
      'fleet-overview.json',
      'lgtm-fleet-alerts.yaml',
    ]) {
      expect(command).toContain(file);
    }
    const main = containerNamed(template, 'GrafanaBackend', 'grafana');
    expect(main.DependsOn).toEqual([{ ContainerName: 'config-init', Condition: 'SUCCESS' }]);
    const mounted = (main.MountPoints as Array<{ ContainerPath: string; ReadOnly: boolean }>)
      .filter((m) => m.ReadOnly)
      .map((m) => m.ContainerPath);
    expect(mounted.sort()).toEqual(
      [
        '/etc/grafana/dashboards',
        '/etc/grafana/provisioning/alerting',
        '/etc/grafana/provisioning/dashboards',
        '/etc/grafana/provisioning/datasources',
      ].sort(),
    );
  });

  test("the dead-letter alert watches both pipelines' queues, and Grafana may read CloudWatch metrics", () => {
    const alerting = Object.values(resourcesOf(template, 'AWS::SSM::Parameter')).find(
      (p) => p.Properties.Name === '/LgtmFleet/config/grafana/alerting',
    );
    // The file holds `{{` (stored encoded) and placeholders; the init container writes the queue names in.
    const file = decodeConfig(alerting?.Properties.Value as string);
    expect(file).toContain(deadLetterQueuePlaceholder(0));
    expect(file).toContain(deadLetterQueuePlaceholder(1));
    const init = containerNamed(template, 'GrafanaBackend', 'config-init');
    const environment = JSON.stringify(init.Environment);
    expect(environment).toContain(logicalIdOf(template, 'AWS::SQS::Queue', 'EnrollmentDeadLetterQueue'));
    expect(environment).toContain(logicalIdOf(template, 'AWS::SQS::Queue', 'RefreshDeadLetterQueue'));
    expect((init.Command as string[])[0]).toContain(deadLetterQueuePlaceholder(1));
    const statements = statementsOfRole(template, 'GrafanaBackendTaskTaskRole');
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics'], Resource: '*' }),
    );
  });

  test.each([
    ['Mimir', ['mimirblocks', 'mimirruler', 'mimiralertmanager']],
    ['Loki', ['loki']],
    ['Tempo', ['tempo']],
  ])('%s task role touches only its own bucket prefixes', (prefix, own) => {
    const statements = statementsOfRole(template, `${prefix}BackendTaskTaskRole`);
    const text = JSON.stringify(statements);
    const all = ['mimirblocks', 'mimirruler', 'mimiralertmanager', 'loki', 'tempo'];
    for (const p of all) {
      if (own.includes(p)) expect(text).toContain(`/${p}/*`);
      else expect(text).not.toContain(`/${p}/*`);
    }
    const list = statements.find((s) => s.Action === 's3:ListBucket');
    expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': own.flatMap((p) => [p, `${p}/*`]) } });
    // No bucket-wide object access and no wildcard actions.
    expect(text).not.toMatch(/"s3:\*"|"s3:List\*"|"s3:Get\*"/);
    for (const s of statements) {
      if (String(s.Action).startsWith('s3:Get') || (Array.isArray(s.Action) && s.Action.includes('s3:GetObject'))) {
        expect(JSON.stringify(s.Resource)).not.toMatch(/\.Arn"\]\},"\/\*"/);
      }
    }
  });

  test('stateful resources are kept on update and delete, but removed when the first create fails (a retry would hit "already exists")', () => {
    const stateful = [
      ...Object.values(resourcesOf(template, 'AWS::S3::Bucket')),
      ...Object.values(resourcesOf(template, 'AWS::EFS::FileSystem')),
    ];
    expect(stateful.length).toBe(3);
    for (const resource of stateful) {
      expect(resource.DeletionPolicy).toBe('RetainExceptOnCreate');
      expect(resource.UpdateReplacePolicy).toBe('Retain');
    }
  });

  test('Mimir and Loki are created only once memcached is stable: Mimir refuses to start while its name resolves to nothing', () => {
    const memcached = logicalIdOf(template, 'AWS::ECS::Service', 'MemcachedBackendService');
    for (const client of ['MimirBackendService', 'LokiBackendService']) {
      const service = resourcesOf(template, 'AWS::ECS::Service')[logicalIdOf(template, 'AWS::ECS::Service', client)];
      expect(service.DependsOn).toContain(memcached);
    }
  });

  test('the data bucket is encrypted, private, TLS-only, logged, versioned, with lifecycle rules', () => {
    const bucketId = logicalIdOf(template, 'AWS::S3::Bucket', 'StorageData');
    const bucket = resourcesOf(template, 'AWS::S3::Bucket')[bucketId];
    expect(bucket.Properties.BucketEncryption).toBeDefined();
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(bucket.Properties.LoggingConfiguration).toMatchObject({ LogFilePrefix: 's3/data/' });
    const rules = (bucket.Properties.LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }).Rules;
    expect(rules).toContainEqual(expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 } }));
    expect(rules).toContainEqual(expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } }));
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  test("the ingest load balancer is internal; with ingest.tenantBinding 'off' it routes each signal to its backend and health-checks /ready", () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internal',
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' }]),
    });
    // The default sends every route to the gateway (test/components/gateway.test.ts).
    const off = synthStack({ ingest: { tenantBinding: 'off' } }).template;
    const rules = Object.values(resourcesOf(off, 'AWS::ElasticLoadBalancingV2::ListenerRule')).map((r) => r.Properties);
    const pathsOf = (r: Record<string, unknown>) =>
      (r.Conditions as Array<{ PathPatternConfig?: { Values: string[] } }>).flatMap((c) => c.PathPatternConfig?.Values ?? []);
    expect(rules.map(pathsOf)).toEqual(
      expect.arrayContaining([['/api/v1/push', '/otlp/v1/metrics'], ['/loki/api/v1/push', '/otlp/v1/logs'], ['/v1/traces']]),
    );
    off.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 8080, HealthCheckPath: '/ready' });
    off.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 3100, HealthCheckPath: '/ready' });
    // Tempo takes OTLP on 4318 but answers /ready on its HTTP port.
    off.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 4318,
      HealthCheckPath: '/ready',
      HealthCheckPort: '3200',
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 3000, HealthCheckPath: '/api/health' });
  });

  test('load balancers accept traffic only from the VPC by default', () => {
    const ingress = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroup'))
      .filter((sg) => String(sg.Properties.GroupDescription).startsWith('lgtm-fleet') && sg.Properties.SecurityGroupIngress)
      .flatMap((sg) => sg.Properties.SecurityGroupIngress as Array<Record<string, unknown>>);
    expect(ingress.length).toBeGreaterThanOrEqual(2);
    for (const rule of ingress) {
      expect(rule.CidrIp).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^NetworkVpc/), 'CidrBlock'] });
      expect(rule.FromPort).toBe(80);
    }
  });

  test('backends accept connections only from the load balancers, Grafana, the collector and cache clients', () => {
    const rules = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    for (const rule of rules) {
      expect(rule.CidrIp).toBeUndefined();
      expect(rule.SourceSecurityGroupId).toBeDefined();
    }
    const memcachedSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'MemcachedBackendSecurityGroup');
    const toMemcached = rules.filter((r) => JSON.stringify(r.GroupId).includes(memcachedSg));
    expect(toMemcached.map((r) => JSON.stringify(r.SourceSecurityGroupId)).sort()).toEqual(
      [
        JSON.stringify({ 'Fn::GetAtt': [logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'LokiBackendSecurityGroup'), 'GroupId'] }),
        JSON.stringify({ 'Fn::GetAtt': [logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'MimirBackendSecurityGroup'), 'GroupId'] }),
        // memcached exporter inside the collector
        JSON.stringify({ 'Fn::GetAtt': [logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'CollectorBackendSecurityGroup'), 'GroupId'] }),
      ].sort(),
    );
    expect(toMemcached.every((r) => r.FromPort === 11211 && r.ToPort === 11211)).toBe(true);
  });

  test('the Grafana admin password comes from Secrets Manager and never appears in plain text', () => {
    const secretId = logicalIdOf(template, 'AWS::SecretsManager::Secret', 'GrafanaAdminPassword');
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ PasswordLength: 32 }),
    });
    const grafana = containerNamed(template, 'GrafanaBackend', 'grafana');
    expect(grafana.Secrets).toEqual([{ Name: 'GF_SECURITY_ADMIN_PASSWORD', ValueFrom: { Ref: secretId } }]);
    const env = grafana.Environment as Array<{ Name: string }>;
    expect(env.map((e) => e.Name)).not.toContain('GF_SECURITY_ADMIN_PASSWORD');
    expect(JSON.stringify(template.toJSON())).not.toContain('"Name":"GF_SECURITY_ADMIN_PASSWORD","Value"');
  });

  test('memcached is health-checked by a real stats round trip and keeps its cache below the task memory', () => {
    const main = containerNamed(template, 'MemcachedBackend', 'memcached');
    expect(JSON.stringify(main.HealthCheck)).toContain('stats');
    const command = main.Command as string[];
    const megabytes = Number(command[command.indexOf('-m') + 1]);
    expect(megabytes).toBeGreaterThan(0);
    expect(megabytes).toBeLessThan(1024);
  });

  test('container logs are kept 30 days by default', () => {
    const groups = Object.values(resourcesOf(template, 'AWS::Logs::LogGroup')).map((g) => g.Properties.RetentionInDays);
    expect(groups.length).toBeGreaterThanOrEqual(6);
    expect(new Set(groups)).toEqual(new Set([30]));
  });

  test('ephemeral durability: Mimir and Loki on task storage chowned for the unprivileged user; EFS for Tempo and the collector', () => {
    template.resourceCountIs('AWS::EFS::FileSystem', 1);
    expect(
      Object.values(resourcesOf(template, 'AWS::EFS::AccessPoint'))
        .map((a) => (a.Properties.RootDirectory as { Path: string }).Path)
        .sort(),
    ).toEqual(['/collector', '/tempo']);
    // Tempo 3.0 keeps live traces only in its WAL across a planned stop: the WAL must reach the replacement task.
    const tempoVolumes = resourcesOf(template, 'AWS::ECS::TaskDefinition')[
      logicalIdOf(template, 'AWS::ECS::TaskDefinition', 'TempoBackend')
    ].Properties.Volumes as Array<Record<string, unknown>>;
    expect(tempoVolumes.find((v) => v.Name === 'data')).toHaveProperty('EFSVolumeConfiguration');
    for (const backend of ['MimirBackend', 'LokiBackend']) {
      const volumes = resourcesOf(template, 'AWS::ECS::TaskDefinition')[logicalIdOf(template, 'AWS::ECS::TaskDefinition', backend)]
        .Properties.Volumes as Array<Record<string, unknown>>;
      expect(volumes.find((v) => v.Name === 'data')).not.toHaveProperty('EFSVolumeConfiguration');
    }
    const init = containerNamed(template, 'MimirBackend', 'config-init');
    expect((init.Command as string[])[0]).toContain('chown -R 10001:10001 /data');
    // Loki's ruler refuses to start without its rules directory.
    const lokiInit = containerNamed(template, 'LokiBackend', 'config-init');
    expect((lokiInit.Command as string[])[0]).toContain('mkdir -p /data/rules && chown -R 10001:10001 /data');
  });

  test('stateful and fixed-name resources keep their logical IDs', () => {
    const problems = Object.entries(KEPT_LOGICAL_IDS).flatMap(([type, kept]) => {
      const present = Object.entries(resourcesOf(template, type))
        .filter(([, resource]) => type !== 'AWS::Logs::LogGroup' || resource.Properties.LogGroupName !== undefined)
        .map(([id]) => id);
      const gone = kept.filter((id) => !present.includes(id));
      const unlisted = present.filter((id) => !kept.includes(id));
      return [
        ...(gone.length > 0 ? [`${type} no longer in the template: ${gone.join(', ')}`] : []),
        ...(unlisted.length > 0 ? [`${type} not in KEPT_LOGICAL_IDS: ${unlisted.join(', ')}`] : []),
      ];
    });
    if (problems.length > 0) {
      throw new Error(
        `${problems.join('\n')}\nA changed logical ID makes CloudFormation replace the resource: a table, bucket, file system or ` +
          'secret loses its data, and a resource with a fixed name fails to be created twice. Keep the construct path or pin the old ' +
          'ID (keepLogicalIds in lib/lgtm-fleet-stack.ts); list a new resource in KEPT_LOGICAL_IDS.',
      );
    }
  });

  test("the collector's UI/health port is open to Grafana only", () => {
    const collectorSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'CollectorBackendSecurityGroup');
    const ingress = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress'))
      .map((r) => r.Properties)
      .filter((r) => JSON.stringify(r.GroupId).includes(collectorSg));
    expect(ingress).toEqual([
      expect.objectContaining({
        FromPort: 12345,
        SourceSecurityGroupId: {
          'Fn::GetAtt': [logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'GrafanaBackendSecurityGroup'), 'GroupId'],
        },
      }),
    ]);
  });

  test('the collector may reach every service it scrapes or writes to', () => {
    const collectorSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'CollectorBackendSecurityGroup');
    const fromCollector = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress'))
      .map((r) => r.Properties)
      .filter((r) => JSON.stringify(r.SourceSecurityGroupId).includes(collectorSg))
      .map((r) => r.FromPort)
      .sort();
    // 2049: NFS to its own checkpoint file system.
    expect(fromCollector).toEqual([2049, 3000, 3100, 3200, 8080, 11211].sort());
  });

  test('config refresh rolls every service that has config parameters (not memcached), in the stack cluster', () => {
    const refresh = resourcesOf(template, 'AWS::Lambda::Function')[logicalIdOf(template, 'AWS::Lambda::Function', 'RefreshFunction')];
    const variables = (refresh.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    const services = JSON.stringify(variables.SERVICES);
    for (const name of ['mimir', 'loki', 'tempo', 'grafana', 'collector']) {
      expect(services).toContain(`\\"${name}\\":`);
      const prefix = `${name[0].toUpperCase()}${name.slice(1)}BackendService`;
      expect(services).toContain(logicalIdOf(template, 'AWS::ECS::Service', prefix));
    }
    expect(services).not.toContain('MemcachedBackendService');
    expect(variables.CLUSTER_ARN).toEqual({ 'Fn::GetAtt': [logicalIdOf(template, 'AWS::ECS::Cluster', 'NetworkCluster'), 'Arn'] });
  });

  test('enrollment and config refresh send the same agent documents', () => {
    const documents = Object.keys(resourcesOf(template, 'AWS::SSM::Document'));
    expect(documents).toHaveLength(2);
    for (const fn of ['EnrollmentEnrollFunction', 'EnrollmentStatusFunction', 'RefreshFunction']) {
      const variables = (
        resourcesOf(template, 'AWS::Lambda::Function')[logicalIdOf(template, 'AWS::Lambda::Function', fn)].Properties.Environment as {
          Variables: Record<string, unknown>;
        }
      ).Variables;
      expect([variables.LINUX_DOCUMENT_NAME, variables.WINDOWS_DOCUMENT_NAME]).toEqual([
        { Ref: logicalIdOf(template, 'AWS::SSM::Document', 'EnrollmentLinuxDocument') },
        { Ref: logicalIdOf(template, 'AWS::SSM::Document', 'EnrollmentWindowsDocument') },
      ]);
    }
  });

  test('outputs tell the operator where Grafana, its password and the ingest endpoint are', () => {
    const outputs = Object.keys(template.toJSON().Outputs);
    expect(outputs).toEqual(expect.arrayContaining(['GrafanaUrl', 'GrafanaAdminSecretArn', 'IngestUrl', 'DataBucketName']));
  });
});

describe('configuration variants', () => {
  test('an imported VPC with public subnets and their route tables synthesizes without a warning', () => {
    const publicSubnets = { publicSubnetIds: ['subnet-0123456789abcdef2', 'subnet-0123456789abcdef3'] };
    const warnings = (vpc: Record<string, unknown>) =>
      Annotations.fromStack(synthStack({ network: { vpc: { ...IMPORTED_VPC, ...vpc } } }).stack)
        .findWarning('*', Match.stringLikeRegexp('routeTableId'))
        .map((w) => w.id);
    expect(warnings(publicSubnets).length).toBe(2);
    expect(warnings({ ...publicSubnets, publicSubnetRouteTableIds: ['rtb-0123456789abcdef2', 'rtb-0123456789abcdef3'] })).toEqual([]);
    expect(() =>
      synthStack({ network: { vpc: { ...IMPORTED_VPC, ...publicSubnets, publicSubnetRouteTableIds: ['rtb-0123456789abcdef2'] } } }),
    ).toThrow('needs one route table per public subnet (2)');
  });

  test('an existing bucket can be used as it is: not created, not changed, its prefixes granted to the task roles', () => {
    const { template } = synthStack({ storage: { bucketName: 'rag-mimir-pos-s3', importBucket: true } });
    // Only the access-log bucket is created; no policy is written on the imported one.
    expect(Object.values(resourcesOf(template, 'AWS::S3::Bucket')).map((b) => b.Properties.BucketName)).toEqual([undefined]);
    expect(JSON.stringify(resourcesOf(template, 'AWS::S3::BucketPolicy'))).not.toContain('rag-mimir-pos-s3');
    const statements = JSON.stringify(statementsOfRole(template, 'MimirBackendTaskTaskRole'));
    expect(statements).toContain('arn:');
    expect(statements).toContain(':s3:::rag-mimir-pos-s3/mimirblocks/*');
    expect(JSON.stringify(template.toJSON().Outputs.DataBucketName.Value)).toContain('rag-mimir-pos-s3');
    expect(() => synthStack({ storage: { importBucket: true } })).toThrow('storage.importBucket needs the name of the bucket to use');
    expect(nagViolations({ storage: { bucketName: 'rag-mimir-pos-s3', importBucket: true } })).toEqual([]);
  });

  test('an enrollment scope reaches both the enroll and the reconcile function, and the output says who is in scope', () => {
    const { template } = synthStack({ enrollment: { scope: { tagKey: 'env', values: ['prod', 'staging'] } } });
    for (const fn of ['EnrollmentEnrollFunction', 'EnrollmentReconcileFunction']) {
      const variables = resourcesOf(template, 'AWS::Lambda::Function')[logicalIdOf(template, 'AWS::Lambda::Function', fn)].Properties
        .Environment as { Variables: Record<string, unknown> };
      expect(variables.Variables).toMatchObject({ SCOPE_TAG_KEY: 'env', SCOPE_TAG_VALUES: 'prod,staging' });
    }
    const scoped = template.toJSON().Outputs.EnrollmentScope.Value as string;
    expect(scoped).toContain('tagged env = prod,staging');
    expect(scoped).toContain('--filters Key=tag:env,Values=prod,staging');
    const everything = synthStack({}).template.toJSON().Outputs.EnrollmentScope.Value as string;
    expect(everything).toMatch(
      /^every running SSM-managed instance of the region not tagged lgtm:opt-out=true \(untagged ones into tenant aws-rag-ec2\)/,
    );
    expect(() => synthStack({ enrollment: { scope: { tagKey: 'env', values: ['a,b'] } } })).toThrow('a scope tag value cannot contain ","');
  });

  test('both dead-letter alarms announce themselves on the alarm topic, emailed when alarms.email is set', () => {
    const { template } = synthStack({ alarms: { email: 'oncall@example.com' } });
    const topic = logicalIdOf(template, 'AWS::SNS::Topic', 'Alarms');
    const alarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm')).filter((a) =>
      String(a.Properties.AlarmDescription).includes('dead-letter queue'),
    );
    expect(alarms).toHaveLength(2);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: topic },
    });
    expect(Object.keys(template.toJSON().Outputs)).toContain('AlarmTopicArn');
    // Without an address the topic is there for any subscriber, and nothing is emailed.
    const { template: plain } = synthStack({});
    plain.resourceCountIs('AWS::SNS::Subscription', 0);
    expect(() => synthStack({ alarms: { email: 'not-an-address' } })).toThrow('alarms.email must be an email address');
  });

  test('a contact point URL secret goes to the config init container only, which writes it into the alerting file', () => {
    const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lgtm/alert-webhook-AbCdEf';
    const { template } = synthStack({ grafana: { alertContactPoint: { type: 'webhook', urlSecretArn: secretArn } } });
    const init = containerNamed(template, 'GrafanaBackend', 'config-init');
    expect(init.Secrets).toEqual(expect.arrayContaining([{ Name: expect.stringMatching(/^VALUE_\d+$/), ValueFrom: secretArn }]));
    const command = (init.Command as string[])[0];
    expect(command).toMatch(/awk '.*' \/config-\d+\/lgtm-fleet-alerts\.yaml > \/config-\d+\/lgtm-fleet-alerts\.yaml\.tmp && mv /);
    // The command writes the file before rewriting it.
    expect(command.indexOf('lgtm-fleet-alerts.yaml')).toBeLessThan(command.indexOf("awk '"));
    const grafana = containerNamed(template, 'GrafanaBackend', 'grafana');
    expect(JSON.stringify(grafana.Secrets)).not.toContain(secretArn);
  });

  test('efs durability mounts an encrypted file system through per-service access points as uid 10001', () => {
    const { template } = synthStack({ storage: { durability: 'efs' } });
    template.hasResourceProperties('AWS::EFS::FileSystem', { Encrypted: true });
    template.hasResource('AWS::EFS::FileSystem', { DeletionPolicy: 'RetainExceptOnCreate' });
    for (const path of ['/mimir', '/loki', '/tempo']) {
      template.hasResourceProperties('AWS::EFS::AccessPoint', {
        RootDirectory: { Path: path, CreationInfo: { OwnerUid: '10001', OwnerGid: '10001', Permissions: '750' } },
        PosixUser: { Uid: '10001', Gid: '10001' },
      });
    }
    const taskId = logicalIdOf(template, 'AWS::ECS::TaskDefinition', 'MimirBackendTask');
    const volumes = resourcesOf(template, 'AWS::ECS::TaskDefinition')[taskId].Properties.Volumes as Array<Record<string, unknown>>;
    expect(volumes).toContainEqual(
      expect.objectContaining({
        Name: 'data',
        EFSVolumeConfiguration: expect.objectContaining({ TransitEncryption: 'ENABLED', AuthorizationConfig: expect.anything() }),
      }),
    );
    // Loki's rules directory is created through the access point, without chown.
    const lokiInit = containerNamed(template, 'LokiBackend', 'config-init');
    expect((lokiInit.Command as string[])[0]).toContain('mkdir -p /data/rules');
    expect((lokiInit.Command as string[])[0]).not.toContain('chown');
    expect(lokiInit.MountPoints).toContainEqual({ SourceVolume: 'data', ContainerPath: '/data', ReadOnly: false });
    const statements = statementsOfRole(template, 'MimirBackendTaskTaskRole');
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
        Condition: { StringEquals: { 'elasticfilesystem:AccessPointArn': expect.anything() } },
      }),
    );
  });

  test('an imported VPC is used as given: no VPC, NAT or context lookup', () => {
    const { template } = synthStack({ network: { vpc: IMPORTED_VPC } });
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.hasResourceProperties('AWS::ECS::Service', {
      NetworkConfiguration: {
        AwsvpcConfiguration: Match.objectLike({ Subnets: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'] }),
      },
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: 'lgtm-fleet telemetry ingest',
      SecurityGroupIngress: [Match.objectLike({ CidrIp: '10.1.0.0/16', FromPort: 80 })],
    });
  });

  test('configured ingest sources replace the VPC default', () => {
    const { template } = synthStack({
      ingest: { allowedCidrs: ['10.9.0.0/24'], allowedSecurityGroupIds: ['sg-0123456789abcdef0'] },
    });
    const ingestSg = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroup')).find(
      (sg) => sg.Properties.GroupDescription === 'lgtm-fleet telemetry ingest',
    );
    expect(ingestSg?.Properties.SecurityGroupIngress).toEqual([expect.objectContaining({ CidrIp: '10.9.0.0/24', FromPort: 80 })]);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      SourceSecurityGroupId: 'sg-0123456789abcdef0',
      FromPort: 80,
    });
  });

  test('an internet-facing Grafana is served over HTTPS only, with HTTP redirected', () => {
    const certificateArn = 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012';
    const { template } = synthStack({
      grafana: { internetFacing: true, certificateArn, allowedCidrs: ['203.0.113.0/24'], domainName: 'grafana.example.com' },
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: certificateArn }],
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Port: '443', Protocol: 'HTTPS' }) })],
    });
    const grafana = containerNamed(template, 'GrafanaBackend', 'grafana');
    expect(grafana.Environment).toContainEqual({ Name: 'GF_SERVER_ROOT_URL', Value: 'https://grafana.example.com' });
    expect(grafana.Environment).toContainEqual({ Name: 'GF_SECURITY_COOKIE_SECURE', Value: 'true' });
  });

  test('task sizes and retention come from the config', () => {
    const { template } = synthStack({ services: { mimir: { cpu: 2048, memoryMiB: 8192 } }, retention: { containerLogsDays: 90 } });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '2048', Memory: '8192', Family: Match.stringLikeRegexp('Mimir') });
    const groups = Object.values(resourcesOf(template, 'AWS::Logs::LogGroup')).map((g) => g.Properties.RetentionInDays);
    expect(groups).toContain(90);
  });

  test('without the collector: no collector service, and the file system holds only Tempo', () => {
    const { template: off } = synthStack({ collector: { enabled: false } });
    off.resourceCountIs('AWS::EFS::FileSystem', 1);
    expect(
      Object.values(resourcesOf(off, 'AWS::EFS::AccessPoint')).map((a) => (a.Properties.RootDirectory as { Path: string }).Path),
    ).toEqual(['/tempo']);
    const names = Object.values(resourcesOf(off, 'AWS::ServiceDiscovery::Service')).map((s) => s.Properties.Name);
    expect(names).not.toContain('collector');
  });

  test('a named data bucket uses that name', () => {
    const { template } = synthStack({ storage: { bucketName: 'rag-mimir-pos-s3' } });
    template.hasResourceProperties('AWS::S3::Bucket', { BucketName: 'rag-mimir-pos-s3' });
  });
});

describe('Mimir and Loki clusters and several memcached nodes', () => {
  /** The stored config file of `service`, as text (it holds the bucket name as a token). */
  const storedConfig = (template: Template, service: string) =>
    JSON.stringify(
      Object.values(resourcesOf(template, 'AWS::SSM::Parameter')).find((p) => p.Properties.Name === `/LgtmFleet/config/${service}`)
        ?.Properties.Value,
    );

  test('each clustered service runs three tasks; Tempo and Grafana keep one', () => {
    const { template } = synthStack(CLUSTERED);
    const counts = Object.fromEntries(
      ['Mimir', 'Loki', 'Memcached', 'Tempo', 'Grafana'].map((prefix) => [
        prefix,
        resourcesOf(template, 'AWS::ECS::Service')[logicalIdOf(template, 'AWS::ECS::Service', `${prefix}BackendService`)].Properties
          .DesiredCount,
      ]),
    );
    expect(counts).toEqual({ Mimir: 3, Loki: 3, Memcached: 3, Tempo: 1, Grafana: 1 });
    // Two zones (an environment-agnostic VPC): the configs carry the task address, not the zone.
    for (const service of ['mimir', 'loki']) {
      expect(storedConfig(template, service)).toContain(TASK_PLACEHOLDERS.address);
      expect(storedConfig(template, service)).not.toContain(TASK_PLACEHOLDERS.availabilityZone);
    }
  });

  test('with efs durability, clustered Mimir and Loki keep their state on task storage; Tempo keeps EFS', () => {
    const { template } = synthStack({ ...CLUSTERED, storage: { durability: 'efs' } });
    const paths = Object.values(resourcesOf(template, 'AWS::EFS::AccessPoint')).map(
      (a) => (a.Properties.RootDirectory as { Path: string }).Path,
    );
    expect(paths).toContain('/tempo');
    expect(paths).not.toContain('/mimir');
    expect(paths).not.toContain('/loki');
    const dataVolume = (prefix: string) =>
      (
        resourcesOf(template, 'AWS::ECS::TaskDefinition')[logicalIdOf(template, 'AWS::ECS::TaskDefinition', prefix)].Properties
          .Volumes as Array<Record<string, unknown>>
      ).find((v) => v.Name === 'data');
    for (const prefix of ['MimirBackendTask', 'LokiBackendTask']) expect(dataVolume(prefix)).not.toHaveProperty('EFSVolumeConfiguration');
    expect(dataVolume('TempoBackendTask')).toHaveProperty('EFSVolumeConfiguration');
  });

  test('over three zones the configs are zone-aware and the init container writes in the task zone', () => {
    const { template } = synthStack({
      ...CLUSTERED,
      env: { account: '123456789012', region: 'eu-west-1' },
      network: { vpc: { mode: 'create', maxAzs: 3 } },
    });
    for (const [prefix, service] of [
      ['Mimir', 'mimir'],
      ['Loki', 'loki'],
    ]) {
      expect(storedConfig(template, service)).toContain(TASK_PLACEHOLDERS.availabilityZone);
      const init = (containerNamed(template, `${prefix}Backend`, 'config-init').Command as string[])[0];
      expect(init).toContain('"AvailabilityZone"');
      expect(init).toContain(TASK_PLACEHOLDERS.availabilityZone);
    }
  });

  test('warns at synth when 3 zones were asked for but a stack without env gets 2 (replicas not zone-aware)', () => {
    const warnings = (values: Record<string, unknown>) =>
      Annotations.fromStack(synthStack(values).stack)
        .findWarning('*', Match.stringLikeRegexp('not zone-aware'))
        .map((w) => String(w.entry.data));
    const threeZones = { network: { vpc: { mode: 'create', maxAzs: 3 } } };
    expect(warnings({ ...CLUSTERED, ...threeZones })).toEqual([expect.stringContaining('network.vpc.maxAzs is 3')]);
    // Nothing to warn about: no replicas, the default 2 zones, or an environment that gets its 3 zones.
    expect(warnings(threeZones)).toEqual([]);
    expect(warnings(CLUSTERED)).toEqual([]);
    expect(warnings({ ...CLUSTERED, ...threeZones, env: { account: '123456789012', region: 'eu-west-1' } })).toEqual([]);
  });
});

describe('cdk-nag AwsSolutions', () => {
  test.each([
    ['default', {}],
    ['efs durability', { storage: { durability: 'efs' } }],
    ['three replicas of Mimir, Loki and memcached', CLUSTERED],
    ['three replicas with efs durability', { ...CLUSTERED, storage: { durability: 'efs' } }],
    [
      'internet-facing Grafana in a fixed region',
      {
        env: { account: '123456789012', region: 'eu-west-1' },
        network: {
          vpc: {
            ...IMPORTED_VPC,
            publicSubnetIds: ['subnet-0123456789abcdef2', 'subnet-0123456789abcdef3'],
            publicSubnetRouteTableIds: ['rtb-0123456789abcdef2', 'rtb-0123456789abcdef3'],
          },
        },
        grafana: {
          internetFacing: true,
          certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
          allowedCidrs: ['0.0.0.0/0'],
        },
      },
    ],
  ])('%s configuration has no unacknowledged finding', (_name, values) => {
    expect(nagViolations(values)).toEqual([]);
  });
});

describe('the ring entries of stopped Mimir and Loki tasks are forgotten', () => {
  const { template } = synthStack(CLUSTERED);
  const id = (type: string, prefix: string) => logicalIdOf(template, type, prefix);
  const getAtt = (type: string, prefix: string, attribute: string) => ({ 'Fn::GetAtt': [id(type, prefix), attribute] });
  const functionsOf = (t: Template) =>
    Object.entries(resourcesOf(t, 'AWS::Lambda::Function')).filter(
      ([, fn]) =>
        (fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.POWERTOOLS_SERVICE_NAME ===
        'lgtm-fleet-ring-forget',
    );
  /** Rules on ECS task state changes (config refresh has one on deployment state changes). */
  const rulesOf = (t: Template) =>
    Object.values(resourcesOf(t, 'AWS::Events::Rule')).filter((rule) =>
      JSON.stringify(rule.Properties.EventPattern ?? {}).includes('"ECS Task State Change"'),
    );
  /** The logical IDs of each backend's ring-forget resources: Mimir's, then Loki's. */
  const ringForgetIds = (t: Template) =>
    ['Mimir', 'Loki'].map((backend) =>
      Object.keys(t.toJSON().Resources).filter((logicalId) => logicalId.startsWith(`${backend}RingForget`)),
    );

  test('one function and one rule for each replicated backend', () => {
    expect(functionsOf(template).map(([logicalId]) => logicalId.replace(/Function[0-9A-F]{8}$/, ''))).toEqual([
      'MimirRingForget',
      'LokiRingForget',
    ]);
    expect(rulesOf(template)).toHaveLength(2);
  });

  describe.each([
    ['Mimir', 'http://mimir.lgtm.internal:8080/ingester/ring', 8080],
    ['Loki', 'http://loki.lgtm.internal:3100/ring', 3100],
  ])('%s', (backend, ringPageUrl, httpPort) => {
    const ringForget = `${backend}RingForget`;
    const functionId = () => id('AWS::Lambda::Function', `${ringForget}Function`);
    const deadLetterQueue = () => getAtt('AWS::SQS::Queue', `${ringForget}DeadLetterQueue`, 'Arn');
    const backendService = () => getAtt('AWS::ECS::Service', `${backend}BackendService`, 'Name');

    test(`a function in the services’ private subnets posts to ${ringPageUrl}, by the service’s Cloud Map name`, () => {
      const fn = resourcesOf(template, 'AWS::Lambda::Function')[functionId()].Properties;
      const network = resourcesOf(template, 'AWS::ECS::Service')[id('AWS::ECS::Service', `${backend}BackendService`)].Properties
        .NetworkConfiguration as { AwsvpcConfiguration: { Subnets: unknown[] } };

      expect(fn).toMatchObject({
        Handler: 'index.handler',
        Environment: { Variables: expect.objectContaining({ RING_PAGE_URL: ringPageUrl }) },
        VpcConfig: {
          SubnetIds: network.AwsvpcConfiguration.Subnets,
          SecurityGroupIds: [getAtt('AWS::EC2::SecurityGroup', `${ringForget}SecurityGroup`, 'GroupId')],
        },
      });
    });

    test(`its rule takes the STOPPED task state changes of the ${backend} service, in the stack’s cluster`, () => {
      const rule = resourcesOf(template, 'AWS::Events::Rule')[id('AWS::Events::Rule', `${ringForget}TaskStopped`)].Properties;

      expect(rule).toMatchObject({
        EventPattern: {
          source: ['aws.ecs'],
          'detail-type': ['ECS Task State Change'],
          detail: {
            clusterArn: [getAtt('AWS::ECS::Cluster', 'NetworkCluster', 'Arn')],
            group: [{ 'Fn::Join': ['', ['service:', backendService()]] }],
            lastStatus: ['STOPPED'],
          },
        },
        Targets: [
          {
            Arn: { 'Fn::GetAtt': [functionId(), 'Arn'] },
            DeadLetterConfig: { Arn: deadLetterQueue() },
            RetryPolicy: { MaximumRetryAttempts: 185 },
          },
        ],
      });
    });

    test('a failed invocation is retried twice, then dead-lettered, with an alarm from the first dead letter on the alarm topic', () => {
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: functionId() },
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: deadLetterQueue() } },
      });
      const alarm = resourcesOf(template, 'AWS::CloudWatch::Alarm')[id('AWS::CloudWatch::Alarm', `${ringForget}DeadLetterAlarm`)]
        .Properties;
      expect(alarm).toMatchObject({
        AlarmDescription: expect.stringContaining(`a stopped ${backend} task’s ingester ring entry could not be forgotten`),
        Dimensions: [{ Name: 'QueueName', Value: getAtt('AWS::SQS::Queue', `${ringForget}DeadLetterQueue`, 'QueueName') }],
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmActions: [{ Ref: id('AWS::SNS::Topic', 'Alarms') }],
      });
    });

    test('Grafana’s dead-letter alert watches its queue', () => {
      const init = containerNamed(template, 'GrafanaBackend', 'config-init');
      expect(init.Environment).toContainEqual({
        Name: expect.stringMatching(/^VALUE_[0-9]+$/),
        Value: getAtt('AWS::SQS::Queue', `${ringForget}DeadLetterQueue`, 'QueueName'),
      });
    });

    test(`it reaches ${backend} on its HTTP port, and nothing else`, () => {
      const own = getAtt('AWS::EC2::SecurityGroup', `${ringForget}SecurityGroup`, 'GroupId');
      const target = getAtt('AWS::EC2::SecurityGroup', `${backend}BackendSecurityGroup`, 'GroupId');
      const rules = (type: string) =>
        Object.values(resourcesOf(template, type))
          .map((rule) => rule.Properties)
          .filter((rule) => JSON.stringify(rule).includes(`"${own['Fn::GetAtt'][0]}"`));
      const port = { IpProtocol: 'tcp', FromPort: httpPort, ToPort: httpPort, Description: expect.any(String) };

      expect(rules('AWS::EC2::SecurityGroupEgress')).toEqual([{ GroupId: own, DestinationSecurityGroupId: target, ...port }]);
      expect(rules('AWS::EC2::SecurityGroupIngress')).toEqual([{ GroupId: target, SourceSecurityGroupId: own, ...port }]);
      const group = resourcesOf(template, 'AWS::EC2::SecurityGroup')[own['Fn::GetAtt'][0] as string].Properties;
      expect(JSON.stringify(group.SecurityGroupEgress ?? [])).not.toContain('0.0.0.0/0');
    });

    test('its role writes its logs and its dead letters, and may attach it to the VPC; nothing else', () => {
      const role = resourcesOf(template, 'AWS::IAM::Role')[id('AWS::IAM::Role', `${ringForget}FunctionRole`)].Properties;
      const actions = statementsOfRole(template, `${ringForget}FunctionRole`).flatMap((statement) => [statement.Action].flat());

      expect(actions.sort()).toEqual([
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
      ]);
      expect(JSON.stringify(role.ManagedPolicyArns)).toContain(':iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole');
      expect(role.ManagedPolicyArns).toHaveLength(1);
    });
  });

  test.each([
    ['one Mimir task and one Loki task: none', {}, { Mimir: false, Loki: false }],
    ['Mimir replicas beside one Loki task: Mimir’s only', { services: { mimir: { replicas: 3 } } }, { Mimir: true, Loki: false }],
    ['Loki replicas beside one Mimir task: Loki’s only', { services: { loki: { replicas: 3 } } }, { Mimir: false, Loki: true }],
  ])('%s', (_name, values, created) => {
    const single = synthStack(values).template;
    const count = Object.values(created).filter(Boolean).length;

    expect(functionsOf(single)).toHaveLength(count);
    expect(rulesOf(single)).toHaveLength(count);
    expect(Object.fromEntries(ringForgetIds(single).map((ids, index) => [['Mimir', 'Loki'][index], ids.length > 0]))).toEqual(created);
  });

  test('Loki replicas alone: no unacknowledged cdk-nag finding', () => {
    expect(nagViolations({ services: { loki: { replicas: 3 } } })).toEqual([]);
  });
});

describe('the tenant-binding gateway in front of the backends (ingest.tenantBinding, the default)', () => {
  test("44 tenants, the documented ceiling: no cdk-nag finding (the execution role's overflow policies included), and a template and task definitions AWS takes", () => {
    const allowed = Array.from({ length: 44 }, (_, i) => `tenant-${i}`);
    const tenants = { allowed, ec2Default: allowed[0], cloudwatchMetrics: allowed[1], cloudwatchLogs: allowed[2] };
    // nagViolations runs the template size check too (lib/template-size.ts), as the app does.
    expect(nagViolations({ tenants })).toEqual([]);
  });

  test("warns at every synth in 'migrate' mode, and only then", () => {
    const warnings = (tenantBinding: string) =>
      Annotations.fromStack(synthStack({ ingest: { tenantBinding } }).stack)
        .findWarning('*', Match.stringLikeRegexp('tenantBinding'))
        .map((w) => String(w.entry.data));
    expect(warnings('migrate')).toEqual([expect.stringContaining('ingest.tenantBinding is "migrate"')]);
    expect(warnings('enforce')).toEqual([]);
    expect(warnings('off')).toEqual([]);
  });

  test.each([
    ['a created VPC', {}],
    [
      'an imported VPC with the S3 gateway endpoint, in a fixed region',
      {
        env: { account: '123456789012', region: 'eu-west-1' },
        network: { vpc: { ...IMPORTED_VPC, createS3GatewayEndpoint: true } },
      },
    ],
  ])('%s: no unacknowledged cdk-nag finding', (_name, values) => {
    expect(nagViolations({ ...values, ingest: { tenantBinding: 'migrate' } })).toEqual([]);
  });
});

describe('the agent credential in the configs enroll and refresh send (ingest.tenantBinding)', () => {
  const bound = synthStack();
  const unbound = synthStack({ ingest: { tenantBinding: 'off' } });
  const prefix = `${bound.stack.stackName}/agent-credential/`;
  const variablesOf = (template: Template, service: string) => functionVariables(template.toJSON().Resources, service) ?? {};
  const readsOf = (template: Template, role: string) =>
    statementsOfRole(template, role).filter((statement) => JSON.stringify(statement.Action).includes('secretsmanager:'));

  test.each([
    ['lgtm-fleet-enroll', 'EnrollmentEnrollRole'],
    ['lgtm-fleet-refresh', 'RefreshRole'],
  ])('%s: the secrets prefix in its environment, and GetSecretValue on those secrets only', (service, role) => {
    expect(variablesOf(bound.template, service).AGENT_CREDENTIAL_SECRET_PREFIX).toBe(prefix);
    expect(readsOf(bound.template, role)).toEqual([
      {
        Sid: 'ReadAgentCredentials',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':secretsmanager:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              `:secret:${prefix}*`,
            ],
          ],
        },
      },
    ]);
  });

  test.each([
    ['lgtm-fleet-enroll', 'EnrollmentEnrollRole'],
    ['lgtm-fleet-refresh', 'RefreshRole'],
  ])("%s with ingest.tenantBinding 'off': no prefix, no secret read", (service, role) => {
    expect(variablesOf(unbound.template, service)).not.toHaveProperty('AGENT_CREDENTIAL_SECRET_PREFIX');
    expect(readsOf(unbound.template, role)).toEqual([]);
  });

  test("every agent config parameter carries the placeholder, none with ingest.tenantBinding 'off'", () => {
    const agentValues = (template: Template) =>
      Object.values(resourcesOf(template, 'AWS::SSM::Parameter'))
        .filter((parameter) => JSON.stringify(parameter.Properties.Name).includes('/agent/'))
        .map((parameter) => JSON.stringify(parameter.Properties.Value));
    const withSwitch = agentValues(bound.template);
    expect(withSwitch.length).toBeGreaterThan(0);
    for (const value of withSwitch) expect(value.split(AGENT_CREDENTIAL_PLACEHOLDER)).toHaveLength(4);
    for (const value of agentValues(unbound.template)) expect(value).not.toContain(AGENT_CREDENTIAL_PLACEHOLDER);
  });
});
