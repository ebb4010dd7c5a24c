import { loadEnrollSettings } from '../../../lambdas/enroll/settings';
import { TEST_ENV } from './fake-aws';

/** The variables that may be left out: each has a default or means "none" when unset. */
const OPTIONAL_VARIABLES = [
  'SCOPE_TAG_KEY',
  'SCOPE_TAG_VALUES',
  'ENROLL_DEADLINE_SECONDS',
  'COMMAND_TIMEOUT_SECONDS',
  'COMMAND_LOG_GROUP',
  'LIFECYCLE_FAILURE_RESULT',
  'QUEUE_VISIBILITY_TIMEOUT_SECONDS',
];

describe('enroll settings', () => {
  test('the full environment contract', () => {
    expect(loadEnrollSettings({ ...TEST_ENV, PARAMETER_PREFIX: '/LgtmFleet/', QUEUE_VISIBILITY_TIMEOUT_SECONDS: '60' })).toEqual({
      claimTableName: 'LgtmFleet-EnrollClaims',
      linuxDocumentName: 'LgtmFleet-InstallAlloy-Linux',
      windowsDocumentName: 'LgtmFleet-InstallAlloy-Windows',
      parameterPrefix: '/LgtmFleet',
      tenantTagKey: 'lgtm:tenant',
      optOutTagKey: 'lgtm:opt-out',
      allowedTenants: new Set(['aws-rag-ec2', 'team-a']),
      defaultTenant: 'aws-rag-ec2',
      statusTagKey: 'lgtm:agent-status',
      alloyVersion: '1.21.0',
      stopLegacyAgents: true,
      enrollDeadlineSeconds: 900,
      queueUrl: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/LgtmFleet-Enroll',
      deadLetterQueueUrl: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/LgtmFleet-Enroll-DLQ',
      eventBusName: 'LgtmFleet',
      eventSource: 'lgtm-fleet',
      commandTimeoutSeconds: 600,
      commandLogGroup: '/LgtmFleet/enroll-commands',
      lifecycleFailureResult: 'CONTINUE',
      queueVisibilityTimeoutSeconds: 60,
      retryBaseSeconds: 30,
      retryMaxSeconds: 300,
    });
  });

  test('defaults: no scope, deadline 900 s, command timeout 600 s, no log group, lifecycle CONTINUE', () => {
    const required = Object.fromEntries(Object.entries(TEST_ENV).filter(([name]) => !OPTIONAL_VARIABLES.includes(name)));
    const settings = loadEnrollSettings({ ...required, DEFAULT_TENANT: '' });
    expect(settings.scope).toBeUndefined();
    expect(settings.enrollDeadlineSeconds).toBe(900);
    expect(settings.commandTimeoutSeconds).toBe(600);
    expect(settings.commandLogGroup).toBeUndefined();
    expect(settings.defaultTenant).toBeUndefined();
    expect(settings.lifecycleFailureResult).toBe('CONTINUE');
    expect(settings.queueVisibilityTimeoutSeconds).toBeUndefined();
  });

  test.each(Object.keys(TEST_ENV).filter((name) => !OPTIONAL_VARIABLES.includes(name)))('a missing %s fails with its name', (name) => {
    const { [name]: _removed, ...rest }: Record<string, string> = TEST_ENV;
    expect(() => loadEnrollSettings(rest)).toThrow(`environment variable ${name} is missing`);
  });

  test.each([
    [{ DEFAULT_TENANT: 'elsewhere' }, 'environment variable DEFAULT_TENANT must be one of ALLOWED_TENANTS, got "elsewhere"'],
    [{ PARAMETER_PREFIX: 'LgtmFleet' }, 'environment variable PARAMETER_PREFIX must start with "/", got "LgtmFleet"'],
    [{ STOP_LEGACY_AGENTS: 'yes' }, 'environment variable STOP_LEGACY_AGENTS must be "true" or "false", got "yes"'],
    [{ COMMAND_TIMEOUT_SECONDS: '10' }, 'environment variable COMMAND_TIMEOUT_SECONDS must be an integer from 30 to 2592000, got "10"'],
    [
      { LIFECYCLE_FAILURE_RESULT: 'TERMINATE' },
      'environment variable LIFECYCLE_FAILURE_RESULT must be one of CONTINUE, ABANDON, got "TERMINATE"',
    ],
    [
      { QUEUE_VISIBILITY_TIMEOUT_SECONDS: '50000' },
      'environment variable QUEUE_VISIBILITY_TIMEOUT_SECONDS must be an integer from 1 to 43200',
    ],
  ])('rejects %j', (overrides, message) => {
    expect(() => loadEnrollSettings({ ...TEST_ENV, ...overrides })).toThrow(message);
  });
});
