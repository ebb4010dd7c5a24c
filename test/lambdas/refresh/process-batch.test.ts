import { DescribeServicesCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { GetParametersCommand, ListCommandsCommand, PutParameterCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { configDigest } from '../../../lambdas/shared/config-files';
import { loadSampleEvent, sqsRecord } from '../fixtures';
import {
  ALLOY_CONFIG,
  awsError,
  CHANGE_TIME,
  CLUSTER_ARN,
  changeEvent,
  edited,
  FakeAws,
  manualEvent,
  RENDERED,
  serviceArn,
  testSettings,
} from './fake-aws';

const AGENT_PARAMETERS = [
  ['aws-rag-ec2', 'linux', 'lgtm-install-alloy-linux'],
  ['aws-rag-ec2', 'windows', 'lgtm-install-alloy-windows'],
  ['team-a', 'linux', 'lgtm-install-alloy-linux'],
  ['team-a', 'windows', 'lgtm-install-alloy-windows'],
] as const;

function byType(aws: FakeAws, detailType: string) {
  return aws.published().filter((event) => event.detailType === detailType);
}

describe('an agent parameter created or updated', () => {
  test.each(AGENT_PARAMETERS)(
    '%s/%s: exactly one tag-targeted SendCommand with the reload action and the rate controls',
    async (tenant, platform, document) => {
      const name = `/lgtm/agent/${tenant}/${platform}`;
      const aws = new FakeAws().put(name, ALLOY_CONFIG, 5).enroll(tenant, platform, 3);
      const record = sqsRecord(changeEvent(name));

      const response = await aws.process([record]);

      expect(response).toEqual({ batchItemFailures: [] });
      expect(aws.ssm.commandCalls(GetParametersCommand).map((call) => call.args[0].input)).toEqual([{ Names: [name] }]);
      expect(aws.sendCommands()).toEqual([
        {
          DocumentName: document,
          Targets: [
            { Key: 'tag:lgtm:agent-tenant', Values: [tenant] },
            { Key: 'tag:lgtm:agent-platform', Values: [platform] },
          ],
          Parameters: {
            // The checked value itself, so a change during the rollout cannot slip in unchecked.
            AgentConfig: [ALLOY_CONFIG],
            Tenant: [tenant],
            AlloyVersion: ['1.21.0'],
            ConfigVersion: ['5'],
            Action: ['reload'],
            StopLegacyAgents: ['true'],
          },
          TimeoutSeconds: 600,
          MaxConcurrency: '10%',
          MaxErrors: '1',
          Comment: `lgtm-fleet refresh ${tenant}/${platform} v5`,
        },
      ]);
      expect(aws.updateServices()).toEqual([]);
      expect(aws.published()).toEqual([
        {
          detailType: 'Config Refresh Started',
          source: 'lgtm-fleet',
          bus: 'lgtm',
          detail: {
            parameter: name,
            version: 5,
            parameters: [{ name, version: 5 }],
            target: { kind: 'agents', tenant, platform },
            commandId: 'command-4',
            trigger: 'parameter-change',
            sourceEventIds: [expect.stringMatching(/^change-/)],
          },
        },
      ]);
      expect(aws.metricValues.get('RefreshStarted')).toBe(1);
    },
  );

  test.each([0, 1, 120, 2500])('one call for a fleet of %i agents, reaching exactly the agents with both tags', async (size) => {
    const aws = new FakeAws()
      .enroll('team-a', 'linux', size)
      .enroll('team-a', 'windows', 7)
      .enroll('aws-rag-ec2', 'linux', 11)
      .put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 9);

    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/linux'))]);

    expect(aws.sendCommands()).toHaveLength(1);
    expect(aws.sendCommands()[0]).not.toHaveProperty('InstanceIds');
    const resolved = aws.commands[0]?.resolvedInstances ?? [];
    expect(resolved).toHaveLength(size);
    expect(resolved.every((id) => aws.fleet.find((instance) => instance.id === id)?.tags['lgtm:agent-platform'] === 'linux')).toBe(true);
    // No per-instance work in the handler: one read, one look for an earlier refresh, one send, one publish.
    expect(aws.ssm.calls()).toHaveLength(3);
    expect(aws.eventBridge.calls()).toHaveLength(1);
  });

  test('the sample Update event for /lgtm/agent/aws-rag-ec2/linux rolls out', async () => {
    const aws = new FakeAws().put('/lgtm/agent/aws-rag-ec2/linux', ALLOY_CONFIG, 4);

    await aws.process([sqsRecord(loadSampleEvent('parameter-store-change-update.json'))]);

    expect(aws.sendCommands().map((command) => command.Parameters?.ConfigVersion)).toEqual([['4']]);
  });

  test('Create rolls out like Update', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/windows', ALLOY_CONFIG, 1);

    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/windows', 'Create'))]);

    expect(aws.sendCommands().map((command) => command.DocumentName)).toEqual(['lgtm-install-alloy-windows']);
  });

  test('rate controls, timeout and command output come from the environment', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 2);
    const settings = testSettings({
      MAX_CONCURRENCY: '5',
      MAX_ERRORS: '0',
      COMMAND_TIMEOUT_SECONDS: '900',
      COMMAND_LOG_GROUP: '/lgtm/refresh-commands',
      STOP_LEGACY_AGENTS: 'false',
    });

    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/linux'))], settings);

    expect(aws.sendCommands()[0]).toMatchObject({
      MaxConcurrency: '5',
      MaxErrors: '0',
      TimeoutSeconds: 900,
      Parameters: expect.objectContaining({ StopLegacyAgents: ['false'] }),
      CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: '/lgtm/refresh-commands' },
    });
  });

  test('an agent parameter of a tenant outside the allowed list is refused and published, nothing sent', async () => {
    const aws = new FakeAws().put('/lgtm/agent/intruder/linux', ALLOY_CONFIG, 1);

    const response = await aws.process([sqsRecord(changeEvent('/lgtm/agent/intruder/linux'))]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.ssm.calls()).toHaveLength(0);
    expect(aws.published()).toEqual([
      expect.objectContaining({
        detailType: 'Config Refresh Failed',
        detail: expect.objectContaining({ parameter: '/lgtm/agent/intruder/linux', reason: 'tenant-not-allowed' }),
      }),
    ]);
  });

  test('a parameter under the prefix that is no config is ignored with a log line', async () => {
    const aws = new FakeAws();

    const response = await aws.process([sqsRecord(changeEvent('/lgtm/enrollment/rules'))]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.ssm.calls()).toHaveLength(0);
    expect(aws.published()).toEqual([]);
    expect(aws.metricValues.get('IgnoredEvents')).toBe(1);
  });
});

