import type { EnvironmentInput, RING_FORGET_VARIABLES } from '../shared/contract';
import { EnvironmentError, requireString } from '../shared/env';

/** Everything the ring-forget handler is configured with, read once from its environment. */
export interface RingForgetSettings {
  /**
   * Base URL of Mimir's HTTP API on the service's Cloud Map name, without a trailing slash
   * (MIMIR_URL, e.g. `http://mimir.lgtm.internal:8080`): any replica serves the ring page.
   */
  readonly mimirUrl: string;
}

export function loadRingForgetSettings(env: EnvironmentInput<typeof RING_FORGET_VARIABLES>): RingForgetSettings {
  return { mimirUrl: baseUrl(requireString(env, 'MIMIR_URL')) };
}

/** An http(s) URL with no query or fragment; the trailing slash is dropped so that paths join with one. */
function baseUrl(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url === undefined || !['http:', 'https:'].includes(url.protocol) || url.search !== '' || url.hash !== '') {
    throw new EnvironmentError(`environment variable MIMIR_URL must be an http:// or https:// URL without query or fragment, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}
