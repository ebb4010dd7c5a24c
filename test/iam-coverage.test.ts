import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { buildSync } from 'esbuild';
import { LgtmFunction } from '../lib/lgtm-function';
import { statementsOfRole, synthStack } from './helpers';

/**
 * Least privilege, checked both ways for every Lambda: each AWS SDK command its bundled code
 * can send must be allowed by its role, and its role may allow nothing else except the short
 * list below of what the Lambda runtime itself uses.
 */

const ROOT = resolve(__dirname, '..');

/** IAM service prefix of each SDK v3 client package. */
const SERVICE_PREFIX: Record<string, string> = {
  'client-auto-scaling': 'autoscaling',
  'client-ec2': 'ec2',
  'client-ecs': 'ecs',
  'client-eventbridge': 'events',
  'client-sqs': 'sqs',
  'client-ssm': 'ssm',
};

/** Commands authorized by another action's permission. */
const ACTION_OF_COMMAND: Record<string, string> = {
  'sqs:SendMessageBatch': 'sqs:SendMessage',
  'sqs:ChangeMessageVisibilityBatch': 'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessageBatch': 'sqs:DeleteMessage',
};

/**
 * Allowed without a code path: the runtime writes logs, an SQS event source polls with the
 * function's role, and an on-failure destination is written with it.
 */
const RUNTIME_ONLY = {
  always: ['logs:CreateLogStream', 'logs:PutLogEvents'],
  onFailureQueue: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
  sqsEventSource: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ChangeMessageVisibility'],
};

/** IAM actions for every SDK command imported by the files bundled into `lambdas/<folder>/index.ts`. */
function actionsCalledBy(folder: string): Set<string> {
  const result = buildSync({
    entryPoints: [join(ROOT, 'lambdas', folder, 'index.ts')],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'cjs',
    external: ['@aws-sdk/*'],
    logLevel: 'silent',
  });
  const ownSources = Object.keys(result.metafile.inputs).filter((input) => input.startsWith('lambdas/'));
  const actions = new Set<string>();
  const importPattern = /import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'@aws-sdk\/(client-[a-z0-9-]+)'/g;
  for (const source of ownSources) {
    const text = readFileSync(join(ROOT, source), 'utf8');
    for (const [, names, pkg] of text.matchAll(importPattern)) {
      const prefix = SERVICE_PREFIX[pkg];
      if (!prefix) throw new Error(`${source} imports @aws-sdk/${pkg}: add its IAM prefix to SERVICE_PREFIX`);
      for (const raw of names.split(',')) {
        const name = raw.trim().replace(/^type\s+/, '');
        const command = /^(\w+)Command$/.exec(name);
        if (!command || /^type\s/.test(raw.trim())) continue;
        const action = `${prefix}:${command[1]}`;
        actions.add(ACTION_OF_COMMAND[action] ?? action);
      }
    }
  }
  return actions;
}

function allowedActions(template: Template, fn: LgtmFunction): Set<string> {
  const roleId = Stack.of(fn).getLogicalId(fn.role.node.defaultChild as never);
  return new Set(statementsOfRole(template, roleId).flatMap((s) => [s.Action].flat() as string[]));
}

function hasSqsEventSource(template: Template, fn: LgtmFunction): boolean {
  const functionId = Stack.of(fn).getLogicalId(fn.function.node.defaultChild as never);
  const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
  return mappings.some((m) => JSON.stringify(m.Properties.FunctionName).includes(`"${functionId}"`));
}

function hasOnFailureQueue(template: Template, fn: LgtmFunction): boolean {
  const functionId = Stack.of(fn).getLogicalId(fn.function.node.defaultChild as never);
  return Object.values(template.findResources('AWS::Lambda::EventInvokeConfig')).some(
    (c) => JSON.stringify(c.Properties.FunctionName).includes(`"${functionId}"`) && c.Properties.DestinationConfig?.OnFailure,
  );
}

const { stack, template } = synthStack();
const functions = stack.node.findAll().filter((c): c is LgtmFunction => c instanceof LgtmFunction);

test('every Lambda of the stack is covered', () => {
  expect(functions.map((f) => f.handlerFolder).sort()).toEqual(expect.arrayContaining(['enroll', 'reconcile', 'status']));
  expect(Object.keys(template.findResources('AWS::Lambda::Function')).length).toBeGreaterThanOrEqual(functions.length);
});

describe.each(functions.map((f) => [f.handlerFolder, f] as const))('%s function', (folder, fn) => {
  const called = actionsCalledBy(folder);
  const allowed = allowedActions(template, fn);
  const runtime = new Set([
    ...RUNTIME_ONLY.always,
    ...(hasSqsEventSource(template, fn) ? RUNTIME_ONLY.sqsEventSource : []),
    ...(hasOnFailureQueue(template, fn) ? RUNTIME_ONLY.onFailureQueue : []),
  ]);

  test('calls some AWS API (the scan works)', () => {
    expect(called.size).toBeGreaterThan(0);
  });

  test('its role allows every call its code makes', () => {
    expect([...called].filter((action) => !allowed.has(action))).toEqual([]);
  });

  test('its role allows nothing its code does not call, beyond what the runtime needs', () => {
    expect([...allowed].filter((action) => !called.has(action) && !runtime.has(action))).toEqual([]);
  });
});
