/** The harness's rows and the one table it prints. */

/**
 * `known issue`: an upstream defect the project works around, shown with its evidence; it fails
 * nothing, and turns into `pass` by itself once upstream fixes it.
 */
export type Outcome = 'pass' | 'FAIL' | 'skipped' | 'known issue';

export interface SmokeRow {
  readonly program: string;
  /** `default` (storage.durability ephemeral), `efs`, `3 replicas`, or `—` where the variant does not matter. */
  readonly variant: string;
  readonly check: string;
  readonly outcome: Outcome;
  readonly detail: string;
}

/** Collects rows for one program and variant; a thrown check becomes a FAIL row, never a crash. */
export class Checks {
  readonly rows: SmokeRow[] = [];
  constructor(
    readonly program: string,
    readonly variant: string,
  ) {}

  add(check: string, passed: boolean, detail: string): boolean {
    this.rows.push({ program: this.program, variant: this.variant, check, outcome: passed ? 'pass' : 'FAIL', detail });
    return passed;
  }

  knownIssue(check: string, detail: string): void {
    this.rows.push({ program: this.program, variant: this.variant, check, outcome: 'known issue', detail });
  }

  skip(check: string, detail: string): void {
    this.rows.push({ program: this.program, variant: this.variant, check, outcome: 'skipped', detail });
  }

  /** Runs `check`; its result or its error becomes a row. Returns whether it passed. */
  async run(check: string, fn: () => Promise<{ passed: boolean; detail: string }>): Promise<boolean> {
    try {
      const { passed, detail } = await fn();
      return this.add(check, passed, detail);
    } catch (error) {
      return this.add(check, false, oneLine(error instanceof Error ? error.message : String(error)));
    }
  }
}

export function oneLine(text: string, max = 400): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

export function smokeTable(rows: readonly SmokeRow[]): string {
  const lines = ['| program | variant | check | result | detail |', '|---|---|---|---|---|'];
  for (const r of rows) {
    lines.push(`| ${r.program} | ${r.variant} | ${r.check} | ${r.outcome} | ${r.detail.replaceAll('|', '\\|')} |`);
  }
  return lines.join('\n');
}

/** Progress goes to stderr so that stdout holds only the table. */
export function progress(message: string): void {
  process.stderr.write(`smoke: ${message}\n`);
}
