import { Template } from 'aws-cdk-lib/assertions';
import { GATEWAY_METRICS, Gateway, type GatewayProps } from '../../lib/components/gateway';
import { METRICS_NAMESPACE } from '../../lib/lgtm-function';
import { BACKENDS } from '../../lib/render/catalog';
import {
  CREDENTIAL_LENGTH,
  credentialEscapes,
  credentialPlaceholder,
  GATEWAY_HEALTH_PATH,
  GATEWAY_PORT,
  GATEWAY_SERVICE_NAME,
  LOAD_BALANCER_CIDR_PLACEHOLDER,
  renderGatewayConfig,
} from '../../lib/render/gateway';
import { componentBasics, containerNamed, logicalIdOf, resourcesOf, synthStack, testConfig, testStack } from '../helpers';

const TENANTS = ['team-a', 'team-b'];
const IMAGE = testConfig().images.gateway;
/** The whole stack with the gateway (the default), and without. */
const on = synthStack().template;
const off = synthStack({ ingest: { tenantBinding: 'off' } }).template;

/** The config as the stack renders it, with local endpoints (the load balancer's CIDR a placeholder, as deployed). */
const CONFIG_FILE = renderGatewayConfig(
  { tenants: TENANTS, mode: 'enforce' },
  {
    backends: { mimir: 'mimir.test.internal:8080', loki: 'loki.test.internal:3100', tempo: 'tempo.test.internal:4318' },
    resolver: '169.254.169.253',
    loadBalancerCidrs: [LOAD_BALANCER_CIDR_PLACEHOLDER],
  },
);

/** The gateway alone in a bare stack named `Test`. */
function gateway(props: Partial<GatewayProps> = {}): Template {
  const stack = testStack();
  new Gateway(stack, 'Gateway', {
    ...componentBasics(stack),
    parameterPrefix: '/Test',
    image: IMAGE,
    size: { cpu: 256, memoryMiB: 512 },
    tenants: TENANTS,
    configFile: CONFIG_FILE,
    loadBalancerCidr: '10.0.0.0/16',
    ...props,
  });
  return Template.fromStack(stack);
}

