import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

/**
 * How config files map onto Parameter Store parameters, shared by the stack (which writes them)
 * and the refresh handler (which checks them before a rollout):
 * - a file is one parameter; a file that holds JSON (Grafana dashboards) has a name ending `.json`;
 * - a file containing `{{` (Grafana legend formats and alert templates) is stored gzip-compressed
 *   and base64-encoded: Parameter Store refuses such values ("Parameter value can't nest another
 *   parameter"). An encoded value starts with {@link ENCODED_CONFIG_PREFIX}; the init container and
 *   the refresh checks decode it, and a plain value put there by hand is used as it is;
 * - a file larger than one parameter is split into parameters `<name>/part-<n>` (n from 1),
 *   concatenated in order by the init container (before decoding).
 */

/** What every gzip+base64 value starts with: base64 of the gzip header's first bytes (1f 8b 08). */
export const ENCODED_CONFIG_PREFIX = 'H4sI';

/** Whether Parameter Store would refuse `text` as a value. */
export function mustEncodeConfig(text: string): boolean {
  return text.includes('{{');
}

/**
 * gzip (level 9) and base64. The header's OS byte is set to 255 ("unknown") so that the same file
 * encodes to the same value on every machine: no spurious parameter change, no needless rollout.
 */
export function encodeConfig(text: string): string {
  const gzip = gzipSync(Buffer.from(text, 'utf8'), { level: 9 });
  gzip[9] = 255;
  return gzip.toString('base64');
}

export function isEncodedConfig(value: string): boolean {
  return value.startsWith(ENCODED_CONFIG_PREFIX);
}

/** The file a parameter value holds: decoded when encoded, as it is otherwise. Throws on a corrupt encoding. */
export function decodeConfig(value: string): string {
  return isEncodedConfig(value) ? gunzipSync(Buffer.from(value, 'base64')).toString('utf8') : value;
}
export const CONFIG_PART_PATTERN = /\/part-([1-9][0-9]*)$/;

/** Name of the `index`-th part (from 1) of the file stored under `name`. */
export function configPartName(name: string, index: number): string {
  return `${name}/part-${index}`;
}

/** Whether `name` is one part of a split file (checked only as text: a part alone is not valid JSON). */
export function isConfigPart(name: string): boolean {
  return CONFIG_PART_PATTERN.test(name);
}

/** Whether `name` is a whole JSON file. */
export function isJsonConfig(name: string): boolean {
  return name.endsWith('.json');
}

/**
 * What a task definition runs. ECS resolves a Parameter Store reference to the parameter's latest
 * version when a task starts, and cannot name a version, so every file a task definition delivers
 * is a copy that is never changed: `/<stack>/deployed/<service>[/<file>][/part-<n>]/<revision>`,
 * mirroring the file's `/<stack>/config/…` name. `<revision>` is `stack-<digest>` for the copy the
 * stack deploys and `v<version>-<digest>` for the copy a config refresh makes of one checked
 * version. A rollback to an earlier task definition therefore runs the config it ran before, and a
 * replaced task runs the config of its task definition, whatever was written to `config/` since.
 */
const CONFIG_NAME_PATTERN = /^(\/[^/]+)\/config(\/.+)$/;
const DEPLOYED_NAME_PATTERN = /^(\/[^/]+)\/deployed(\/.+)\/(stack|v([1-9][0-9]*))-([0-9a-f]{12})$/;

/** The container that writes a task's config files before the backend starts (lib/backend-service.ts). */
export const CONFIG_INIT_CONTAINER = 'config-init';

/** Hex characters of a content digest in a deployed name. */
export const DEPLOYED_DIGEST_LENGTH = 12;

/** The first {@link DEPLOYED_DIGEST_LENGTH} hex characters of the SHA-256 of `text`. */
export function configDigest(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, DEPLOYED_DIGEST_LENGTH);
}

/** `/<stack>/deployed/<service>…`: where the copies of the file stored under `configName` live. */
export function deployedConfigPath(configName: string): string {
  const match = CONFIG_NAME_PATTERN.exec(configName);
  if (!match) throw new Error(`config parameter name must look like /<stack>/config/<service>[/<file>], got ${JSON.stringify(configName)}`);
  return `${match[1]}/deployed${match[2]}`;
}

/** The copy of `configName` with `value`: as the stack deploys it (`version` 'stack') or as a refresh makes it. */
export function deployedConfigName(configName: string, version: number | 'stack', digest: string): string {
  if (!new RegExp(`^[0-9a-f]{${DEPLOYED_DIGEST_LENGTH}}$`).test(digest))
    throw new Error(`digest must be ${DEPLOYED_DIGEST_LENGTH} hex characters, got ${digest}`);
  return `${deployedConfigPath(configName)}/${version === 'stack' ? 'stack' : `v${version}`}-${digest}`;
}

export interface DeployedConfigName {
  /** The `/<stack>/config/…` parameter the copy was made from. */
  readonly configName: string;
  /** The version copied; null for the stack's own copy. */
  readonly version: number | null;
  readonly digest: string;
}

/** Reads a deployed copy's name back; undefined for any other name. */
export function parseDeployedConfigName(name: string): DeployedConfigName | undefined {
  const match = DEPLOYED_NAME_PATTERN.exec(name);
  if (!match) return undefined;
  const [, stack, path, , version, digest] = match as unknown as [string, string, string, string, string | undefined, string];
  return { configName: `${stack}/config${path}`, version: version === undefined ? null : Number(version), digest };
}
