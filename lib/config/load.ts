import type { z } from 'zod';
import { configSchema, type LgtmConfig } from './schema';

/** One layer of user configuration and where it came from (for error messages). */
export interface ConfigSource {
  readonly origin: string;
  readonly values: unknown;
}

/** Thrown when the configuration does not validate; the message lists every problem. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep-merges `override` onto `base`: objects merge key by key, arrays and scalars replace. */
export function mergeConfig(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    merged[key] = key in merged ? mergeConfig(merged[key], value) : value;
  }
  return merged;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    return out ? `${out}.${String(key)}` : String(key);
  }, '');
}

function formatValue(value: unknown): string {
  if (value === undefined) return 'missing';
  const json = JSON.stringify(value);
  return json.length > 120 ? `${json.slice(0, 117)}...` : json;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The keys a strict object schema accepts at `path` within the config schema, for "did you mean" hints. */
function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let schema: z.core.$ZodType | undefined = configSchema as unknown as z.core.$ZodType;
  for (const key of [...path, null]) {
    // unwrap defaults, optionals, pipes and refinements until an object appears
    for (let guard = 0; schema && guard < 10; guard++) {
      const def = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
      if (def.type === 'object') break;
      const inner = (def.innerType ?? def.in) as z.core.$ZodType | undefined;
      if (!inner) {
        schema = undefined;
        break;
      }
      schema = inner;
    }
    if (!schema) return [];
    const shape: Record<string, z.core.$ZodType> | undefined = (
      schema as unknown as { _zod: { def: { shape?: Record<string, z.core.$ZodType> } } }
    )._zod.def.shape;
    if (!shape) return [];
    if (key === null) return Object.keys(shape);
    schema = typeof key === 'string' ? shape[key] : undefined;
  }
  return [];
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const where = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(issue.path);
    return issue.keys.map((key) => {
      const field = where ? `${where}.${key}` : key;
      const close = known
        .map((k) => ({ k, d: levenshtein(k.toLowerCase(), key.toLowerCase()) }))
        .filter(({ d }) => d <= Math.max(2, Math.floor(key.length / 3)))
        .sort((x, y) => x.d - y.d)[0];
      const hint = close ? ` (did you mean "${close.k}"?)` : known.length ? ` (known keys: ${known.join(', ')})` : '';
      return `${field}: unknown key${hint}`;
    });
  }
  if (issue.code === 'invalid_union' && 'discriminator' in issue) {
    return [`${where}: ${issue.message} (got ${formatValue(issue.input)})`];
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    return [`${where || '(root)'}: required (expected ${issue.expected})`];
  }
  return [`${where || '(root)'}: ${issue.message} (got ${formatValue(issue.input)})`];
}

/**
 * Merges the sources in order (later wins) onto the defaults and validates the result.
 * Throws a {@link ConfigError} naming every bad field and its value.
 */
export function loadConfig(sources: readonly ConfigSource[]): LgtmConfig {
  let merged: unknown = {};
  for (const source of sources) {
    if (source.values === undefined) continue;
    if (!isPlainObject(source.values)) {
      throw new ConfigError(`invalid configuration in ${source.origin}: expected a JSON object, got ${formatValue(source.values)}`, [
        `${source.origin}: not an object`,
      ]);
    }
    merged = mergeConfig(merged, source.values);
  }
  const result = configSchema.safeParse(merged, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap(describeIssue);
  const origins = sources.filter((s) => s.values !== undefined).map((s) => s.origin);
  const from = origins.length ? ` (from ${origins.join(', ')})` : '';
  throw new ConfigError(`invalid configuration${from}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, problems);
}