describe('the gateway service', () => {
  const template = gateway();
  const main = containerNamed(template, 'GatewayBackendTask', 'gateway');
  const init = containerNamed(template, 'GatewayBackendTask', 'config-init');

  test('two tasks by default, replaced one at a time with the others serving', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 2,
      DeploymentConfiguration: {
        MinimumHealthyPercent: 100,
        MaximumPercent: 150,
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
      },
    });
    gateway({ replicas: 4 }).hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 4,
      DeploymentConfiguration: { MinimumHealthyPercent: 100, MaximumPercent: 125 },
    });
  });

  test("nginx runs its own config straight away, bypassing the image's entry point scripts", () => {
    expect(main.Image).toBe('public.ecr.aws/docker/library/nginx:1.30.6-alpine');
    expect(main.EntryPoint).toEqual(['nginx', '-c', '/etc/lgtm-gateway/nginx.conf', '-g', 'daemon off;']);
    expect(main.Command).toBeUndefined();
    expect(main.PortMappings).toEqual([{ ContainerPort: GATEWAY_PORT, Protocol: 'tcp' }]);
    expect(main.StopTimeout).toBe(30);
  });

  test('the container health check asks nginx for its health path with busybox wget', () => {
    expect(main.HealthCheck).toMatchObject({
      Command: ['CMD-SHELL', `wget -q -O /dev/null http://127.0.0.1:${GATEWAY_PORT}${GATEWAY_HEALTH_PATH} || exit 1`],
    });
  });

  test("nginx's temp directory is a writable task volume, its config directory read-only", () => {
    expect(CONFIG_FILE).toContain('pid /tmp/nginx/nginx.pid;');
    expect(main.MountPoints).toEqual(
      expect.arrayContaining([
        { ContainerPath: '/tmp/nginx', ReadOnly: false, SourceVolume: 'nginx-temp' },
        { ContainerPath: '/etc/lgtm-gateway', ReadOnly: true, SourceVolume: 'config' },
      ]),
    );
  });

  test('the config is stored under <prefix>/config/gateway with placeholders, never a credential', () => {
    template.hasResourceProperties('AWS::SSM::Parameter', { Name: '/Test/config/gateway', Value: CONFIG_FILE, Tier: 'Advanced' });
    expect(CONFIG_FILE).toContain(`"Bearer ${credentialPlaceholder(0)}" "team-a";`);
    expect(CONFIG_FILE).toContain(`"Bearer ${credentialPlaceholder(0, 'agent')}" "team-a";`);
    expect(CONFIG_FILE).toContain(`"Bearer ${credentialPlaceholder(1, 'agent')}" "team-b";`);
    expect(CONFIG_FILE).toContain(`"~*^Bearer (?=[a-z0-9]{64}$)${credentialPlaceholder(1, 'write', 'previous')}$" "team-b";`);
    expect(CONFIG_FILE).toContain(`"~*^Bearer (?=[a-z0-9]{64}$)${credentialPlaceholder(1, 'agent', 'previous')}$" "team-b";`);
  });

  test("the init container writes each of a tenant's two credentials, current and previous, from its own secret into its placeholder", () => {
    const secretId = (tenant: string, kind: 'Write' | 'Agent') =>
      logicalIdOf(template, 'AWS::SecretsManager::Secret', `Gateway${kind}Credentials${tenant.replace('-', '')}`);
    const jsonKey = (id: string, key: string) => ({ 'Fn::Join': ['', [{ Ref: id }, `:${key}::`]] });
    // Tenant by tenant, the write credential, then the agent credential, each current then previous: VALUE_0, VALUE_1, …
    const expected = TENANTS.flatMap((tenant) =>
      (['Write', 'Agent'] as const).flatMap((kind) => ['current', 'previous'].map((key) => jsonKey(secretId(tenant, kind), key))),
    );
    expect(init.Secrets).toEqual(
      expect.arrayContaining(expected.map((valueFrom, index) => ({ Name: `VALUE_${index}`, ValueFrom: valueFrom }))),
    );
    const command = (init.Command as string[])[0];
    // One awk program writes every value: p[i] its placeholder, v[i] the value of VALUE_<i - 1>, escaped.
    const written = new Map(
      [...command.matchAll(/p\[\d+\] = "([A-Z0-9_]+)"; v\[\d+\] = (?:esc\d+\()?val\("(VALUE_\d+)"/g)].map((m) => [m[1], m[2]]),
    );
    TENANTS.forEach((_, index) => {
      expect(written.get(credentialPlaceholder(index, 'write'))).toBe(`VALUE_${4 * index}`);
      expect(written.get(credentialPlaceholder(index, 'write', 'previous'))).toBe(`VALUE_${4 * index + 1}`);
      expect(written.get(credentialPlaceholder(index, 'agent'))).toBe(`VALUE_${4 * index + 2}`);
      expect(written.get(credentialPlaceholder(index, 'agent', 'previous'))).toBe(`VALUE_${4 * index + 3}`);
    });
    expect(command.match(/awk '/g)).toHaveLength(1);
    // The previous credential is escaped for the regular expression it sits in.
    // (Each backslash doubled again inside the awk program: c = "\\*" once awk has read it.)
    expect(command).toContain(`if (c == "*") c = "${'\\'.repeat(4)}*"`);
    expect(Object.keys(credentialEscapes('previous'))).toEqual(expect.arrayContaining(['.', '*', '(', '[', '{', '|', '\\', '"']));
  });

  test('two generated credentials per tenant, write and agent: 64 lowercase letters and digits, named <stack>/<kind>-credential/<tenant>', () => {
    const secrets = Object.values(resourcesOf(template, 'AWS::SecretsManager::Secret'));
    expect(secrets.map((secret) => secret.Properties.Name).sort()).toEqual([
      'Test/agent-credential/team-a',
      'Test/agent-credential/team-b',
      'Test/write-credential/team-a',
      'Test/write-credential/team-b',
    ]);
    for (const secret of secrets) {
      expect(secret.Properties.GenerateSecretString).toEqual({
        SecretStringTemplate: '{"previous":"none"}',
        GenerateStringKey: 'current',
        PasswordLength: CREDENTIAL_LENGTH,
        ExcludePunctuation: true,
        ExcludeUppercase: true,
        IncludeSpace: false,
      });
      expect(secret.DeletionPolicy).toBe('Delete');
      expect(secret.Properties.SecretString).toBeUndefined();
    }
    expect(CREDENTIAL_LENGTH).toBe(64);
  });

  test("the load balancer's CIDR is written in at task start, so the stored file holds no deploy-time value", () => {
    const command = (init.Command as string[])[0];
    const valueName = new RegExp(`p\\[\\d+\\] = "${LOAD_BALANCER_CIDR_PLACEHOLDER}"; v\\[\\d+\\] = val\\("(VALUE_\\d+)"`).exec(
      command,
    )?.[1];
    expect(valueName).toBeDefined();
    expect(init.Environment).toEqual(expect.arrayContaining([{ Name: valueName, Value: '10.0.0.0/16' }]));
    // In the stack, the created VPC's CIDR.
    const stackInit = containerNamed(on, 'GatewayBackendTask', 'config-init');
    expect(JSON.stringify(stackInit.Environment)).toContain('"Fn::GetAtt":["NetworkVpc7FB7348F","CidrBlock"]');
  });

  test('many tenants: the file is stored in parts, each within a parameter', () => {
    const tenants = Array.from({ length: 40 }, (_, i) => `tenant-with-a-long-name-${i}`);
    const { template } = synthStack({
      tenants: { allowed: tenants, ec2Default: tenants[0], cloudwatchMetrics: tenants[1], cloudwatchLogs: tenants[2] },
    });
    const stored = Object.values(resourcesOf(template, 'AWS::SSM::Parameter'))
      .map((parameter) => parameter.Properties)
      .filter((properties) => String(properties.Name).startsWith('/LgtmFleet/config/gateway'));
    expect(stored.length).toBeGreaterThan(0);
    for (const { Value } of stored) expect(typeof Value === 'string' && Value.length <= 8192).toBe(true);
  });

  test('a config without a tenant’s placeholder is refused', () => {
    expect(() => gateway({ tenants: [...TENANTS, 'team-c'] })).toThrow(`does not contain the placeholder "${credentialPlaceholder(2)}"`);
  });
});

describe('no address look-up', () => {
  test('the data bucket grants nothing to unsigned requests, with the gateway on or off', () => {
    for (const template of [on, off]) expect(JSON.stringify(resourcesOf(template, 'AWS::S3::BucketPolicy'))).not.toContain('aws:SourceVpc');
  });
});

describe('the ingest load balancer with ingest.tenantBinding', () => {
  const groupId = (template: Template, prefix: string) => ({
    'Fn::GetAtt': [logicalIdOf(template, 'AWS::EC2::SecurityGroup', prefix), 'GroupId'],
  });
  const ingressTo = (template: Template, prefix: string) =>
    Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress'))
      .map((rule) => rule.Properties)
      .filter((rule) => JSON.stringify(rule.GroupId) === JSON.stringify(groupId(template, prefix)));
  const forwardTargets = (template: Template) =>
    Object.values(resourcesOf(template, 'AWS::ElasticLoadBalancingV2::ListenerRule'))
      .filter((rule) => JSON.stringify(rule.Properties.ListenerArn).includes('IngestLoadBalancerHttp'))
      .map((rule) => [rule.Properties.Priority, (rule.Properties.Actions as Array<{ TargetGroupArn: unknown }>)[0].TargetGroupArn]);

  test("every ingest route goes to the gateway's one target group, health-checked on its own path", () => {
    const gatewayGroup = logicalIdOf(on, 'AWS::ElasticLoadBalancingV2::TargetGroup', 'IngestGatewayGroup');
    expect(forwardTargets(on)).toEqual([
      [10, { Ref: gatewayGroup }],
      [20, { Ref: gatewayGroup }],
      [30, { Ref: gatewayGroup }],
    ]);
    on.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: GATEWAY_PORT,
      TargetType: 'ip',
      HealthCheckPath: GATEWAY_HEALTH_PATH,
      Matcher: { HttpCode: '200' },
    });
    expect(Object.keys(resourcesOf(on, 'AWS::ElasticLoadBalancingV2::TargetGroup')).filter((id) => id.startsWith('Ingest'))).toEqual([
      gatewayGroup,
    ]);
  });

  test('off: each route still goes to its backend', () => {
    const groups = ['IngestLoadBalancerHttpMimirGroup', 'IngestLoadBalancerHttpLokiGroup', 'IngestLoadBalancerHttpTempoGroup'];
    expect(forwardTargets(off)).toEqual(
      groups.map((prefix, index) => [10 * (index + 1), { Ref: logicalIdOf(off, 'AWS::ElasticLoadBalancingV2::TargetGroup', prefix) }]),
    );
    expect(Object.keys(off.toJSON().Resources).filter((id) => id.startsWith('Gateway'))).toEqual([]);
  });

  test('only the load balancer reaches the gateway, on its port', () => {
    expect(ingressTo(on, 'GatewayBackendSecurityGroup')).toEqual([
      expect.objectContaining({
        SourceSecurityGroupId: groupId(on, 'IngestLoadBalancerSecurityGroup'),
        IpProtocol: 'tcp',
        FromPort: GATEWAY_PORT,
        ToPort: GATEWAY_PORT,
      }),
    ]);
  });

  test.each([
    ['MimirBackendSecurityGroup', BACKENDS.mimir.httpPort],
    ['LokiBackendSecurityGroup', BACKENDS.loki.httpPort],
    ['TempoBackendSecurityGroup', BACKENDS.tempo.otlpHttpPort],
  ])('%s accepts writes from the gateway on port %i and nothing from the load balancer', (prefix, port) => {
    const rules = ingressTo(on, prefix);
    const loadBalancer = JSON.stringify(groupId(on, 'IngestLoadBalancerSecurityGroup'));
    expect(rules.filter((rule) => JSON.stringify(rule.SourceSecurityGroupId) === loadBalancer)).toEqual([]);
    expect(
      rules.filter((rule) => JSON.stringify(rule.SourceSecurityGroupId) === JSON.stringify(groupId(on, 'GatewayBackendSecurityGroup'))),
    ).toEqual([expect.objectContaining({ IpProtocol: 'tcp', FromPort: port, ToPort: port })]);
    // Grafana and the collector keep reaching the backends directly.
    for (const client of ['GrafanaBackendSecurityGroup', 'CollectorBackendSecurityGroup']) {
      expect(rules.some((rule) => JSON.stringify(rule.SourceSecurityGroupId) === JSON.stringify(groupId(on, client)))).toBe(true);
    }
    const offLoadBalancer = JSON.stringify(groupId(off, 'IngestLoadBalancerSecurityGroup'));
    expect(ingressTo(off, prefix).some((rule) => JSON.stringify(rule.SourceSecurityGroupId) === offLoadBalancer)).toBe(true);
  });

  test('config refresh rolls the gateway when its config changes', () => {
    const refresh = Object.values(resourcesOf(on, 'AWS::Lambda::Function')).find((fn) =>
      JSON.stringify(fn.Properties.Environment ?? {}).includes('"SERVICES"'),
    );
    expect(JSON.stringify(refresh?.Properties.Environment)).toContain('\\"gateway\\"');
  });
});

