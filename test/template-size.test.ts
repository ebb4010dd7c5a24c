import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPolicyValidationContext } from 'aws-cdk-lib/core';
import { TASK_DEFINITION_SIZE_LIMIT, TEMPLATE_SIZE_LIMIT, TemplateSizeLimit } from '../lib/template-size';

const dir = mkdtempSync(join(tmpdir(), 'lgtm-template-size-'));

/** A template file of exactly `bytes` bytes, holding `resources`. */
function templateOf(bytes: number, resources: Record<string, unknown> = {}): string {
  const path = join(dir, `Stack-${bytes}-${Math.random()}.template.json`);
  const bare = JSON.stringify({ Description: '', Resources: resources });
  if (bare.length > bytes) throw new Error(`a template of ${bytes} bytes cannot hold these resources`);
  writeFileSync(path, JSON.stringify({ Description: 'x'.repeat(bytes - bare.length), Resources: resources }));
  return path;
}

/** A task definition whose properties are `bytes` long as the template writes them. */
function taskDefinition(bytes: number): Record<string, unknown> {
  const bare = JSON.stringify({ Family: '' }).length;
  return { Type: 'AWS::ECS::TaskDefinition', Properties: { Family: 'f'.repeat(bytes - bare) } };
}

const context = (templatePaths: string[]) => ({ templatePaths }) as unknown as IPolicyValidationContext;

test("the limits: CloudFormation's for a template deployed by URL, ECS's 64 KiB less room for ARNs", () => {
  expect(TEMPLATE_SIZE_LIMIT).toBe(1_000_000);
  expect(TASK_DEFINITION_SIZE_LIMIT).toBe(60 * 1024);
});

test('templates and task definitions within the limits pass', () => {
  const report = new TemplateSizeLimit(1_000, 100).validate(context([templateOf(1_000, { Task: taskDefinition(100) }), templateOf(40)]));
  expect(report).toEqual({ success: true, violations: [] });
});

test('a larger template fails synth, saying by how much and what to do', () => {
  const large = templateOf(1_001);
  const report = new TemplateSizeLimit(1_000).validate(context([templateOf(40), large]));
  expect(report.success).toBe(false);
  expect(report.violations).toEqual([
    expect.objectContaining({ ruleName: 'template-size', severity: 'error', violatingResources: [{ templatePath: large, locations: [] }] }),
  ]);
  expect(report.violations[0].description).toContain('the template is 1,001 bytes, over the 1,000 CloudFormation takes');
  expect(report.violations[0].description).toContain('Each tenant in tenants.allowed adds about 17 KB');
});

test('a larger task definition fails synth, naming it', () => {
  const path = templateOf(1_000, {
    Small: taskDefinition(100),
    Large: taskDefinition(101),
    Other: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'q'.repeat(200) } },
  });
  const report = new TemplateSizeLimit(1_000_000, 100).validate(context([path]));
  expect(report.violations).toEqual([
    expect.objectContaining({
      ruleName: 'task-definition-size',
      severity: 'error',
      violatingResources: [{ resourceLogicalId: 'Large', templatePath: path, locations: ['Properties'] }],
    }),
  ]);
  expect(report.violations[0].description).toContain('task definition Large is 101 bytes in the template');
});
