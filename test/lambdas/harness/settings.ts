/**
 * Each handler's `TEST_ENV` is the environment its construct is expected to give its function:
 * every variable of the function's contract (lambdas/shared/contract.ts), checked with
 * `satisfies`, so a missing or unknown variable fails the type-check as it does in lib/.
 */

/** A handler's `testSettings(overrides)`: its settings loader fed `env` with `overrides` on top. */
export function settingsWith<Environment, Settings>(
  env: NoInfer<Environment>,
  load: (env: Environment) => Settings,
): (overrides?: Record<string, string>) => Settings {
  return (overrides = {}) => load({ ...env, ...overrides });
}
