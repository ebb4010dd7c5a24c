import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { CREDENTIAL_CACHE_MS } from '../../../lambdas/shared/agent-credential';
import { AGENT_CREDENTIAL_PLACEHOLDER } from '../../../lambdas/shared/contract';
import { loadSampleEvent, sqsRecord } from '../fixtures';
import { agentCredential, CONFIG_WITH_PLACEHOLDER, credentialSecretValue, getSecretValue } from '../harness/secrets';
import { awsError, bindingSettings, FakeAws, SECRET_PREFIX, testSettings } from './fake-aws';

/**
 * With `ingest.tenantBinding` the install command's config carries the tenant's agent credential in
 * place of the placeholder: one GetSecretValue per tenant, cached across batches; a credential that
 * cannot be read fails the records like a failed SendCommand.
 */

const RUNNING = loadSampleEvent('ec2-instance-running.json');
const RUNNING_TIME = new Date('2026-11-23T12:30:34Z');
const NOW = new Date(RUNNING_TIME.getTime() + 60_000);
const FIRST = 'i-00000000000000a01';
const SECOND = 'i-00000000000000a02';
const TEAM_A = { 'lgtm:tenant': 'team-a' };

function running(instanceId: string): ReturnType<typeof sqsRecord> {
  return sqsRecord({
    ...RUNNING,
    resources: [`arn:aws:ec2:ap-northeast-2:123456789012:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state: 'running' },
  });
}

/** A fake account whose agent configs carry the placeholder, as rendered with tenant binding. */
function bindingAccount(...instanceIds: string[]): FakeAws {
  const aws = new FakeAws(instanceIds.map((id) => ({ id, tags: TEAM_A })));
  aws.configText = () => CONFIG_WITH_PLACEHOLDER;
  return aws;
}

const sentConfigs = (aws: FakeAws) => aws.sendCommands().map((command) => command.Parameters?.AgentConfig?.[0]);
const secretReads = (aws: FakeAws) => aws.secretsManager.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input);

describe('with tenant binding', () => {
  test("writes the tenant's agent credential into every write of the config it sends", async () => {
    const aws = bindingAccount(FIRST);

    const response = await aws.process([running(FIRST)], NOW, bindingSettings());

    expect(response).toEqual({ batchItemFailures: [] });
    expect(secretReads(aws)).toEqual([{ SecretId: `${SECRET_PREFIX}team-a` }]);
    const [config] = sentConfigs(aws);
    expect(config).toBe(CONFIG_WITH_PLACEHOLDER.replaceAll(AGENT_CREDENTIAL_PLACEHOLDER, agentCredential('team-a')));
    expect(config?.match(new RegExp(agentCredential('team-a'), 'g'))).toHaveLength(3);
    expect(config).not.toContain(AGENT_CREDENTIAL_PLACEHOLDER);
    expect(aws.ec2.commandCalls(CreateTagsCommand)).toHaveLength(1);
  });

  test('reads a tenant’s credential once: a second batch of the same tenant uses it from memory', async () => {
    const aws = bindingAccount(FIRST, SECOND);

    await aws.process([running(FIRST)], NOW, bindingSettings());
    await aws.process([running(SECOND)], new Date(NOW.getTime() + 60_000), bindingSettings());

    expect(aws.sendCommands().map((command) => command.InstanceIds)).toEqual([[FIRST], [SECOND]]);
    expect(secretReads(aws)).toHaveLength(1);
    expect(new Set(sentConfigs(aws))).toEqual(
      new Set([CONFIG_WITH_PLACEHOLDER.replaceAll(AGENT_CREDENTIAL_PLACEHOLDER, agentCredential('team-a'))]),
    );
  });

  test('reads it again once the cache has expired, so a rotated credential reaches new installs', async () => {
    const aws = bindingAccount(FIRST, SECOND);

    await aws.process([running(FIRST)], NOW, bindingSettings());
    aws.secrets.set(`${SECRET_PREFIX}team-a`, credentialSecretValue('rotated0credential', agentCredential('team-a')));
    await aws.process([running(SECOND)], new Date(NOW.getTime() + CREDENTIAL_CACHE_MS + 1), bindingSettings());

    expect(secretReads(aws)).toHaveLength(2);
    expect(sentConfigs(aws)[1]).toContain('bearer_token = "rotated0credential"');
  });

  test('one read per tenant and batch, whatever the number of platforms and commands', async () => {
    const aws = new FakeAws([
      { id: FIRST, tags: TEAM_A },
      { id: SECOND, tags: TEAM_A, platform: 'windows' },
      { id: 'i-00000000000000b01' },
    ]);
    aws.configText = () => CONFIG_WITH_PLACEHOLDER;

    await aws.process([running(FIRST), running(SECOND), running('i-00000000000000b01')], NOW, bindingSettings());

    expect(aws.sendCommands()).toHaveLength(3);
    expect(secretReads(aws).map((input) => input.SecretId)).toEqual([`${SECRET_PREFIX}team-a`, `${SECRET_PREFIX}aws-rag-ec2`]);
  });

  test('sends a config without the placeholder unchanged, without reading any secret', async () => {
    const aws = new FakeAws([{ id: FIRST, tags: TEAM_A }]);

    await aws.process([running(FIRST)], NOW, bindingSettings());

    expect(sentConfigs(aws)).toEqual(['// agent config /LgtmFleet/agent/team-a/linux v2\n']);
    expect(secretReads(aws)).toEqual([]);
  });

  test.each([
    ['a missing secret', 'ResourceNotFoundException', "Secrets Manager can't find the specified secret."],
    ['access denied', 'AccessDeniedException', 'not authorized to perform: secretsmanager:GetSecretValue'],
  ])('%s fails that tenant’s records, naming the tenant and the secret; nothing is sent', async (_case, name, message) => {
    const aws = bindingAccount(FIRST);
    aws.secretsManager.on(GetSecretValueCommand).rejects(awsError(name, message));
    const error = jest.spyOn(aws.logger, 'error');
    const record = running(FIRST);

    const response = await aws.process([record], NOW, bindingSettings());

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(aws.ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    expect(aws.ec2.commandCalls(CreateTagsCommand)).toHaveLength(0);
    expect(error).toHaveBeenCalledWith(
      'agent-credential-failed; records will be retried',
      expect.objectContaining({
        reason: 'agent-credential-failed',
        instanceIds: [FIRST],
        errorName: name,
        errorMessage: `agent credential of tenant team-a not read from secret ${SECRET_PREFIX}team-a: ${message}`,
        tenant: 'team-a',
        platform: 'linux',
      }),
    );
    expect(aws.metricValues.get('EnrollErrors')).toBe(1);
  });

  test('throttling that outlasts the SDK retries only warns, and retries the records', async () => {
    const aws = bindingAccount(FIRST);
    aws.secretsManager.on(GetSecretValueCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    const warn = jest.spyOn(aws.logger, 'warn');
    const record = running(FIRST);

    const response = await aws.process([record], NOW, bindingSettings());

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(aws.sendCommands()).toEqual([]);
    expect(warn).toHaveBeenCalledWith(
      'agent-credential-throttled; records will be retried',
      expect.objectContaining({ instanceIds: [FIRST], errorName: 'ThrottlingException', tenant: 'team-a' }),
    );
  });

  test('a failed read is not cached: the retry reads the secret again', async () => {
    const aws = bindingAccount(FIRST, SECOND);
    aws.secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(awsError('ThrottlingException'))
      .callsFake((input) => getSecretValue(aws.secrets, input));

    await aws.process([running(FIRST)], NOW, bindingSettings());
    await aws.process([running(SECOND)], NOW, bindingSettings());

    expect(secretReads(aws)).toHaveLength(2);
    expect(aws.sendCommands().map((command) => command.InstanceIds)).toEqual([[SECOND]]);
  });

  test.each([
    [
      'a current value that is not a bearer token',
      credentialSecretValue('abc" }\ninjected "x'),
      'its "current" value is not a bearer token',
    ],
    ['a bare token instead of JSON', agentCredential('team-a'), 'the value is not JSON'],
    ['JSON without "current"', JSON.stringify({ previous: 'none' }), 'the value has no "current" string'],
    ['a number as "current"', JSON.stringify({ current: 42, previous: 'none' }), 'the value has no "current" string'],
    ['JSON that is not an object', 'null', 'the value has no "current" string'],
  ])('refuses %s rather than writing it into the config', async (_case, value, problem) => {
    const aws = bindingAccount(FIRST);
    aws.secrets.set(`${SECRET_PREFIX}team-a`, value);
    const error = jest.spyOn(aws.logger, 'error');

    const response = await aws.process([running(FIRST)], NOW, bindingSettings());

    expect(response.batchItemFailures).toHaveLength(1);
    expect(aws.sendCommands()).toEqual([]);
    expect(error).toHaveBeenCalledWith(
      'agent-credential-failed; records will be retried',
      expect.objectContaining({
        errorName: 'InvalidAgentCredential',
        errorMessage: expect.stringContaining(`agent credential of tenant team-a not read from secret ${SECRET_PREFIX}team-a: ${problem}`),
      }),
    );
  });
});

describe('without tenant binding (the default)', () => {
  test('sends the config as stored, placeholder and all, and reads no secret', async () => {
    const aws = bindingAccount(FIRST);

    await aws.process([running(FIRST)], NOW, testSettings());

    expect(sentConfigs(aws)).toEqual([CONFIG_WITH_PLACEHOLDER]);
    expect(aws.secretsManager.calls()).toHaveLength(0);
  });
});
