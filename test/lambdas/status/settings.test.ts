import { loadStatusSettings } from '../../../lambdas/status/settings';
import { TEST_ENV } from './fake-aws';

describe('loadStatusSettings', () => {
  test('reads every variable', () => {
    expect(loadStatusSettings(TEST_ENV)).toEqual({
      statusTagKey: 'lgtm:agent-status',
      eventBusName: 'LgtmFleet',
      eventSource: 'lgtm-fleet',
      lifecycleFailureResult: 'ABANDON',
      linuxDocumentName: 'lgtm-install-alloy-linux',
      windowsDocumentName: 'lgtm-install-alloy-windows',
    });
  });

  test('LIFECYCLE_FAILURE_RESULT defaults to CONTINUE and accepts only CONTINUE or ABANDON', () => {
    const { LIFECYCLE_FAILURE_RESULT: _unset, ...env } = TEST_ENV;
    expect(loadStatusSettings(env).lifecycleFailureResult).toBe('CONTINUE');
    expect(() => loadStatusSettings({ ...TEST_ENV, LIFECYCLE_FAILURE_RESULT: 'abandon' })).toThrow(
      'environment variable LIFECYCLE_FAILURE_RESULT must be one of CONTINUE, ABANDON, got "abandon"',
    );
  });

  test.each(['STATUS_TAG_KEY', 'EVENT_BUS_NAME', 'EVENT_SOURCE', 'LINUX_DOCUMENT_NAME', 'WINDOWS_DOCUMENT_NAME'])(
    '%s is required',
    (name) => {
      expect(() => loadStatusSettings({ ...TEST_ENV, [name]: ' ' })).toThrow(`environment variable ${name} is missing or empty`);
    },
  );
});
