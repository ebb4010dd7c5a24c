import { Aws, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import { BackendService, type DataVolumeProps, splitIntoParts } from '../lib/backend-service';
import { containerNamed, logicalIdOf, resourcesOf, statementsOfRole, testNetwork, testStack } from './helpers';

/** A service `svc` with these config files, and the data volume `data` makes on the test VPC when given. */
function service(
  files: Array<{ directory: string; name: string; content: string; tier?: 'standard' | 'advanced' }>,
  data?: (stack: Stack, vpc: ec2.IVpc) => DataVolumeProps,
): Template {
  const stack = testStack();
  const { vpc, cluster, namespace } = testNetwork(stack);
  const directories = [...new Set(files.map((f) => f.directory))].map((directory) => ({
    directory,
    files: files
      .filter((f) => f.directory === directory)
      .map((f) => ({ parameterName: `/Test/config/svc/${f.name}`, content: f.content, fileName: f.name, tier: f.tier })),
  }));
  new BackendService(stack, 'Svc', {
    cluster,
    namespace,
    serviceName: 'svc',
    image: 'example/image:1.0.0',
    size: { cpu: 256, memoryMiB: 512 },
    ports: [8080],
    logRetentionDays: 7,
    configInitImage: 'public.ecr.aws/docker/library/busybox:1.37.0',
    config: directories,
    data: data?.(stack, vpc),
  });
  return Template.fromStack(stack);
}

/** Each init container variable → the parameter it reads (by name) and that parameter's value. */
function delivered(template: Template): Map<string, { name: string; value: unknown }> {
  const parameters = resourcesOf(template, 'AWS::SSM::Parameter');
  const init = containerNamed(template, 'SvcTask', 'config-init');
  return new Map(
    (init.Secrets as Array<{ Name: string; ValueFrom: unknown }>).map((secret) => {
      const json = JSON.stringify(secret.ValueFrom);
      const id = Object.keys(parameters).find((candidate) => json.includes(`"${candidate}"`)) as string;
      return [secret.Name, { name: String(parameters[id]?.Properties.Name), value: parameters[id]?.Properties.Value }];
    }),
  );
}

describe('what a task definition delivers (a rollback runs the config it ran before)', () => {
  const content = 'server:\n  http_listen_port: 8080\n';

  test('the init container reads a copy named by its content, never the config parameter itself', () => {
    const template = service([{ directory: '/etc/x', name: 'x.yaml', content }]);
    const [copy] = [...delivered(template).values()];
    expect(copy?.name).toMatch(/^\/Test\/deployed\/svc\/x\.yaml\/stack-[0-9a-f]{12}$/);
    expect(copy?.value).toBe(content);
    // The config parameter still holds the same file, for editing and for the refresh to check.
    const names = Object.values(resourcesOf(template, 'AWS::SSM::Parameter')).map((p) => p.Properties.Name);
    expect(names).toContain('/Test/config/svc/x.yaml');
  });

  test('another content is another copy (so another task definition); the same content the same copy', () => {
    const name = (text: string) => [...delivered(service([{ directory: '/etc/x', name: 'x.yaml', content: text }])).values()][0]?.name;
    expect(name(content)).toBe(name(content));
    expect(name(`${content}# changed\n`)).not.toBe(name(content));
  });

  test('config parameters are written only after the service runs their content; copies before the task definition', () => {
    const template = service([{ directory: '/etc/x', name: 'x.yaml', content }]);
    const parameters = resourcesOf(template, 'AWS::SSM::Parameter');
    const serviceId = Object.keys(resourcesOf(template, 'AWS::ECS::Service'))[0] as string;
    for (const parameter of Object.values(parameters)) {
      const waitsForService = (parameter.DependsOn ?? []).includes(serviceId);
      expect([parameter.Properties.Name, waitsForService]).toEqual([
        parameter.Properties.Name,
        String(parameter.Properties.Name).includes('/config/'),
      ]);
    }
  });

  test('the execution role may read the copies a config refresh writes under the service’s path', () => {
    const template = service([{ directory: '/etc/x', name: 'x.yaml', content }]);
    const statements = Object.values(resourcesOf(template, 'AWS::IAM::Policy')).flatMap(
      (policy) =>
        (policy.Properties.PolicyDocument as { Statement: Array<{ Sid?: string; Action: unknown; Resource: unknown }> }).Statement,
    );
    const read = statements.find((statement) => statement.Sid === 'ReadDeployedConfig');
    expect(read?.Action).toBe('ssm:GetParameters');
    expect(JSON.stringify(read?.Resource)).toContain(':parameter/Test/deployed/svc/*');
  });
});

describe('config delivery', () => {
  test('a file larger than a parameter is split into ordered parts that the init container joins', () => {
    const content = JSON.stringify({ panels: Array.from({ length: 900 }, (_, i) => ({ id: i, title: `panel ${i} – ü` })) });
    expect(Buffer.byteLength(content)).toBeGreaterThan(20_000);
    const template = service([{ directory: '/dashboards', name: 'big.json', content, tier: 'advanced' }]);
    const parameters = Object.values(resourcesOf(template, 'AWS::SSM::Parameter'))
      .map((p) => p.Properties)
      .filter((p) => String(p.Name).startsWith('/Test/config/'));
    const names = parameters.map((p) => p.Name);
    expect(names).toEqual(names.map((_, i) => `/Test/config/svc/big.json/part-${i + 1}`));
    expect(parameters.map((p) => p.Value).join('')).toBe(content);
    for (const p of parameters) expect(Buffer.byteLength(p.Value as string)).toBeLessThanOrEqual(8192);
    const init = containerNamed(template, 'SvcTask', 'config-init');
    const variables = (init.Secrets as Array<{ Name: string }>).map((s) => s.Name);
    expect((init.Command as string[])[0]).toContain(`printf '%s' ${variables.map((v) => `"$${v}"`).join(' ')} > /config/big.json`);
  });

  test('a standard-tier kind of file larger than 4 KB is refused, naming it: the tier never follows the size', () => {
    expect(() => service([{ directory: '/etc/x', name: 'x.yaml', content: `a: ${'b'.repeat(5000)}\n` }])).toThrow(
      'rendered config for /Test/config/svc/x.yaml is about 5004 bytes, over the 4096-byte standard tier',
    );
  });

  test('a file with "{{" and deploy-time values is refused at synth: it could not be encoded', () => {
    expect(() => service([{ directory: '/etc/x', name: 'x.yaml', content: `a: "{{b}}"\nregion: ${Aws.REGION}\n` }])).toThrow(
      'config file x.yaml of svc contains "{{", which Parameter Store refuses, and deploy-time values',
    );
  });

  test('files in several directories each get a volume, mounted read-only where the image expects them', () => {
    const template = service([
      { directory: '/etc/a', name: 'one.yaml', content: 'a: 1' },
      { directory: '/etc/b', name: 'two.yaml', content: 'b: 2' },
    ]);
    const main = containerNamed(template, 'SvcTask', 'svc');
    expect(main.MountPoints).toEqual([
      { SourceVolume: 'config', ContainerPath: '/etc/a', ReadOnly: true },
      { SourceVolume: 'config-1', ContainerPath: '/etc/b', ReadOnly: true },
    ]);
    const command = (containerNamed(template, 'SvcTask', 'config-init').Command as string[])[0];
    expect(command).toContain('> /config/one.yaml');
    expect(command).toContain('> /config-1/two.yaml');
  });

  test('splitting never cuts a multi-byte character and loses nothing', () => {
    const text = 'ü'.repeat(9000);
    const parts = splitIntoParts(text);
    expect(parts.join('')).toBe(text);
    for (const part of parts) expect(Buffer.byteLength(part)).toBeLessThanOrEqual(7000);
  });

  test('a file name used twice is refused', () => {
    expect(() =>
      service([
        { directory: '/etc/a', name: 'x.yaml', content: 'a: 1' },
        { directory: '/etc/b', name: 'x.yaml', content: 'b: 2' },
      ]),
    ).toThrow(/"x.yaml" of svc is used twice/);
  });
});

describe('data volume', () => {
  test('an EFS volume is mounted through the service’s own access point, which only its task role may use', () => {
    const template = service([], (stack, vpc) => ({
      kind: 'efs',
      path: '/data',
      uid: 10001,
      fileSystem: new efs.FileSystem(stack, 'FileSystem', { vpc }),
    }));
    // In the file system's scope, as FileSystem.addAccessPoint would put it.
    const accessPoint = logicalIdOf(template, 'AWS::EFS::AccessPoint', 'FileSystemsvcAccessPoint');
    template.hasResourceProperties('AWS::EFS::AccessPoint', {
      RootDirectory: { Path: '/svc', CreationInfo: { OwnerUid: '10001', OwnerGid: '10001', Permissions: '750' } },
      PosixUser: { Uid: '10001', Gid: '10001' },
    });
    const [volume] = resourcesOf(template, 'AWS::ECS::TaskDefinition')[logicalIdOf(template, 'AWS::ECS::TaskDefinition', 'SvcTask')]
      .Properties.Volumes as Array<{ EFSVolumeConfiguration: { AuthorizationConfig: { AccessPointId: unknown } } }>;
    expect(volume.EFSVolumeConfiguration.AuthorizationConfig.AccessPointId).toEqual({ Ref: accessPoint });
    const mount = statementsOfRole(template, 'SvcTaskTaskRole').find((s) => [s.Action].flat().includes('elasticfilesystem:ClientMount'));
    expect(mount?.Condition).toEqual({
      StringEquals: {
        'elasticfilesystem:AccessPointArn': { 'Fn::Join': expect.arrayContaining([expect.arrayContaining([{ Ref: accessPoint }])]) },
      },
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 2049,
      SourceSecurityGroupId: { 'Fn::GetAtt': [logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'SvcSecurityGroup'), 'GroupId'] },
    });
  });
});
