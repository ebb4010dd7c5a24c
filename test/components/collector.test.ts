import { Match, Template } from 'aws-cdk-lib/assertions';
import * as efs from 'aws-cdk-lib/aws-efs';
import { Collector, type CollectorProps } from '../../lib/components/collector';
import { collectorEntrypoint, collectorLogGroupArnPatterns } from '../../lib/render/collector';
import { componentBasics, containerNamed, statementsOfRole, testConfig, testStack } from '../helpers';

/** The collector alone, with the default config's entry point and log groups unless given others. */
function collector(props: Partial<CollectorProps> = {}): Template {
  const stack = testStack();
  const basics = componentBasics(stack);
  const config = testConfig();
  new Collector(stack, 'Collector', {
    ...basics,
    parameterPrefix: '/Test',
    image: 'grafana/alloy:v1.21.2',
    size: { cpu: 512, memoryMiB: 1024 },
    configFile: 'logging {\n\tlevel = "info"\n}\n',
    entryPoint: collectorEntrypoint(config),
    logGroupPatterns: collectorLogGroupArnPatterns(config),
    fileSystem: new efs.FileSystem(stack, 'FileSystem', { vpc: basics.cluster.vpc }),
    ...props,
  });
  return Template.fromStack(stack);
}

describe('collector', () => {
  const template = collector();

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
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Name: '/Test/config/collector',
      Tier: 'Advanced',
      Value: 'logging {\n\tlevel = "info"\n}\n',
    });
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
    const named = collector({ logGroupPatterns: ['/aws/rds/instance/db1/error'] });
    const statements = statementsOfRole(named, 'CollectorBackendTaskTaskRole');
    const filter = statements.find((s) => [s.Action].flat().includes('logs:FilterLogEvents'));
    expect(JSON.stringify(filter?.Resource)).toContain(':log-group:/aws/rds/instance/db1/error');
    expect(statements.some((s) => [s.Action].flat().includes('logs:DescribeLogGroups'))).toBe(false);
  });

  test('without log groups, no CloudWatch Logs access at all', () => {
    const actions = statementsOfRole(collector({ logGroupPatterns: [] }), 'CollectorBackendTaskTaskRole').flatMap(
      (s) => [s.Action].flat() as string[],
    );
    expect(actions.filter((a) => a.startsWith('logs:'))).toEqual([]);
    expect(actions).toContain('cloudwatch:GetMetricData');
  });
});
