import type { SecretsManagerClient, SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { errorMessage, errorName } from './aws';
import { AGENT_CREDENTIAL_PLACEHOLDER, agentCredentialSecretName } from './contract';

/** What a read can take from the secret's value (see CREDENTIAL_KEYS in the contract): the credential in use. */
interface CredentialSecret {
  readonly current?: unknown;
}

/**
 * Each tenant's agent credential, written into the agent config right before the enroll or refresh
 * function sends it (with `ingest.tenantBinding`; see docs/security.md). A credential is read from
 * Secrets Manager once per tenant (the `current` key of the secret's JSON value) and kept in the
 * function's memory for {@link CREDENTIAL_CACHE_MS}: a burst of installs costs one read per tenant,
 * and a rotated credential reaches new installs within minutes, or at once through a manual refresh,
 * which reads it afresh.
 */

type SecretsManagerModule = typeof import('@aws-sdk/client-secrets-manager');
let secretsManagerModule: SecretsManagerModule | undefined;
/**
 * The Secrets Manager client package, required at the first read rather than at module load: with
 * tenant binding off (the default) the functions never read a credential, and loading the package
 * would only slow every cold start.
 */
const secretsManagerSdk = (): SecretsManagerModule =>
  (secretsManagerModule ??= require('@aws-sdk/client-secrets-manager') as SecretsManagerModule);

/** A Secrets Manager client, made when first needed (see {@link secretsManagerSdk}). */
export function lazySecretsManagerClient(config: SecretsManagerClientConfig): () => SecretsManagerClient {
  let client: SecretsManagerClient | undefined;
  return () => (client ??= new (secretsManagerSdk().SecretsManagerClient)(config));
}

/** How long a credential read is reused. */
export const CREDENTIAL_CACHE_MS = 5 * 60_000;

/**
 * What a bearer token may hold (RFC 6750's b64token). The config carries it inside an Alloy string,
 * so anything else (a quote, a backslash, a line break) is refused rather than escaped.
 */
const BEARER_TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;

/**
 * A credential that could not be read. It keeps the SDK error's name and metadata, so a handler
 * classifies it as it classifies any failed call (throttling is retried quietly), and its message
 * names the tenant and the secret.
 */
export class AgentCredentialError extends Error {
  constructor(
    readonly tenant: string,
    readonly secretName: string,
    cause: unknown,
  ) {
    super(`agent credential of tenant ${tenant} not read from secret ${secretName}: ${errorMessage(cause)}`, { cause });
    this.name = errorName(cause);
    if (typeof cause === 'object' && cause !== null) {
      const { $metadata, $retryable, $fault } = cause as Record<string, unknown>;
      Object.assign(this, { $metadata, $retryable, $fault });
    }
  }
}

/** Reads and caches the agent credentials; one per function, made at module level so its cache outlives an invocation. */
export class AgentCredentials {
  private readonly cache = new Map<string, { readonly value: string; readonly until: number }>();

  /** `secretsManager` is called at the first read only (see {@link lazySecretsManagerClient}). */
  constructor(
    private readonly secretsManager: () => SecretsManagerClient,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * `config` with the tenant's agent credential in place of {@link AGENT_CREDENTIAL_PLACEHOLDER}.
   * Unchanged, without any call, when `secretPrefix` is undefined (tenant binding off) or the
   * config has no placeholder. `fresh` reads the secret even when a copy is cached (a manual
   * refresh: the operator may have just rotated it). Throws an {@link AgentCredentialError}.
   */
  async writeInto(config: string, tenant: string, secretPrefix: string | undefined, options: { fresh?: boolean } = {}): Promise<string> {
    if (secretPrefix === undefined || !config.includes(AGENT_CREDENTIAL_PLACEHOLDER)) return config;
    const credential = await this.read(agentCredentialSecretName(secretPrefix, tenant), tenant, options.fresh === true);
    return config.replaceAll(AGENT_CREDENTIAL_PLACEHOLDER, () => credential);
  }

  private async read(secretName: string, tenant: string, fresh: boolean): Promise<string> {
    const cached = this.cache.get(secretName);
    if (!fresh && cached !== undefined && cached.until > this.now()) return cached.value;
    let value: string | undefined;
    try {
      const { GetSecretValueCommand } = secretsManagerSdk();
      value = (await this.secretsManager().send(new GetSecretValueCommand({ SecretId: secretName }))).SecretString;
    } catch (error) {
      throw new AgentCredentialError(tenant, secretName, error);
    }
    const credential = currentCredential(value);
    if (typeof credential !== 'string') {
      throw new AgentCredentialError(tenant, secretName, Object.assign(new Error(credential.problem), { name: 'InvalidAgentCredential' }));
    }
    this.cache.set(secretName, { value: credential, until: this.now() + CREDENTIAL_CACHE_MS });
    return credential;
  }
}

/** The `current` credential of a secret's value, or what is wrong with the value. */
function currentCredential(value: string | undefined): string | { readonly problem: string } {
  if (value === undefined) return { problem: 'the secret has no string value' };
  let parsed: CredentialSecret;
  try {
    parsed = JSON.parse(value) as CredentialSecret;
  } catch {
    return { problem: 'the value is not JSON (expected {"current": "<credential>", "previous": "<credential or none>"})' };
  }
  const current = typeof parsed === 'object' && parsed !== null ? parsed.current : undefined;
  if (typeof current !== 'string') return { problem: 'the value has no "current" string' };
  if (!BEARER_TOKEN.test(current)) return { problem: 'its "current" value is not a bearer token' };
  return current;
}
