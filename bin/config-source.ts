import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ConfigSource, loadConfig } from '../lib/config/load';
import type { LgtmConfig } from '../lib/config/schema';

/** Context key holding inline overrides (in cdk.json or `-c lgtm='{…}'`). */
export const CONFIG_CONTEXT_KEY = 'lgtm';
/** Context key naming a JSON config file (`-c config=prod.json`). */
export const CONFIG_FILE_CONTEXT_KEY = 'config';

function parseJson(text: string, origin: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${origin} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Reads a JSON config file, with errors that name the file. */
export function readConfigFile(path: string): ConfigSource {
  const full = resolve(path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (error) {
    throw new Error(`cannot read config file ${full}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return { origin: path, values: parseJson(text, `config file ${path}`) };
}

/**
 * The configuration from its sources, later ones winning: the `lgtm` context object
 * (cdk.json or `-c lgtm=…`), then the file named by `-c config=<file>`.
 */
export function resolveConfig(context: { inline?: unknown; file?: unknown }): LgtmConfig {
  const sources: ConfigSource[] = [];
  if (context.inline !== undefined) {
    const inline = typeof context.inline === 'string' ? parseJson(context.inline, `context "${CONFIG_CONTEXT_KEY}"`) : context.inline;
    sources.push({ origin: `context "${CONFIG_CONTEXT_KEY}"`, values: inline });
  }
  if (context.file !== undefined) {
    if (typeof context.file !== 'string' || context.file.length === 0) {
      throw new Error(`context "${CONFIG_FILE_CONTEXT_KEY}" must be a file path, got ${JSON.stringify(context.file)}`);
    }
    sources.push(readConfigFile(context.file));
  }
  return loadConfig(sources);
}
