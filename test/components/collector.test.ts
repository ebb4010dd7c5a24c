import { Match, type Template } from 'aws-cdk-lib/assertions';
import { containerNamed, logicalIdOf, resourcesOf, statementsOfRole, synthStack } from '../helpers';

describe('collector', () => {
  let template: Template;
  beforeAll(() => {
    template = synthStack().template;
  });

  test('runs pinned Alloy on the shared namespace with the experimental stability level', () => {
    template.hasResourceProperties('AWS::ServiceDiscovery::Service', { Name: 'collector' });
    const main = containerNamed(template, 'CollectorBackend', 'collector');
    expect(main.Image).toBe('grafana/alloy:v1.21.2');
    const entry = (main.EntryPoint as string[]).join(' ');
    expect(entry).toContain('run /etc/alloy/config.alloy');
    expect(entry).toContain('--stability.level=experimental');
    expect(main.PortMappings).toEqual([expect.objectContaining({ ContainerPort: 12345 })]);
  });

  test('its config is a Parameter Store parameter delivered by the init container', () => {
    template.hasResourceProperties('AWS::SSM::Parameter', { Name: '/LgtmFleet/config/collector', Tier: 'Advanced' });
    const main = containerNamed(template, 'CollectorBackend', 'collector');
    expect(main.DependsOn).toEqual([{ ContainerName: 'config-init', Condition: 'SUCCESS' }]);
    expect(main.MountPoints).toContainEqual({ SourceVolume: 'config', ContainerPath: '/etc/alloy', ReadOnly: true });
  });

  test('CloudWatch Logs checkpoints live on EFS, so a restart neither re-reads nor skips', () => {
    template.hasResourceProperties('AWS::EFS::AccessPoint', { RootDirectory: { Path: '/collector', CreationInfo: Match.anyValue() } });
    const main = containerNamed(template, 'CollectorBackend', 'collector');
    expect(main.MountPoints).toContainEqual({ SourceVolume: 'data', ContainerPath: '/var/lib/alloy/data', ReadOnly: false });
  });

  test('its role reads CloudWatch metrics on * and only the configured log groups', () => {
    const statements = statementsOfRole(template, 'CollectorBackendTaskTaskRole');
    const byAction = (action: string) => statements.filter((s) => [s.Action].flat().includes(action));
    expect(byAction('cloudwatch:GetMetricData')[0].Resource).toBe('*');
    expect([byAction('cloudwatch:GetMetricData')[0].Action].flat().sort()).toEqual(
      ['cloudwatch:GetMetricData', 'cloudwatch:GetMetricStatistics', 'cloudwatch:ListMetrics', 'tag:GetResources'].sort(),
    );
    const filter = byAction('logs:FilterLogEvents');
    expect(filter).toHaveLength(1);
    expect(JSON.stringify(filter[0].Resource)).toContain(':log-group:/aws/rds/*');
    expect(JSON.stringify(byAction('logs:DescribeLogGroups')[0].Resource)).toContain(':log-group:*');
    const actions = statements.flatMap((s) => [s.Action].flat() as string[]);
    expect(actions.filter((a) => a.startsWith('logs:') && a !== 'logs:FilterLogEvents' && a !== 'logs:DescribeLogGroups')).toEqual([]);
    expect(actions.filter((a) => a.startsWith('s3:'))).toEqual([]);
  });

  test('named log groups are granted by name, and no discovery without prefixes', () => {
    const { template: named } = synthStack({
      collector: { logs: { logGroupNames: ['/aws/rds/instance/db1/error'], logGroupPrefixes: [] } },
    });
    const statements = statementsOfRole(named, 'CollectorBackendTaskTaskRole');
    const filter = statements.find((s) => [s.Action].flat().includes('logs:FilterLogEvents'));
    expect(JSON.stringify(filter?.Resource)).toContain(':log-group:/aws/rds/instance/db1/error');
    expect(statements.some((s) => [s.Action].flat().includes('logs:DescribeLogGroups'))).toBe(false);
  });

  test('its UI/health port is open to Grafana only', () => {
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

  test('may reach every service it scrapes or writes to', () => {
    const collectorSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'CollectorBackendSecurityGroup');
    const fromCollector = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress'))
      .map((r) => r.Properties)
      .filter((r) => JSON.stringify(r.SourceSecurityGroupId).includes(collectorSg))
      .map((r) => r.FromPort)
      .sort();
    // 2049: NFS to its own checkpoint file system.
    expect(fromCollector).toEqual([2049, 3000, 3100, 3200, 8080, 11211].sort());
  });

  test('disabled: no collector, and the file system holds only Tempo', () => {
    const { template: off } = synthStack({ collector: { enabled: false } });
    off.resourceCountIs('AWS::EFS::FileSystem', 1);
    expect(
      Object.values(resourcesOf(off, 'AWS::EFS::AccessPoint')).map((a) => (a.Properties.RootDirectory as { Path: string }).Path),
    ).toEqual(['/tempo']);
    const names = Object.values(resourcesOf(off, 'AWS::ServiceDiscovery::Service')).map((s) => s.Properties.Name);
    expect(names).not.toContain('collector');
  });
});
