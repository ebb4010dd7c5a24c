import type { EnvironmentInput, RING_FORGET_VARIABLES } from '../shared/contract';
import { EnvironmentError, requireString } from '../shared/env';

/** Everything the ring-forget handler is configured with, read once from its environment. */
export interface RingForgetSettings {
  /**
   * The ring page to POST the Forget action to, on the service's Cloud Map name (RING_PAGE_URL,
   * e.g. `http://mimir.lgtm.internal:8080/ingester/ring` or `http://loki.lgtm.internal:3100/ring`):
   * any replica serves it.
   */
  readonly ringPageUrl: string;
}

export function loadRingForgetSettings(env: EnvironmentInput<typeof RING_FORGET_VARIABLES>): RingForgetSettings {
  return { ringPageUrl: pageUrl(requireString(env, 'RING_PAGE_URL')) };
}

/**
 * An http(s) URL with a path (the backend's root is not its ring page) and no query or fragment,
 * used as given: the page's path is the backend's, not this function's.
 */
function pageUrl(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url === undefined || !['http:', 'https:'].includes(url.protocol) || url.pathname === '/' || url.search !== '' || url.hash !== '') {
    throw new EnvironmentError(
      `environment variable RING_PAGE_URL must be an http:// or https:// URL with a path and without query or fragment, got "${raw}"`,
    );
  }
  return raw;
}
