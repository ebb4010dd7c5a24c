import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { loadConfig } from '../lib/config/load';

const ROOT = join(__dirname, '..');
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

const readme = read('README.md');
/** The configuration reference lives on its own page, linked from the README. */
const reference = read('docs/configuration.md');
const ci = read('.ci/run');
const docsPages = readdirSync(join(ROOT, 'docs'))
  .filter((name) => name.endsWith('.md'))
  .map((name) => `docs/${name}`);

/** Every leaf path of the default config, e.g. `retention.metricsDays`. */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([key, child]) => leafPaths(child, prefix ? `${prefix}.${key}` : key));
  }
  return [prefix];
}

/** Markdown outside fenced code blocks and inline code, where links and headings are real. */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** Targets of the Markdown links in a file, e.g. `docs/deploying.md#stack-outputs`. */
function linkTargets(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)\)/g)].map(([, target]) => target);
}

/** The anchors GitHub gives a file's headings (lower case, punctuation dropped, spaces as `-`, repeats numbered). */
function headingAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  const withoutFences = markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
  for (const [, text] of withoutFences.matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Links of `file` (by default its content on disk) whose file or heading does not exist. */
function brokenLinks(file: string, markdown = read(file)): string[] {
  return linkTargets(markdown)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
    .filter((target) => {
      const [path, anchor] = target.split('#', 2);
      const linked = path ? join(ROOT, dirname(file), path) : join(ROOT, file);
      if (!existsSync(linked)) return true;
      return anchor !== undefined && linked.endsWith('.md') && !headingAnchors(readFileSync(linked, 'utf8')).has(anchor);
    });
}

describe('configuration reference (docs/configuration.md)', () => {
  test.each(leafPaths(loadConfig([])))('documents the setting %s', (path) => {
    const leaf = path.split('.').pop() as string;
    // A row names the full path, or the parent path followed by a list of sibling leaves.
    const fullPath = reference.includes(`\`${path}\``);
    const sibling = reference.includes(`\`${leaf}\``) && reference.includes(path.split('.').slice(0, -1).join('.'));
    expect(fullPath || sibling).toBe(true);
  });

  test('shows the schema defaults (pinned images included)', () => {
    const defaults = loadConfig([]) as unknown as Record<string, unknown>;
    const valueAt = (path: string): unknown =>
      path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], defaults);
    const rows = [...reference.matchAll(/^\| `([a-zA-Z0-9.]+)` \| `([^`]*)` \|/gm)];
    expect(rows.length).toBeGreaterThan(20);
    const compared = rows
      .map(([, path, shown]) => ({ path, shown, value: valueAt(path) }))
      .filter(({ value }) => typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean');
    for (const { path, shown, value } of compared) expect([path, shown]).toEqual([path, String(value)]);
    for (const image of ['mimir', 'loki', 'tempo', 'grafana', 'memcached', 'configInit', 'alloy']) {
      expect(compared.map((row) => row.path)).toContain(`images.${image}`);
    }
  });
});

describe('README', () => {
  test('shows the two commands that CI runs', () => {
    expect(readme).toContain('npm ci && npx cdk synth');
    expect(readme).toContain('npm test');
    expect(ci).toMatch(/^npx cdk synth/m);
    expect(ci).toMatch(/^npm test$/m);
  });

  test('has an architecture diagram', () => {
    expect(readme).toContain('```mermaid');
  });

  test('is read in ten minutes: at most 300 lines', () => {
    expect(readme.replace(/\n$/, '').split('\n').length).toBeLessThanOrEqual(300);
  });

  test('links every docs page, and every docs page links back', () => {
    const linked = linkTargets(readme).map((target) => target.split('#')[0]);
    expect(docsPages.length).toBeGreaterThan(5);
    for (const page of docsPages) {
      expect([page, linked.includes(page)]).toEqual([page, true]);
      const back = linkTargets(read(page)).map((target) => relative(ROOT, join(ROOT, 'docs', target.split('#')[0])));
      expect([page, back.includes('README.md')]).toEqual([page, true]);
    }
  });
});

describe('links', () => {
  test.each(['README.md', ...docsPages])('every relative link in %s points at an existing file and heading', (file) => {
    expect(linkTargets(read(file)).length).toBeGreaterThan(0);
    expect(brokenLinks(file)).toEqual([]);
  });

  test('the checker finds a missing file, a missing heading, and accepts GitHub anchors', () => {
    expect(headingAnchors('## Durability: `storage.durability`\n## Where to look, and how\n## Where to look, and how\n')).toEqual(
      new Set(['durability-storagedurability', 'where-to-look-and-how', 'where-to-look-and-how-1']),
    );
    expect(linkTargets('[a](b.md) `[c](d.md)` [e](https://x.y)\n```\n[f](g.md)\n```\n')).toEqual(['b.md', 'https://x.y']);
    const links =
      '[w](https://example.com) [x](no-such-page.md) [y](deploying.md#no-such-heading) [z](deploying.md#stack-outputs) [r](../README.md)';
    expect(brokenLinks('docs/page.md', links)).toEqual(['no-such-page.md', 'deploying.md#no-such-heading']);
  });
});
