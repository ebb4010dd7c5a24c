/** One row of the benchmark table, and the helpers every section shares. */

/** `pass`/`FAIL` against a target, `—` for a figure without one, `error` when the measurement itself failed. */
export type Result = 'pass' | 'FAIL' | '—' | 'error';

export interface Row {
  readonly measurement: string;
  readonly value: string;
  readonly target: string;
  readonly result: Result;
}

export function row(measurement: string, value: string, target = '', passed?: boolean): Row {
  return { measurement, value, target, result: passed === undefined ? '—' : passed ? 'pass' : 'FAIL' };
}

/** A row for a figure that could not be measured; the bench then exits non-zero. */
export function errorRow(measurement: string, error: unknown): Row {
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').replaceAll('|', '\\|');
  return { measurement, value: `measurement failed: ${message.slice(0, 300)}`, target: '', result: 'error' };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function markdownTable(rows: readonly Row[]): string {
  const lines = ['| measurement | value | target | result |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.measurement} | ${r.value} | ${r.target || '—'} | ${r.result} |`);
  return lines.join('\n');
}

/** Progress goes to stderr so that stdout holds only the table. */
export function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** The last lines of a failed command's output, for an error message. */
export function tail(output: string, lines = 6): string {
  return output.trim().split('\n').slice(-lines).join(' / ');
}

/**
 * The handler tests' fakes (test/lambdas/*) spy on Powertools with `jest.spyOn(...).mockImplementation(...)`;
 * outside Jest a plain method replacement does the same. aws-sdk-client-mock itself needs no Jest (it uses sinon).
 */
export function installJestSpyOn(): void {
  if ('jest' in globalThis) return;
  const spyOn = (object: Record<string, unknown>, method: string) => ({
    mockImplementation: (fake: unknown) => {
      object[method] = fake;
    },
  });
  Object.assign(globalThis, { jest: { spyOn } });
}
