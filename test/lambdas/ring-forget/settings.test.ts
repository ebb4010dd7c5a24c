import { loadRingForgetSettings } from '../../../lambdas/ring-forget/settings';
import { TEST_ENV } from './fake-mimir';

describe('loadRingForgetSettings', () => {
  test('reads MIMIR_URL', () => {
    expect(loadRingForgetSettings(TEST_ENV)).toEqual({ mimirUrl: 'http://mimir.lgtm.internal:8080' });
  });

  test('drops trailing slashes, so that the ring path joins with one', () => {
    expect(loadRingForgetSettings({ MIMIR_URL: 'https://mimir.example.internal:8443/ ' }).mimirUrl).toBe(
      'https://mimir.example.internal:8443',
    );
  });

  test('MIMIR_URL is required', () => {
    expect(() => loadRingForgetSettings({})).toThrow('environment variable MIMIR_URL is missing or empty');
    expect(() => loadRingForgetSettings({ MIMIR_URL: ' ' })).toThrow('environment variable MIMIR_URL is missing or empty');
  });

  test.each([
    'mimir.lgtm.internal:8080',
    'ftp://mimir.lgtm.internal',
    'http://mimir.lgtm.internal:8080/?x=1',
    'http://mimir.lgtm.internal#ring',
  ])('%s is refused', (value) => {
    expect(() => loadRingForgetSettings({ MIMIR_URL: value })).toThrow(
      `environment variable MIMIR_URL must be an http:// or https:// URL without query or fragment, got "${value}"`,
    );
  });
});
