import { GetParametersCommand, type Parameter, paginateGetParametersByPath, type SSMClient } from '@aws-sdk/client-ssm';
import { chunk } from '../shared/aws';

/** GetParameters takes at most 10 names; GetParametersByPath returns at most 10 a page. */
export const GET_PARAMETERS_CHUNK = 10;

/** A parameter's current version, as read before a rollout. */
export interface ParameterState {
  readonly name: string;
  readonly value: string;
  readonly version: number;
  /** String, StringList, SecureString. */
  readonly type: string | undefined;
  readonly lastModified: Date | undefined;
}

export interface ParameterLookup {
  readonly found: Map<string, ParameterState>;
  /** Names Parameter Store does not know (deleted, or never created). */
  readonly missing: Set<string>;
  /** Names whose call failed, with the error. */
  readonly failed: Map<string, unknown>;
}

/** Current value, version and modification time of each name, one GetParameters call per 10 names. */
export async function getParameters(ssm: SSMClient, names: readonly string[]): Promise<ParameterLookup> {
  const found = new Map<string, ParameterState>();
  const missing = new Set<string>();
  const failed = new Map<string, unknown>();
  for (const batch of chunk([...new Set(names)], GET_PARAMETERS_CHUNK)) {
    try {
      const result = await ssm.send(new GetParametersCommand({ Names: batch }));
      for (const parameter of result.Parameters ?? []) {
        const state = toState(parameter);
        if (state) found.set(state.name, state);
      }
      for (const name of batch) if (!found.has(name)) missing.add(name);
    } catch (error) {
      for (const name of batch) failed.set(name, error);
    }
  }
  return { found, missing, failed };
}

/** Every parameter below `path` (recursively), or the error of the call that failed. */
export async function getParametersByPath(
  ssm: SSMClient,
  path: string,
): Promise<{ readonly found: Map<string, ParameterState>; readonly error?: unknown }> {
  const found = new Map<string, ParameterState>();
  try {
    for await (const page of paginateGetParametersByPath(
      { client: ssm, pageSize: GET_PARAMETERS_CHUNK },
      { Path: path, Recursive: true },
    )) {
      for (const parameter of page.Parameters ?? []) {
        const state = toState(parameter);
        if (state) found.set(state.name, state);
      }
    }
    return { found };
  } catch (error) {
    return { found, error };
  }
}

function toState(parameter: Parameter): ParameterState | undefined {
  if (parameter.Name === undefined || parameter.Version === undefined) return undefined;
  return {
    name: parameter.Name,
    value: parameter.Value ?? '',
    version: parameter.Version,
    type: parameter.Type,
    lastModified: parameter.LastModifiedDate,
  };
}