describe("the gateway's metrics, counted from its access log", () => {
  const filters = Object.values(resourcesOf(on, 'AWS::Logs::MetricFilter')).map((filter) => filter.Properties);
  const gatewayLogs = { Ref: logicalIdOf(on, 'AWS::Logs::LogGroup', 'GatewayBackendLogs') };
  const ofMetric = (name: string) =>
    filters.find((filter) => (filter.MetricTransformations as Array<{ MetricName: string }>)[0].MetricName === name) as Record<
      string,
      unknown
    >;

  test.each([
    [GATEWAY_METRICS.refused, '{ ($.service = "lgtm-fleet-gateway") && ($.status = 401) }', { service: '$.service' }],
    [
      GATEWAY_METRICS.unbound,
      '{ ($.service = "lgtm-fleet-gateway") && ($.binding = "header") && ($.status != 401) }',
      { service: '$.service', tenant: '$.bound_tenant' },
    ],
  ])('%s: one per matching write of the gateway log group', (metric, pattern, dimensions) => {
    const filter = ofMetric(metric);
    expect(filter).toMatchObject({ LogGroupName: gatewayLogs, FilterPattern: pattern });
    expect(filter.MetricTransformations).toEqual([
      {
        MetricNamespace: METRICS_NAMESPACE,
        MetricName: metric,
        MetricValue: '1',
        Dimensions: Object.entries(dimensions).map(([Key, Value]) => ({ Key, Value })),
      },
    ]);
  });

  test('every field a filter reads is one the access log writes', () => {
    const logFormat = CONFIG_FILE.slice(CONFIG_FILE.indexOf('log_format'), CONFIG_FILE.indexOf('access_log'));
    const fields = filters.flatMap((filter) => [
      ...[...String(filter.FilterPattern).matchAll(/\$\.([a-z_]+)/g)].map((m) => m[1]),
      ...(filter.MetricTransformations as Array<{ Dimensions: Array<{ Value: string }> }>)[0].Dimensions.map((d) => d.Value.slice(2)),
    ]);
    expect(fields.length).toBeGreaterThan(5);
    for (const field of new Set(fields)) expect([field, logFormat.includes(`"${field}":`)]).toEqual([field, true]);
    expect(logFormat).toContain(`"service":"${GATEWAY_SERVICE_NAME}"`);
  });

  test("with ingest.tenantBinding 'off', no filter", () => {
    expect(Object.keys(resourcesOf(off, 'AWS::Logs::MetricFilter'))).toEqual([]);
  });
});
