import { decodeConfig, isEncodedConfig } from '../shared/config-files';
import type { ConfigFormat } from './targets';
import { findYamlProblem } from './yaml-check';

/**
 * Checks a config must pass before any instance or task sees it. They catch what a person editing
 * a parameter by hand gets wrong (an empty value, a paste too large, broken YAML, an unbalanced
 * brace); the backends and Alloy still validate the full semantics themselves, and a config they
 * reject is rolled back (ECS circuit breaker, the agent document's reload action).
 */

export type RefusalReason =
  | 'empty'
  | 'too-large'
  | 'invalid-encoding'
  | 'invalid-yaml'
  | 'invalid-json'
  | 'invalid-alloy'
  | 'unsupported-type';

export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly reason: RefusalReason; readonly detail: string };

export interface CheckedParameter {
  readonly value: string;
  /** Parameter Store type: String, StringList, SecureString. */
  readonly type: string | undefined;
}

const OK: CheckResult = { ok: true };

export function checkConfig(parameter: CheckedParameter, format: ConfigFormat, maxBytes: number): CheckResult {
  if (parameter.type === 'SecureString') {
    // Run Command refuses SecureString references, and without decryption the value cannot be checked.
    return {
      ok: false,
      reason: 'unsupported-type',
      detail: 'SecureString configs are not supported: store the config as a String parameter',
    };
  }
  const stored = parameter.value;
  if (stored.trim() === '') return { ok: false, reason: 'empty', detail: 'the value is empty' };
  const bytes = Buffer.byteLength(stored, 'utf8');
  if (bytes > maxBytes) return { ok: false, reason: 'too-large', detail: `the value is ${bytes} bytes, over the ${maxBytes}-byte limit` };
  // A part of a split file is checked as text: it decodes only together with the other parts.
  let value = stored;
  if (format !== 'text' && isEncodedConfig(stored)) {
    try {
      value = decodeConfig(stored);
    } catch (error) {
      return {
        ok: false,
        reason: 'invalid-encoding',
        detail: `the value starts like gzip+base64 but does not decode: ${(error as Error).message}`,
      };
    }
  }
  if (format === 'yaml') {
    const problem = findYamlProblem(value);
    if (problem) return { ok: false, reason: 'invalid-yaml', detail: `line ${problem.line}, column ${problem.column}: ${problem.message}` };
  }
  if (format === 'json') {
    try {
      JSON.parse(value);
    } catch (error) {
      return { ok: false, reason: 'invalid-json', detail: (error as Error).message };
    }
  }
  if (format === 'alloy') {
    const problem = findAlloyProblem(value);
    if (problem) return { ok: false, reason: 'invalid-alloy', detail: `line ${problem.line}: ${problem.message}` };
  }
  return OK;
}

const CLOSERS: Readonly<Record<string, string>> = { '{': '}', '[': ']', '(': ')' };

/**
 * A sanity check of Alloy syntax: balanced `{}`, `[]`, `()` outside strings and comments,
 * terminated strings (`"..."` on one line, `` `...` `` raw strings) and block comments, and at
 * least one statement. Alloy validates the rest on the instance (`alloy validate`, then the reload).
 */
export function findAlloyProblem(text: string): { line: number; message: string } | undefined {
  const open: Array<{ char: string; line: number }> = [];
  let line = 1;
  let statements = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index] as string;
    if (char === '\n') {
      line++;
      continue;
    }
    if (char === '/' && text[index + 1] === '/') {
      while (index + 1 < text.length && text[index + 1] !== '\n') index++;
      continue;
    }
    if (char === '/' && text[index + 1] === '*') {
      const end = text.indexOf('*/', index + 2);
      if (end < 0) return { line, message: 'unterminated block comment "/*"' };
      line += countNewlines(text, index, end);
      index = end + 1;
      continue;
    }
    if (char === '"') {
      const start = line;
      index++;
      while (index < text.length && text[index] !== '"') {
        if (text[index] === '\\') index++;
        else if (text[index] === '\n') return { line: start, message: 'unterminated string (a "..." string ends on its line)' };
        index++;
      }
      if (index >= text.length) return { line: start, message: 'unterminated string' };
      statements = true;
      continue;
    }
    if (char === '`') {
      const end = text.indexOf('`', index + 1);
      if (end < 0) return { line, message: 'unterminated raw string "`"' };
      line += countNewlines(text, index, end);
      index = end;
      statements = true;
      continue;
    }
    if (char in CLOSERS) {
      open.push({ char, line });
    } else if (char === '}' || char === ']' || char === ')') {
      const last = open.pop();
      if (last === undefined) return { line, message: `"${char}" without a matching opening bracket` };
      if (CLOSERS[last.char] !== char) return { line, message: `"${char}" closes "${last.char}" opened on line ${last.line}` };
    }
    if (char !== ' ' && char !== '\t' && char !== '\r') statements = true;
  }
  const unclosed = open.pop();
  if (unclosed) return { line: unclosed.line, message: `"${unclosed.char}" is never closed` };
  if (!statements) return { line: 1, message: 'no configuration, only comments' };
  return undefined;
}

function countNewlines(text: string, from: number, to: number): number {
  let count = 0;
  for (let index = from; index < to; index++) if (text[index] === '\n') count++;
  return count;
}
