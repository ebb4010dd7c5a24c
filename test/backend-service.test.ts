import { Aws, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BackendService, splitIntoParts } from '../lib/backend-service';
import { Network } from '../lib/network';
import { containerNamed, newApp, resourcesOf, testConfig } from './helpers';

function service(files: Array<{ directory: string; name: string; content: string; tier?: 'standard' | 'advanced' }>): Template {
  const stack = new Stack(newApp(), 'Test');
  const config = testConfig();
  const network = new Network(stack, 'Network', { vpc: config.network.vpc, namespaceName: 'test.internal' });
  const directories = [...new Set(files.map((f) => f.directory))].map((directory) => ({
    directory,
    files: files
      .filter((f) => f.directory === directory)
      .map((f) => ({ parameterName: `/Test/config/svc/${f.name}`, content: f.content, fileName: f.name, tier: f.tier })),
  }));
  new BackendService(stack, 'Svc', {
    network,
    serviceName: 'svc',
    image: 'example/image:1.0.0',
    size: { cpu: 256, memoryMiB: 512 },
    ports: [8080],
    logRetentionDays: 7,
    configInitImage: 'public.ecr.aws/docker/library/busybox:1.37.0',
    config: directories,
  });
  return Template.fromStack(stack);
}

describe('config delivery', () => {
  test('a file larger than a parameter is split into ordered parts that the init container joins', () => {
    const content = JSON.stringify({ panels: Array.from({ length: 900 }, (_, i) => ({ id: i, title: `panel ${i} – ü` })) });
    expect(Buffer.byteLength(content)).toBeGreaterThan(20_000);
    const template = service([{ directory: '/dashboards', name: 'big.json', content, tier: 'advanced' }]);
    const parameters = Object.values(resourcesOf(template, 'AWS::SSM::Parameter')).map((p) => p.Properties);
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
