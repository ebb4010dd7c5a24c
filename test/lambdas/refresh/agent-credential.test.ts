import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { AGENT_CREDENTIAL_PLACEHOLDER } from '../../../lambdas/shared/contract';
import { sqsRecord } from '../fixtures';
import { agentCredential, credentialSecretValue } from '../harness/secrets';
import { ALLOY_CONFIG, awsError, bindingSettings, changeEvent, FakeAws, manualEvent, SECRET_PREFIX, testSettings } from './fake-aws';

/**
 * With `ingest.tenantBinding` the reload command's config carries the tenant's agent credential in
 * place of the placeholder (checked as stored, sent with the credential): one GetSecretValue per
 * tenant, cached across batches; a failed read fails the rollout like a failed SendCommand.
 */

const NAME = '/lgtm/agent/team-a/linux';
/** The fakes' Alloy config sending the placeholder as its bearer token, as the renderer does with tenant binding. */
const WITH_PLACEHOLDER = ALLOY_CONFIG.replace(
  '    headers = { "X-Scope-OrgID" = sys.env("LGTM_TENANT") }',
  `    headers = { "X-Scope-OrgID" = sys.env("LGTM_TENANT") }\n    bearer_token = "${AGENT_CREDENTIAL_PLACEHOLDER}"`,
);

const sentConfigs = (aws: FakeAws) => aws.sendCommands().map((command) => command.Parameters?.AgentConfig?.[0]);
const secretReads = (aws: FakeAws) => aws.secretsManager.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input);
const failures = (aws: FakeAws) => aws.published().filter((event) => event.detailType === 'Config Refresh Failed');

test('the test config has the placeholder where the renderer puts it', () => {
  expect(WITH_PLACEHOLDER).toContain(`bearer_token = "${AGENT_CREDENTIAL_PLACEHOLDER}"`);
});