describe('a backend or collector parameter', () => {
  test.each([
    ['/lgtm/config/mimir', 'mimir'],
    ['/lgtm/config/loki', 'loki'],
    ['/lgtm/config/tempo', 'tempo'],
    ['/lgtm/config/grafana/tenant-aws-rag-ec2', 'grafana'],
  ])('%s: a new task definition revision of exactly the %s service, reading a copy of the checked version', async (name, service) => {
    const value = edited(name);
    const aws = new FakeAws().put(name, value, 7);

    const response = await aws.process([sqsRecord(changeEvent(name))]);

    expect(response).toEqual({ batchItemFailures: [] });
    const revision = `arn:aws:ecs:ap-northeast-2:123456789012:task-definition/lgtm-${service}:2`;
    expect(aws.updateServices()).toEqual([{ cluster: CLUSTER_ARN, service: serviceArn(service), taskDefinition: revision }]);
    const copy = `${name.replace('/lgtm/config/', '/lgtm/deployed/')}/v7-${configDigest(value)}`;
    expect(aws.parameters.get(copy)?.value).toBe(value);
    const [registered] = aws.registeredTaskDefinitions();
    const init = registered?.containerDefinitions?.find((container) => container.name === 'config-init');
    expect(init?.secrets?.map((secret) => secret.valueFrom)).toContain(`arn:aws:ssm:ap-northeast-2:123456789012:parameter${copy}`);
    expect(init?.environment).toEqual([{ name: 'LGTM_CONFIG_VERSIONS', value: `${name}=v7` }]);
    // Everything else as the stack registered it, its own tags included (AWS-reserved ones cannot be set).
    expect(registered?.tags).toEqual([{ key: 'project', value: 'lgtm-fleet' }]);
    expect(registered?.runtimePlatform).toEqual({ cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' });
    expect(aws.sendCommands()).toEqual([]);
    // Every file under the config path, 10 per page (the API's maximum), following NextToken.
    const configFiles = [...RENDERED.keys()].filter((n) => n.startsWith('/lgtm/config/')).length;
    const pages = aws.getParametersByPathInputs();
    expect(pages).toHaveLength(Math.ceil(configFiles / 10));
    pages.forEach((page, index) => {
      expect(page).toMatchObject({ Path: '/lgtm/config', Recursive: true, MaxResults: 10 });
      expect(page.NextToken).toBe(index === 0 ? undefined : String(index * 10));
    });
    const [started] = byType(aws, 'Config Refresh Started');
    expect(started?.detail).toMatchObject({
      parameter: name,
      version: 7,
      target: { kind: 'service', service },
      deploymentId: expect.stringMatching(/^ecs-svc\//),
      trigger: 'parameter-change',
    });
  });

  test('several Grafana files changed in one batch: one deployment, checked against every Grafana file', async () => {
    const aws = new FakeAws()
      .put('/lgtm/config/grafana/tenant-team-x', 'apiVersion: 1\ndatasources: []\n', 1)
      .put('/lgtm/config/grafana/federated-loki', edited('/lgtm/config/grafana/federated-loki'), 4)
      .put('/lgtm/config/grafana/federated-mimir', edited('/lgtm/config/grafana/federated-mimir'), 2);

    await aws.process([
      sqsRecord(changeEvent('/lgtm/config/grafana/tenant-team-x', 'Create')),
      sqsRecord(changeEvent('/lgtm/config/grafana/federated-loki')),
      sqsRecord(changeEvent('/lgtm/config/grafana/federated-mimir')),
    ]);

    expect(aws.updateServices()).toEqual([
      { cluster: CLUSTER_ARN, service: serviceArn('grafana'), taskDefinition: expect.stringMatching(/lgtm-grafana:2$/) },
    ]);
    // Only the changed files get copies; a file no task definition names (tenant-team-x) is checked, not delivered.
    expect(
      aws.ssm
        .commandCalls(PutParameterCommand)
        .map((call) => call.args[0].input.Name)
        .sort(),
    ).toEqual([
      expect.stringMatching(/^\/lgtm\/deployed\/grafana\/federated-loki\/v4-/),
      expect.stringMatching(/^\/lgtm\/deployed\/grafana\/federated-mimir\/v2-/),
    ]);
    const [started] = byType(aws, 'Config Refresh Started');
    expect(started?.detail).toMatchObject({ parameter: '/lgtm/config/grafana', version: null });
    const files = ((started?.detail.parameters ?? []) as Array<{ name: string }>).map((file) => file.name);
    expect(files).toContain('/lgtm/config/grafana/tenant-team-x');
    expect(files).toHaveLength([...RENDERED.keys()].filter((name) => name.startsWith('/lgtm/config/grafana/')).length + 1);
  });

  test('a Grafana change is refused while another Grafana file is invalid: new tasks would read both', async () => {
    const aws = new FakeAws().put('/lgtm/config/grafana/federated-tempo', 'apiVersion: 1\ndatasources:\n\t- name: x\n', 6);

    await aws.process([sqsRecord(changeEvent('/lgtm/config/grafana/federated-mimir'))]);

    expect(aws.updateServices()).toEqual([]);
    expect(byType(aws, 'Config Refresh Failed').map((event) => event.detail)).toEqual([
      expect.objectContaining({ parameter: '/lgtm/config/grafana/federated-tempo', version: 6, reason: 'invalid-yaml' }),
    ]);
  });

  test('a parameter of a service the function does not know is refused with the reason', async () => {
    const aws = new FakeAws().put('/lgtm/config/prometheus', 'global: {}\n', 1);

    await aws.process([sqsRecord(changeEvent('/lgtm/config/prometheus'))]);

    expect(aws.rollouts()).toBe(0);
    expect(byType(aws, 'Config Refresh Failed').map((event) => event.detail)).toEqual([
      expect.objectContaining({
        parameter: '/lgtm/config/prometheus',
        reason: 'unknown-service',
        detail: expect.stringContaining('mimir, loki, tempo, grafana'),
      }),
    ]);
  });
});

describe('Delete and label-only changes', () => {
  test('the sample Delete pushes nothing and says so on the bus', async () => {
    const aws = new FakeAws();

    const response = await aws.process([sqsRecord(loadSampleEvent('parameter-store-change-delete.json'))]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.ssm.calls()).toHaveLength(0);
    expect(aws.ecs.calls()).toHaveLength(0);
    expect(aws.published()).toEqual([
      {
        detailType: 'Config Refresh Skipped',
        source: 'lgtm-fleet',
        bus: 'lgtm',
        detail: {
          parameter: '/lgtm/agent/aws-rag-ec2/linux',
          reason: 'deleted',
          detail: expect.stringContaining('never pushed'),
          operation: 'Delete',
          target: { kind: 'agents', tenant: 'aws-rag-ec2', platform: 'linux' },
          sourceEventIds: ['0c4d3a2b-1e5f-4a6b-8c7d-9e0f1a2b3c4d'],
        },
      },
    ]);
    expect(aws.metricValues.get('RefreshSkipped')).toBe(1);
  });

  test('deleting a backend parameter does not deploy the service', async () => {
    const aws = new FakeAws();

    await aws.process([sqsRecord(changeEvent('/lgtm/config/loki', 'Delete'))]);

    expect(aws.ecs.calls()).toHaveLength(0);
    expect(byType(aws, 'Config Refresh Skipped')).toHaveLength(1);
  });

  test('LabelParameterVersion changes no value: skipped, published', async () => {
    const aws = new FakeAws();

    await aws.process([sqsRecord(changeEvent('/lgtm/config/mimir', 'LabelParameterVersion'))]);

    expect(aws.rollouts()).toBe(0);
    expect(aws.ssm.calls()).toHaveLength(0);
    expect(byType(aws, 'Config Refresh Skipped').map((event) => event.detail)).toEqual([
      expect.objectContaining({ parameter: '/lgtm/config/mimir', reason: 'label-only', operation: 'LabelParameterVersion' }),
    ]);
  });

  test('an update followed by a delete in the same batch pushes nothing; a delete followed by a create rolls out', async () => {
    const aws = new FakeAws();
    const later = new Date(CHANGE_TIME.getTime() + 4000);

    await aws.process([
      sqsRecord(changeEvent('/lgtm/agent/team-a/linux', 'Update', CHANGE_TIME)),
      sqsRecord(changeEvent('/lgtm/agent/team-a/linux', 'Delete', later)),
      sqsRecord(changeEvent('/lgtm/agent/team-a/windows', 'Delete', CHANGE_TIME)),
      sqsRecord(changeEvent('/lgtm/agent/team-a/windows', 'Create', later)),
    ]);

    expect(aws.sendCommands().map((command) => command.DocumentName)).toEqual(['lgtm-install-alloy-windows']);
    expect(byType(aws, 'Config Refresh Skipped').map((event) => event.detail.parameter)).toEqual(['/lgtm/agent/team-a/linux']);
  });
});

describe('debouncing and duplicates', () => {
  test('a burst of 5 updates to one parameter in one batch: one read, one rollout', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 12, new Date(CHANGE_TIME.getTime() + 8000));
    const burst = [0, 2, 4, 6, 8].map((seconds) =>
      sqsRecord(changeEvent('/lgtm/agent/team-a/linux', 'Update', new Date(CHANGE_TIME.getTime() + seconds * 1000))),
    );

    const response = await aws.process(burst);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.ssm.commandCalls(GetParametersCommand)).toHaveLength(1);
    expect(aws.sendCommands()).toHaveLength(1);
    expect(aws.sendCommands()[0]?.Parameters?.ConfigVersion).toEqual(['12']);
    expect(aws.metricValues.get('Superseded')).toBe(4);
    expect(byType(aws, 'Config Refresh Started')[0]?.detail.sourceEventIds).toHaveLength(1);
  });

  test('a change whose parameter was modified again since is superseded: no rollout, no bus event', async () => {
    const aws = new FakeAws().put(
      '/lgtm/config/mimir',
      RENDERED.get('/lgtm/config/mimir') as string,
      9,
      new Date(CHANGE_TIME.getTime() + 30_000),
    );

    const response = await aws.process([sqsRecord(changeEvent('/lgtm/config/mimir', 'Update', CHANGE_TIME))]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.rollouts()).toBe(0);
    expect(aws.ecs.calls()).toHaveLength(0);
    expect(aws.published()).toEqual([]);
    expect(aws.metricValues.get('Superseded')).toBe(1);
  });

  test('a change whose parameter is gone since is superseded', async () => {
    const aws = new FakeAws();
    aws.parameters.delete('/lgtm/agent/team-a/linux');

    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/linux'))]);

    expect(aws.rollouts()).toBe(0);
    expect(aws.metricValues.get('Superseded')).toBe(1);
  });

  test('a modification within the grace period of the event time is the same change: rolled out', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 3, new Date(CHANGE_TIME.getTime() + 900));

    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/linux', 'Update', CHANGE_TIME))]);

    expect(aws.sendCommands()).toHaveLength(1);
  });

  test('the same change delivered again in a later batch does not reload the fleet again', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 3);
    const event = changeEvent('/lgtm/agent/team-a/linux');
    await aws.process([sqsRecord(event)]);
    aws.resetCalls();

    const response = await aws.process([sqsRecord(event)]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toEqual([]);
    expect(aws.ssm.commandCalls(ListCommandsCommand).map((call) => call.args[0].input.Filters)).toEqual([
      [
        { key: 'DocumentName', value: 'lgtm-install-alloy-linux' },
        { key: 'InvokedAfter', value: '2026-11-23T12:40:48Z' },
      ],
    ]);
    expect(aws.published().map((event) => [event.detailType, event.detail.reason, event.detail.commandId])).toEqual([
      ['Config Refresh Skipped', 'already-applied', aws.commands[0]?.CommandId],
    ]);
  });

  test('the same backend change delivered twice starts one deployment', async () => {
    const aws = new FakeAws().put('/lgtm/config/tempo', edited('/lgtm/config/tempo'), 4);
    const event = changeEvent('/lgtm/config/tempo');
    await aws.process([sqsRecord(event)]);

    await aws.process([sqsRecord(event)]);

    expect(aws.updateServices()).toHaveLength(1);
    expect(aws.ecs.commandCalls(DescribeServicesCommand)).toHaveLength(2);
    const [started] = byType(aws, 'Config Refresh Started');
    expect(byType(aws, 'Config Refresh Skipped').map((skipped) => skipped.detail)).toEqual([
      expect.objectContaining({ reason: 'already-applied', deploymentId: started?.detail.deploymentId, version: 4 }),
    ]);
  });

  test('a change the service already runs (cdk deploy updates the service before the parameter) is already applied', async () => {
    const aws = new FakeAws().put('/lgtm/config/loki', RENDERED.get('/lgtm/config/loki') as string, 8);

    await aws.process([sqsRecord(changeEvent('/lgtm/config/loki'))]);

    expect(aws.updateServices()).toEqual([]);
    expect(aws.registeredTaskDefinitions()).toEqual([]);
    expect(byType(aws, 'Config Refresh Skipped')[0]?.detail).toMatchObject({
      reason: 'already-applied',
      deploymentId: 'ecs-svc/loki-stack',
    });
  });

  test('a refresh of an older version does not count as applied', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 3);
    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/linux'))]);
    const later = new Date(CHANGE_TIME.getTime() + 120_000);
    aws.put('/lgtm/agent/team-a/linux', `${ALLOY_CONFIG}// v4\n`, 4, later);
    aws.now = new Date(later.getTime() + 40_000);

    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/linux', 'Update', later))]);

    expect(aws.sendCommands().map((command) => command.Comment)).toEqual([
      'lgtm-fleet refresh team-a/linux v3',
      'lgtm-fleet refresh team-a/linux v4',
    ]);
  });
});

