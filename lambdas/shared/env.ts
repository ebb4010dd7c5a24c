/**
 * Reading handler settings from the environment. Each handler reads its variables once, at
 * module load, so a missing or bad variable fails the cold start with a message naming it
 * instead of failing some later invocation half-way through a batch.
 */

/**
 * The variables a loader reads. Typed by its function's list in ./contract.ts, a name outside that
 * list does not compile; `process.env` is one.
 */
export type Environment<Name extends string = string> = { readonly [N in Name]?: string | undefined };

export class EnvironmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentError';
  }
}

/** A variable that must be set to a non-empty value. */
export function requireString<Name extends string>(env: Environment<Name>, name: NoInfer<Name>): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new EnvironmentError(`environment variable ${name} is missing or empty`);
  }
  return value.trim();
}

/**
 * A variable that must be set but may be empty on purpose (an explicit "none"), so that a
 * forgotten variable is not mistaken for a deliberate empty value.
 */
export function requireDefined<Name extends string>(env: Environment<Name>, name: NoInfer<Name>): string {
  const value = env[name];
  if (value === undefined) {
    throw new EnvironmentError(`environment variable ${name} is missing (set it to an empty string for none)`);
  }
  return value.trim();
}

/** A variable that may be unset or empty, in which case `fallback` applies. */
export function optionalString<Name extends string>(env: Environment<Name>, name: NoInfer<Name>, fallback: string): string {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? fallback : value;
}

export interface IntegerBounds {
  readonly min: number;
  readonly max: number;
  /** Value used when the variable is unset or empty; without it the variable is required. */
  readonly fallback?: number;
}

export function requireInteger<Name extends string>(env: Environment<Name>, name: NoInfer<Name>, bounds: IntegerBounds): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') {
    if (bounds.fallback !== undefined) return bounds.fallback;
    throw new EnvironmentError(`environment variable ${name} is missing or empty`);
  }
  const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < bounds.min || value > bounds.max) {
    throw new EnvironmentError(`environment variable ${name} must be an integer from ${bounds.min} to ${bounds.max}, got "${raw}"`);
  }
  return value;
}

/** `true` or `false` (any case); `fallback` when unset or empty, required without one. */
export function requireBoolean<Name extends string>(env: Environment<Name>, name: NoInfer<Name>, fallback?: boolean): boolean {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new EnvironmentError(`environment variable ${name} is missing or empty`);
  }
  const lower = raw.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  throw new EnvironmentError(`environment variable ${name} must be "true" or "false", got "${raw}"`);
}

/** The comma-separated values of a variable (blanks dropped); none when it is unset or empty. */
export function optionalList<Name extends string>(env: Environment<Name>, name: NoInfer<Name>): string[] {
  return optionalString(env, name, '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** A comma-separated list with at least one item; items are trimmed and empty items dropped. */
export function requireList<Name extends string>(env: Environment<Name>, name: NoInfer<Name>): string[] {
  requireString(env, name);
  const items = optionalList(env, name);
  if (items.length === 0) {
    throw new EnvironmentError(`environment variable ${name} must list at least one comma-separated value`);
  }
  return items;
}

/** One of a fixed set of values; `fallback` when unset or empty. */
export function requireOneOf<T extends string, Name extends string>(
  env: Environment<Name>,
  name: NoInfer<Name>,
  allowed: readonly T[],
  fallback?: T,
): T {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new EnvironmentError(`environment variable ${name} is missing or empty`);
  }
  const match = allowed.find((value) => value === raw);
  if (match === undefined) {
    throw new EnvironmentError(`environment variable ${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return match;
}