describe('with tenant binding', () => {
  test("sends the reload with the tenant's agent credential in the config", async () => {
    const aws = new FakeAws().put(NAME, WITH_PLACEHOLDER, 5).enroll('team-a', 'linux', 2);

    const response = await aws.process([sqsRecord(changeEvent(NAME))], bindingSettings());

    expect(response).toEqual({ batchItemFailures: [] });
    expect(secretReads(aws)).toEqual([{ SecretId: `${SECRET_PREFIX}team-a` }]);
    expect(sentConfigs(aws)).toEqual([WITH_PLACEHOLDER.replace(AGENT_CREDENTIAL_PLACEHOLDER, agentCredential('team-a'))]);
    // The rest of the command is what it is without the credential.
    const [command] = aws.sendCommands();
    expect(command?.Parameters).toMatchObject({ Tenant: ['team-a'], ConfigVersion: ['5'], Action: ['reload'] });
  });

  test('reads a tenant’s credential once: a second batch of the same tenant uses it from memory', async () => {
    const aws = new FakeAws().put(NAME, WITH_PLACEHOLDER, 5).put('/lgtm/agent/team-a/windows', WITH_PLACEHOLDER, 5);

    await aws.process([sqsRecord(changeEvent(NAME))], bindingSettings());
    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/windows'))], bindingSettings());

    expect(aws.sendCommands()).toHaveLength(2);
    expect(secretReads(aws)).toHaveLength(1);
    for (const config of sentConfigs(aws)) expect(config).toContain(`bearer_token = "${agentCredential('team-a')}"`);
  });

  test('a manual refresh reads the credential afresh: a rotated one reaches the agents at once', async () => {
    const aws = new FakeAws().put(NAME, WITH_PLACEHOLDER, 5).put('/lgtm/agent/team-a/windows', WITH_PLACEHOLDER, 5);
    await aws.process([sqsRecord(changeEvent(NAME))], bindingSettings());
    const rotated = 'rotated'.padEnd(64, '1');
    aws.secrets.set(`${SECRET_PREFIX}team-a`, credentialSecretValue(rotated, agentCredential('team-a')));

    // Two minutes later: well within the cache's lifetime.
    aws.now = new Date(aws.now.getTime() + 120_000);
    const request = manualEvent({ tenant: 'team-a', platform: 'linux', requestedBy: 'ops@laptop' }, { time: aws.now });
    await aws.process([sqsRecord(request)], bindingSettings());

    expect(secretReads(aws)).toHaveLength(2);
    expect(sentConfigs(aws)).toEqual([
      WITH_PLACEHOLDER.replace(AGENT_CREDENTIAL_PLACEHOLDER, agentCredential('team-a')),
      WITH_PLACEHOLDER.replace(AGENT_CREDENTIAL_PLACEHOLDER, rotated),
    ]);
    // What it read replaces the cached copy: a change right after it sends the rotated one too, without another read.
    await aws.process([sqsRecord(changeEvent('/lgtm/agent/team-a/windows'))], bindingSettings());
    expect(secretReads(aws)).toHaveLength(2);
    expect(sentConfigs(aws)[2]).toContain(`bearer_token = "${rotated}"`);
  });

  test('sends a config without the placeholder unchanged, without reading any secret', async () => {
    const aws = new FakeAws().put(NAME, ALLOY_CONFIG, 5);

    await aws.process([sqsRecord(changeEvent(NAME))], bindingSettings());

    expect(sentConfigs(aws)).toEqual([ALLOY_CONFIG]);
    expect(secretReads(aws)).toEqual([]);
  });

  test('an earlier command of the same version is found before any secret is read', async () => {
    const aws = new FakeAws().put(NAME, WITH_PLACEHOLDER, 5);
    await aws.process([sqsRecord(changeEvent(NAME))], bindingSettings());
    aws.resetCalls();

    await aws.process([sqsRecord(changeEvent(NAME))], bindingSettings());

    expect(aws.ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    expect(aws.secretsManager.calls()).toHaveLength(0);
  });

  test.each([
    ['a missing secret', 'ResourceNotFoundException', "Secrets Manager can't find the specified secret."],
    ['access denied', 'AccessDeniedException', 'not authorized to perform: secretsmanager:GetSecretValue'],
  ])('%s fails the rollout, naming the tenant and the secret, and retries its records', async (_case, name, message) => {
    const aws = new FakeAws().put(NAME, WITH_PLACEHOLDER, 5);
    aws.secretsManager.on(GetSecretValueCommand).rejects(awsError(name, message));
    const error = jest.spyOn(aws.logger, 'error');
    const record = sqsRecord(changeEvent(NAME));

    const response = await aws.process([record], bindingSettings());

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(aws.sendCommands()).toEqual([]);
    const detail = `GetSecretValue failed: ${name}: agent credential of tenant team-a not read from secret ${SECRET_PREFIX}team-a: ${message}`;
    expect(failures(aws).map((event) => event.detail)).toEqual([
      expect.objectContaining({ parameter: NAME, reason: 'api-error', detail, retrying: true }),
    ]);
    expect(error).toHaveBeenCalledWith('GetSecretValue failed; records will be retried', expect.objectContaining({ errorName: name }));
  });

  test('throttling that outlasts the SDK retries only retries the records, with no Failed outcome', async () => {
    const aws = new FakeAws().put(NAME, WITH_PLACEHOLDER, 5);
    aws.secretsManager.on(GetSecretValueCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    const warn = jest.spyOn(aws.logger, 'warn');
    const record = sqsRecord(changeEvent(NAME));

    const response = await aws.process([record], bindingSettings());

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(aws.sendCommands()).toEqual([]);
    expect(failures(aws)).toEqual([]);
    expect(warn).toHaveBeenCalledWith(
      'GetSecretValue failed; records will be retried',
      expect.objectContaining({ errorName: 'ThrottlingException', parameter: NAME }),
    );
  });
});

describe('without tenant binding (the default)', () => {
  test('sends the config as stored and reads no secret', async () => {
    const aws = new FakeAws().put(NAME, WITH_PLACEHOLDER, 5);

    await aws.process([sqsRecord(changeEvent(NAME))], testSettings());

    expect(sentConfigs(aws)).toEqual([WITH_PLACEHOLDER]);
    expect(aws.secretsManager.calls()).toHaveLength(0);
  });
});
