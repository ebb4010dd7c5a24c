import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPolicyValidationContext } from 'aws-cdk-lib/core';
import { TEMPLATE_SIZE_LIMIT, TemplateSizeLimit } from '../lib/template-size';

const dir = mkdtempSync(join(tmpdir(), 'lgtm-template-size-'));

function templateOf(bytes: number): string {
  const path = join(dir, `Stack-${bytes}.template.json`);
  writeFileSync(path, 'x'.repeat(bytes));
  return path;
}

const context = (templatePaths: string[]) => ({ templatePaths }) as unknown as IPolicyValidationContext;

test("CloudFormation's limit for a template deployed by URL", () => {
  expect(TEMPLATE_SIZE_LIMIT).toBe(1_000_000);
});

test('a template of the limit or less passes', () => {
  expect(new TemplateSizeLimit(1_000).validate(context([templateOf(1_000), templateOf(10)]))).toEqual({ success: true, violations: [] });
});

test('a larger one fails synth, saying by how much and what to do', () => {
  const large = templateOf(1_001);
  const report = new TemplateSizeLimit(1_000).validate(context([templateOf(10), large]));
  expect(report.success).toBe(false);
  expect(report.violations).toEqual([
    expect.objectContaining({ ruleName: 'template-size', severity: 'error', violatingResources: [{ templatePath: large, locations: [] }] }),
  ]);
  expect(report.violations[0].description).toContain('the template is 1,001 bytes, over the 1,000 CloudFormation takes');
  expect(report.violations[0].description).toContain('Each tenant in tenants.allowed adds about 20 KB');
});