describe('checks before rollout', () => {
  test('an empty agent config is refused: Failed event with the reason, no command', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', '  \n', 6);

    const response = await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/linux'))]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toEqual([]);
    expect(aws.ssm.commandCalls(ListCommandsCommand)).toEqual([]);
    expect(aws.published()).toEqual([
      {
        detailType: 'Config Refresh Failed',
        source: 'lgtm-fleet',
        bus: 'lgtm',
        detail: {
          parameter: '/lgtm/agent/team-a/linux',
          version: 6,
          reason: 'empty',
          detail: expect.stringMatching(/^the value is empty; nothing was rolled out/),
          target: { kind: 'agents', tenant: 'team-a', platform: 'linux' },
          trigger: 'parameter-change',
          sourceEventIds: [expect.any(String)],
        },
      },
    ]);
    expect(aws.metricValues.get('RefreshFailed')).toBe(1);
  });

  test('an oversized config is refused with its size', async () => {
    const aws = new FakeAws().put('/lgtm/config/loki', `auth_enabled: true\n# ${'x'.repeat(9000)}\n`, 2);

    await aws.process([sqsRecord(changeEvent('/lgtm/config/loki'))]);

    expect(aws.updateServices()).toEqual([]);
    expect(byType(aws, 'Config Refresh Failed')[0]?.detail).toMatchObject({
      reason: 'too-large',
      detail: expect.stringContaining('over the 8192-byte limit'),
    });
  });

  test('MAX_CONFIG_BYTES sets the limit', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 2);

    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/linux'))], testSettings({ MAX_CONFIG_BYTES: '100' }));

    expect(aws.sendCommands()).toEqual([]);
    expect(byType(aws, 'Config Refresh Failed')[0]?.detail.reason).toBe('too-large');
  });

  test.each([
    ['/lgtm/config/mimir', 'target: all\nserver:\n\thttp_listen_port: 8080\n', /^line 3, column 1: Tabs are not allowed as indentation/],
    [
      '/lgtm/config/tempo',
      'server:\n  http_listen_port:3200\n  grpc_listen_port: 9097\n',
      /^line 2, column 3: .*"http_listen_port:" needs a space after the colon/,
    ],
    ['/lgtm/config/loki', 'auth_enabled: true\nauth_enabled: false\n', /^line 2, column 1: Map keys must be unique/],
    ['/lgtm/config/grafana/federated-loki', 'apiVersion: 1\ndatasources:\n  - name: "Loki\n', /^line 3, column 16: Missing closing "quote/],
  ])('invalid YAML in %s is refused with the parser message, no deployment', async (name, value, message) => {
    const aws = new FakeAws().put(name, value, 11);

    await aws.process([sqsRecord(changeEvent(name))]);

    expect(aws.ecs.calls()).toHaveLength(0);
    const [failed] = byType(aws, 'Config Refresh Failed');
    expect(failed?.detail).toMatchObject({ parameter: name, version: 11, reason: 'invalid-yaml' });
    expect(failed?.detail.detail).toMatch(message);
  });

  test('an agent config with an unbalanced brace is refused', async () => {
    const aws = new FakeAws().put('/lgtm/agent/aws-rag-ec2/windows', 'prometheus.exporter.windows "host" {\n', 3);

    await aws.process([sqsRecord(changeEvent('/lgtm/agent/aws-rag-ec2/windows'))]);

    expect(aws.sendCommands()).toEqual([]);
    expect(byType(aws, 'Config Refresh Failed')[0]?.detail).toMatchObject({
      reason: 'invalid-alloy',
      detail: expect.stringContaining('line 1: "{" is never closed'),
    });
  });

  test('a SecureString config is refused (Run Command cannot pass it, and it cannot be checked)', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', 'AQICAH…ciphertext', 2, CHANGE_TIME, 'SecureString');

    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/linux'))]);

    expect(aws.sendCommands()).toEqual([]);
    expect(byType(aws, 'Config Refresh Failed')[0]?.detail.reason).toBe('unsupported-type');
  });

  test('every config the stack renders passes the checks', async () => {
    const aws = new FakeAws();
    const manual = sqsRecord(manualEvent({ all: true }));

    await aws.process([manual]);

    expect(byType(aws, 'Config Refresh Failed')).toEqual([]);
    expect(aws.rollouts()).toBe(8);
  });
});

