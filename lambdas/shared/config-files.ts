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
