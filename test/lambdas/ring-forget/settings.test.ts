import { loadRingForgetSettings } from '../../../lambdas/ring-forget/settings';
import { TEST_ENV } from './fake-ring-page';

describe('loadRingForgetSettings', () => {
  test('reads RING_PAGE_URL', () => {
    expect(loadRingForgetSettings(TEST_ENV)).toEqual({ ringPageUrl: 'http://mimir.lgtm.internal:8080/ingester/ring' });
  });

  test.each([
    ['Mimir', 'http://mimir.lgtm.internal:8080/ingester/ring'],
    ['Loki', 'http://loki.lgtm.internal:3100/ring'],
  ])('takes %s’s ring page as given, surrounding blanks dropped', (_backend, url) => {
    expect(loadRingForgetSettings({ RING_PAGE_URL: ` ${url} ` }).ringPageUrl).toBe(url);
  });

  test('RING_PAGE_URL is required', () => {
    expect(() => loadRingForgetSettings({})).toThrow('environment variable RING_PAGE_URL is missing or empty');
    expect(() => loadRingForgetSettings({ RING_PAGE_URL: ' ' })).toThrow('environment variable RING_PAGE_URL is missing or empty');
  });

  test.each([
    'mimir.lgtm.internal:8080/ingester/ring',
    'ftp://mimir.lgtm.internal/ingester/ring',
    // The backend's root, not its ring page: the variable's former meaning (a base URL).
    'http://mimir.lgtm.internal:8080',
    'http://loki.lgtm.internal:3100/',
    'http://mimir.lgtm.internal:8080/ingester/ring?x=1',
    'http://loki.lgtm.internal:3100/ring#forget',
  ])('%s is refused', (value) => {
    expect(() => loadRingForgetSettings({ RING_PAGE_URL: value })).toThrow(
      `environment variable RING_PAGE_URL must be an http:// or https:// URL with a path and without query or fragment, got "${value}"`,
    );
  });
});