describe('malformed events and failed calls', () => {
  test('malformed events go to the dead-letter queue with the reason; the rest of the batch is processed', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 3);
    const notJson = sqsRecord('{ nope');
    const unknown = sqsRecord({ ...changeEvent('/x'), 'detail-type': 'Something Else' });
    const noName = sqsRecord({ ...changeEvent('/x'), detail: { operation: 'Update' } });
    const good = sqsRecord(changeEvent('/lgtm/agent/team-a/linux'));

    const response = await aws.process([notJson, unknown, good, noName]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toHaveLength(1);
    const letters = aws.deadLetters();
    expect(letters.map((letter) => [letter.Id, letter.MessageAttributes?.reason?.StringValue])).toEqual([
      [notJson.messageId, 'malformed-event'],
      [unknown.messageId, 'malformed-event'],
      [noName.messageId, 'malformed-event'],
    ]);
    expect(letters[0]?.MessageBody).toBe('{ nope');
    expect(letters[1]?.MessageAttributes?.detail?.StringValue).toBe('unsupported event: detail-type "Something Else"');
    expect(letters[2]?.MessageAttributes?.detail?.StringValue).toMatch(/^invalid "Parameter Store Change" event: detail\.name: /);
    expect(aws.sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.QueueUrl).toBe(
      'https://sqs.ap-northeast-2.amazonaws.com/123456789012/lgtm-refresh-dlq',
    );
    expect(aws.metricValues.get('MalformedEvents')).toBe(3);
    expect(aws.metricValues.get('DeadLettered')).toBe(3);
  });

  test('a malformed event the dead-letter queue refuses is retried instead of lost', async () => {
    const aws = new FakeAws();
    aws.sqs.on(SendMessageBatchCommand).rejects(awsError('AccessDenied'));
    const bad = sqsRecord('nope');

    const response = await aws.process([bad]);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: bad.messageId }]);
  });

  test('throttling on SendCommand fails that record (the queue retries it); the others go through', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 3).put('/lgtm/config/mimir', edited('/lgtm/config/mimir'), 4);
    aws.ssm.on(SendCommandCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    const agent = sqsRecord(changeEvent('/lgtm/agent/team-a/linux'));
    const backend = sqsRecord(changeEvent('/lgtm/config/mimir'));

    const response = await aws.process([agent, backend]);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: agent.messageId }]);
    expect(aws.updateServices()).toHaveLength(1);
    // Throttling is expected under bursts: no Failed event, only the retry.
    expect(aws.published().map((event) => event.detailType)).toEqual(['Config Refresh Started']);
    expect(aws.metricValues.get('RetriedRecords')).toBe(1);
  });

  test('throttled GetParameters fails the agent records', async () => {
    const aws = new FakeAws();
    aws.ssm.on(GetParametersCommand).rejects(awsError('ThrottlingException'));
    const record = sqsRecord(changeEvent('/lgtm/agent/team-a/linux'));

    const response = await aws.process([record]);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(aws.sendCommands()).toEqual([]);
  });

  test('AccessDenied on UpdateService fails the record with the reason on the bus', async () => {
    const aws = new FakeAws().put('/lgtm/config/loki', edited('/lgtm/config/loki'), 5);
    aws.ecs.on(UpdateServiceCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: ecs:UpdateService'));
    const record = sqsRecord(changeEvent('/lgtm/config/loki'));

    const response = await aws.process([record]);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(byType(aws, 'Config Refresh Failed').map((event) => event.detail)).toEqual([
      expect.objectContaining({
        parameter: '/lgtm/config/loki',
        reason: 'api-error',
        detail: 'UpdateService failed: AccessDeniedException: not authorized to perform: ecs:UpdateService',
        retrying: true,
        target: { kind: 'service', service: 'loki' },
      }),
    ]);
  });

  test('AccessDenied on SendCommand fails the record with the reason', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/windows', ALLOY_CONFIG, 5);
    aws.ssm.on(SendCommandCommand).rejects(awsError('AccessDeniedException', 'not authorized on instance'));
    const record = sqsRecord(changeEvent('/lgtm/agent/team-a/windows'));

    const response = await aws.process([record]);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(byType(aws, 'Config Refresh Failed')[0]?.detail.detail).toBe(
      'SendCommand failed: AccessDeniedException: not authorized on instance',
    );
  });

  test('entries PutEvents reports as failed are put again', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 3);
    aws.eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }] })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });
    const record = sqsRecord(changeEvent('/lgtm/agent/team-a/linux'));

    const response = await aws.process([record]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.eventBridge.commandCalls(PutEventsCommand)).toHaveLength(2);
  });

  test('an outcome that cannot be published fails its record; the retry finds the command and reports it', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 3);
    aws.eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'x' }] });
    const event = changeEvent('/lgtm/agent/team-a/linux');
    const record = sqsRecord(event);

    const first = await aws.process([record]);
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(aws.eventBridge.commandCalls(PutEventsCommand)).toHaveLength(3);
    expect(aws.metricValues.get('UnpublishedEvents')).toBe(1);

    aws.eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });
    const retry = await aws.process([record]);
    expect(retry.batchItemFailures).toEqual([]);
    expect(aws.sendCommands()).toHaveLength(1);
  });

  test('more than 10 outcomes are published in calls of at most 10', async () => {
    const aws = new FakeAws();
    const deletes = Array.from({ length: 13 }, (_, index) => sqsRecord(changeEvent(`/lgtm/config/grafana/file-${index}`, 'Delete')));

    await aws.process(deletes);

    expect(aws.eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries?.length)).toEqual([10, 3]);
  });
});

