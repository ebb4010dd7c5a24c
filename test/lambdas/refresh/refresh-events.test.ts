import {
  commandStatusChangeEvent,
  configRefreshRequestedEvent,
  parameterStoreChangeEvent,
  refreshRequestDetail,
  TENANT_ID_PATTERN,
} from '../../../lambdas/shared/refresh-events';
import { AGENT_TAGS } from '../../../lambdas/shared/tags';
import { TENANT_ID_PATTERN as CONFIG_TENANT_ID_PATTERN } from '../../../lib/config/schema';
import { loadSampleEvent } from '../fixtures';
import { manualEvent } from './fake-aws';

describe('refresh event schemas', () => {
  test('the sample Parameter Store events parse', () => {
    expect(parameterStoreChangeEvent.parse(loadSampleEvent('parameter-store-change-update.json')).detail).toEqual({
      operation: 'Update',
      name: '/lgtm/agent/aws-rag-ec2/linux',
      type: 'String',
    });
    expect(parameterStoreChangeEvent.parse(loadSampleEvent('parameter-store-change-delete.json')).detail.operation).toBe('Delete');
  });

  test('the sample command status event parses', () => {
    expect(commandStatusChangeEvent.parse(loadSampleEvent('ssm-command-status-success.json')).detail.status).toBe('Success');
  });

  test('an event time must be a date-time', () => {
    const event = loadSampleEvent('parameter-store-change-update.json');
    expect(parameterStoreChangeEvent.safeParse({ ...event, time: 'yesterday' }).success).toBe(false);
    expect(parameterStoreChangeEvent.safeParse({ ...event, time: '2026-13-45T99:00:00Z' }).success).toBe(false);
  });

  test.each([
    [{ tenant: 'team-a' }, true],
    [{ tenant: 'team-a', platform: 'windows', requestedBy: 'ops@host' }, true],
    [{ service: 'mimir' }, true],
    [{ all: true }, true],
    [{}, false],
    [{ tenant: 'team-a', service: 'mimir' }, false],
    [{ service: 'mimir', platform: 'linux' }, false],
    [{ tenant: 'team-a', platform: 'mac' }, false],
    [{ all: false }, false],
    [{ tenant: 'has space' }, false],
    [{ service: 'Mimir' }, false],
    [{ tenant: 'team-a', extra: 1 }, false],
  ])('request detail %j valid: %s', (detail, valid) => {
    expect(refreshRequestDetail.safeParse(detail).success).toBe(valid);
    expect(configRefreshRequestedEvent.safeParse(manualEvent(detail)).success).toBe(valid);
  });

  test('the tenant pattern is the config schema one', () => {
    expect(TENANT_ID_PATTERN.source).toBe(CONFIG_TENANT_ID_PATTERN.source);
  });

  test('agent tags targeted by the refresh', () => {
    expect([AGENT_TAGS.tenant, AGENT_TAGS.platform]).toEqual(['lgtm:agent-tenant', 'lgtm:agent-platform']);
  });
});
