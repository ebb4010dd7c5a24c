import type { GetSecretValueCommandInput, GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import { AGENT_CREDENTIAL_PLACEHOLDER, agentCredentialSecretName, NO_PREVIOUS_CREDENTIAL } from '../../../lambdas/shared/contract';
import { awsError } from '../fixtures';

/** A tenant's agent credential as the fakes' Secrets Manager holds it: 64 lowercase letters and digits, as the stack generates. */
export function agentCredential(tenant: string): string {
  return `${tenant.replace(/[^a-z0-9]/g, '')}${'0'.repeat(64)}`.slice(0, 64);
}

/** A credential secret's value, as the stack generates it (`previous` none) or a rotation leaves it. */
export function credentialSecretValue(current: string, previous: string = NO_PREVIOUS_CREDENTIAL): string {
  return JSON.stringify({ current, previous });
}

/** Each tenant's agent credential under `prefix`, as the stack creates them with tenant binding. */
export function agentCredentialSecrets(prefix: string, tenants: readonly string[]): Map<string, string> {
  return new Map(tenants.map((tenant) => [agentCredentialSecretName(prefix, tenant), credentialSecretValue(agentCredential(tenant))]));
}

/** An agent config that sends its credential on each of the three writes, as the renderer does with tenant binding. */
export const CONFIG_WITH_PLACEHOLDER = ['mimir', 'loki', 'tempo']
  .map((sink) => `${sink} { bearer_token = "${AGENT_CREDENTIAL_PLACEHOLDER}" }\n`)
  .join('');

/**
 * GetSecretValue over `secrets` (name → value): the value of a known name, ResourceNotFoundException
 * for any other, as Secrets Manager answers (by name; no ARN forms).
 */
export function getSecretValue(secrets: ReadonlyMap<string, string>, input: GetSecretValueCommandInput): GetSecretValueCommandOutput {
  const name = input.SecretId ?? '';
  const value = secrets.get(name);
  if (value === undefined) throw awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  return { Name: name, SecretString: value, $metadata: {} };
}
