import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../lib/config/load';

const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
const ci = readFileSync(join(__dirname, '..', '.ci', 'run'), 'utf8');

/** Every leaf path of the default config, e.g. `retention.metricsDays`. */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([key, child]) => leafPaths(child, prefix ? `${prefix}.${key}` : key));
  }
  return [prefix];
}

describe('README', () => {
  test.each(leafPaths(loadConfig([])))('documents the setting %s', (path) => {
    const leaf = path.split('.').pop() as string;
    // A row names the full path, or the parent path followed by a list of sibling leaves.
    const fullPath = readme.includes(`\`${path}\``);
    const sibling = readme.includes(`\`${leaf}\``) && readme.includes(path.split('.').slice(0, -1).join('.'));
    expect(fullPath || sibling).toBe(true);
  });

  test('the configuration reference shows the schema defaults (pinned images included)', () => {
    const defaults = loadConfig([]) as unknown as Record<string, unknown>;
    const valueAt = (path: string): unknown =>
      path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], defaults);
    const rows = [...readme.matchAll(/^\| `([a-zA-Z0-9.]+)` \| `([^`]*)` \|/gm)];
    expect(rows.length).toBeGreaterThan(20);
    const compared = rows
      .map(([, path, shown]) => ({ path, shown, value: valueAt(path) }))
      .filter(({ value }) => typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean');
    for (const { path, shown, value } of compared) expect([path, shown]).toEqual([path, String(value)]);
    for (const image of ['mimir', 'loki', 'tempo', 'grafana', 'memcached', 'configInit', 'alloy']) {
      expect(compared.map((row) => row.path)).toContain(`images.${image}`);
    }
  });

  test('shows the two commands that CI runs', () => {
    expect(readme).toContain('npm ci && npx cdk synth');
    expect(readme).toContain('npm test');
    expect(ci).toMatch(/^npx cdk synth/m);
    expect(ci).toMatch(/^npm test$/m);
  });

  test('has an architecture diagram', () => {
    expect(readme).toContain('```mermaid');
  });
});
