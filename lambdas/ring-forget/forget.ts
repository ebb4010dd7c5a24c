import { errorName } from '../shared/aws';

/**
 * The one call the handler makes: the ring page's Forget action (dskit `ring/ring_http.go`, the
 * same handler behind Mimir's `/ingester/ring` and Loki's `/ring`), which removes one instance ID
 * from the ring and answers with a redirect to the page. Forgetting an ID the ring does not hold changes nothing, and a live ingester whose
 * entry is removed adds it again on its next heartbeat, so a repeated call does no harm.
 */

export const FORGET_FIELD = 'forget';
/** How long one call may take, answer included. */
export const FORGET_TIMEOUT_MS = 10_000;

export interface ForgetRequest {
  readonly url: string;
  /** `application/x-www-form-urlencoded`. */
  readonly body: string;
}

export function forgetRequest(ringPageUrl: string, instanceId: string): ForgetRequest {
  return { url: ringPageUrl, body: new URLSearchParams({ [FORGET_FIELD]: instanceId }).toString() };
}

export type ForgetOutcome =
  /** 2xx or 3xx: the ID is no longer in the ring. */
  | { readonly kind: 'forgotten'; readonly status: number }
  /** Any other status; `answer` is the start of the body (the backend writes its error there). */
  | { readonly kind: 'refused'; readonly status: number; readonly answer: string }
  /** No answer: connection refused, DNS failure, timeout. */
  | { readonly kind: 'unreachable'; readonly error: unknown; readonly reason: string };

/** The redirect is the backend's answer, not a page to load (it points at the ring page itself). */
export async function sendForget(request: ForgetRequest, fetchFn: typeof fetch, timeoutMs: number): Promise<ForgetOutcome> {
  try {
    const response = await fetchFn(request.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: request.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.status >= 200 && response.status < 400) {
      await response.body?.cancel();
      return { kind: 'forgotten', status: response.status };
    }
    const answer = (await response.text()).trim().slice(0, 300);
    return { kind: 'refused', status: response.status, answer };
  } catch (error) {
    return { kind: 'unreachable', error, reason: unreachableReason(error) };
  }
}

/**
 * fetch's own error says only "fetch failed": its cause (ECONNREFUSED, ENOTFOUND, …) says why. Read
 * by shape, not `instanceof`: fetch's errors may come from another realm than this code's.
 */
function unreachableReason(error: unknown): string {
  const { message, cause } = fieldsOf(error);
  const { code, message: causeMessage } = fieldsOf(cause);
  const detail = typeof code === 'string' ? code : typeof causeMessage === 'string' ? causeMessage : undefined;
  return `${errorName(error)}: ${typeof message === 'string' ? message : String(error)}${detail ? ` (${detail})` : ''}`;
}

function fieldsOf(value: unknown): { readonly message?: unknown; readonly cause?: unknown; readonly code?: unknown } {
  return typeof value === 'object' && value !== null ? value : {};
}
