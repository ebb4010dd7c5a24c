import { loadReconcileSettings } from '../../../lambdas/reconcile/settings';
import { EnvironmentError } from '../../../lambdas/shared/env';
import { TEST_ENV } from './fake-fleet';

describe('loadReconcileSettings', () => {
  test('reads the variables the construct sets', () => {
    expect(loadReconcileSettings(TEST_ENV)).toEqual({
      eventBusName: 'LgtmFleet',
      eventSource: 'lgtm-fleet',
      tenantTagKey: 'lgtm:tenant',
      optOutTagKey: 'lgtm:opt-out',
      statusTagKey: 'lgtm:agent-status',
      defaultTenant: 'aws-rag-ec2',
      allowedTenants: undefined,
      alloyVersion: '1.21.0',
      commandTimeoutSeconds: 900,
      retryFailedAfterSeconds: 3600,
      maxInstancesPerRun: 500,
    });
  });

  test('defaults: command timeout 600 s, failed retry after 3,600 s, 500 instances per run', () => {
    const { COMMAND_TIMEOUT_SECONDS: _t, RETRY_FAILED_AFTER_SECONDS: _r, MAX_INSTANCES_PER_RUN: _m, ...env } = TEST_ENV;
    expect(loadReconcileSettings(env)).toMatchObject({
      commandTimeoutSeconds: 600,
      retryFailedAfterSeconds: 3600,
      maxInstancesPerRun: 500,
    });
  });

  test('an empty DEFAULT_TENANT means none; a missing one is an error', () => {
    expect(loadReconcileSettings({ ...TEST_ENV, DEFAULT_TENANT: '' }).defaultTenant).toBeUndefined();
    const { DEFAULT_TENANT: _missing, ...env } = TEST_ENV;
    expect(() => loadReconcileSettings(env)).toThrow(
      new EnvironmentError('environment variable DEFAULT_TENANT is missing (set it to an empty string for none)'),
    );
  });

  test('ALLOWED_TENANTS is optional and must include the default tenant when both are set', () => {
    expect(loadReconcileSettings({ ...TEST_ENV, ALLOWED_TENANTS: ' team-a , aws-rag-ec2,' }).allowedTenants).toEqual(
      new Set(['team-a', 'aws-rag-ec2']),
    );
    expect(() => loadReconcileSettings({ ...TEST_ENV, ALLOWED_TENANTS: 'team-a' })).toThrow(
      'environment variable DEFAULT_TENANT must be one of ALLOWED_TENANTS, got "aws-rag-ec2"',
    );
  });

  test.each([
    ['EVENT_BUS_NAME', '', 'environment variable EVENT_BUS_NAME is missing or empty'],
    ['ALLOY_VERSION', ' ', 'environment variable ALLOY_VERSION is missing or empty'],
    ['MAX_INSTANCES_PER_RUN', '0', 'environment variable MAX_INSTANCES_PER_RUN must be an integer from 1 to 10000, got "0"'],
    ['RETRY_FAILED_AFTER_SECONDS', '1h', 'environment variable RETRY_FAILED_AFTER_SECONDS must be an integer from 60 to 2592000, got "1h"'],
    ['COMMAND_TIMEOUT_SECONDS', '10', 'environment variable COMMAND_TIMEOUT_SECONDS must be an integer from 30 to 2592000, got "10"'],
  ])('%s=%j is refused', (name, value, message) => {
    expect(() => loadReconcileSettings({ ...TEST_ENV, [name]: value })).toThrow(new EnvironmentError(message));
  });
});