describe('manual refresh requests', () => {
  test('a tenant: both platforms, current versions, trigger manual', async () => {
    const aws = new FakeAws();

    const response = await aws.process([sqsRecord(manualEvent({ tenant: 'team-a', requestedBy: 'ops@laptop' }))]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands().map((command) => [command.DocumentName, command.Parameters?.AgentConfig, command.Comment])).toEqual([
      ['lgtm-install-alloy-linux', [ALLOY_CONFIG], 'lgtm-fleet refresh team-a/linux v2'],
      ['lgtm-install-alloy-windows', [ALLOY_CONFIG], 'lgtm-fleet refresh team-a/windows v2'],
    ]);
    expect(aws.ssm.commandCalls(GetParametersCommand).map((call) => call.args[0].input)).toEqual([
      { Names: ['/lgtm/agent/team-a/linux', '/lgtm/agent/team-a/windows'] },
    ]);
    expect(byType(aws, 'Config Refresh Started').map((event) => event.detail.trigger)).toEqual(['manual', 'manual']);
  });

  test('a tenant and one platform', async () => {
    const aws = new FakeAws();

    await aws.process([sqsRecord(manualEvent({ tenant: 'aws-rag-ec2', platform: 'windows' }))]);

    expect(aws.sendCommands().map((command) => command.Targets)).toEqual([
      [
        { Key: 'tag:lgtm:agent-tenant', Values: ['aws-rag-ec2'] },
        { Key: 'tag:lgtm:agent-platform', Values: ['windows'] },
      ],
    ]);
  });

  test('a service', async () => {
    const aws = new FakeAws();

    await aws.process([sqsRecord(manualEvent({ service: 'grafana' }))]);

    expect(aws.updateServices()).toEqual([{ cluster: CLUSTER_ARN, service: serviceArn('grafana'), forceNewDeployment: true }]);
    expect(aws.sendCommands()).toEqual([]);
  });

  test('everything: every agent parameter of the allowed tenants and every service', async () => {
    const aws = new FakeAws();

    await aws.process([sqsRecord(manualEvent({ all: true }))]);

    expect(aws.sendCommands().map((command) => command.Comment)).toEqual([
      'lgtm-fleet refresh aws-rag-ec2/linux v2',
      'lgtm-fleet refresh aws-rag-ec2/windows v2',
      'lgtm-fleet refresh team-a/linux v2',
      'lgtm-fleet refresh team-a/windows v2',
    ]);
    expect(aws.updateServices().map((input) => input.service)).toEqual(['mimir', 'loki', 'tempo', 'grafana'].map(serviceArn));
  });

  test('a manual request pushes again even when that version was rolled out before the request', async () => {
    const aws = new FakeAws().put('/lgtm/agent/team-a/linux', ALLOY_CONFIG, 3);
    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/linux'))]);
    aws.now = new Date('2026-11-23T13:10:00Z');

    await aws.process([sqsRecord(manualEvent({ tenant: 'team-a', platform: 'linux' }, { time: new Date('2026-11-23T13:09:30Z') }))]);

    expect(aws.sendCommands()).toHaveLength(2);
  });

  test('the same manual request delivered twice pushes once', async () => {
    const aws = new FakeAws();
    const event = manualEvent({ service: 'mimir' });
    await aws.process([sqsRecord(event)]);

    await aws.process([sqsRecord(event)]);

    expect(aws.updateServices()).toHaveLength(1);
  });

  test('a tenant outside the allowed list, or an unknown service, is refused on the bus', async () => {
    const aws = new FakeAws();

    const response = await aws.process([sqsRecord(manualEvent({ tenant: 'nobody' })), sqsRecord(manualEvent({ service: 'prometheus' }))]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.rollouts()).toBe(0);
    expect(byType(aws, 'Config Refresh Failed').map((event) => [event.detail.reason, event.detail.trigger])).toEqual([
      ['tenant-not-allowed', 'manual'],
      ['unknown-service', 'manual'],
    ]);
  });

  test('a manual request for a config that does not exist fails with the reason, not retried', async () => {
    const aws = new FakeAws();
    aws.parameters.delete('/lgtm/agent/team-a/windows');

    const response = await aws.process([sqsRecord(manualEvent({ tenant: 'team-a' }))]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.sendCommands().map((command) => command.DocumentName)).toEqual(['lgtm-install-alloy-linux']);
    expect(byType(aws, 'Config Refresh Failed')[0]?.detail).toMatchObject({
      parameter: '/lgtm/agent/team-a/windows',
      reason: 'parameter-not-found',
    });
  });

  test('a request from another source, or asking for two things, is dead-lettered', async () => {
    const aws = new FakeAws();
    const foreign = sqsRecord(manualEvent({ all: true }, { source: 'someone-else' }));
    const both = sqsRecord(manualEvent({ tenant: 'team-a', service: 'mimir' }));
    const platformOnly = sqsRecord(manualEvent({ platform: 'linux' }));

    const response = await aws.process([foreign, both, platformOnly]);

    expect(response.batchItemFailures).toEqual([]);
    expect(aws.rollouts()).toBe(0);
    expect(aws.deadLetters().map((letter) => letter.MessageAttributes?.detail?.StringValue)).toEqual([
      '"Config Refresh Requested" from unexpected source "someone-else"',
      expect.stringContaining('give exactly one of tenant'),
      expect.stringContaining('give exactly one of tenant'),
    ]);
  });

  test('a manual request and a change to the same parameter in one batch: one rollout', async () => {
    const aws = new FakeAws().put('/lgtm/config/mimir', RENDERED.get('/lgtm/config/mimir') as string, 4);

    await aws.process([sqsRecord(changeEvent('/lgtm/config/mimir')), sqsRecord(manualEvent({ service: 'mimir' }))]);

    expect(aws.updateServices()).toHaveLength(1);
  });
});
