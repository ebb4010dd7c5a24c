import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { buildSync } from 'esbuild';
import { LgtmFunction, VPC_ACCESS_POLICY } from '../lib/lgtm-function';
import { statementsOfRole, synthStack } from './helpers';
import { RECORD_DIR, readTestFileRecords, type TestFileRecord } from './support/sdk-call-records';

/**
 * Least privilege, checked both ways for every Lambda against the AWS SDK commands its handler
 * tests actually send: its role must allow each of them, and may allow nothing else except the
 * short list below of what the Lambda runtime itself uses. A third check keeps that evidence
 * complete: every command its bundled code imports must be sent by some handler test, or a code
 * path (and the permission it needs) goes untested.
 *
 * The commands are those test/support/sdk-call-recorder.ts recorded during the first Jest run of
 * `npm test`; this file runs in the second one (jest.iam.config.js), once every handler test ended.
 */

const ROOT = resolve(__dirname, '..');

/** What `npm test` runs to record the calls again. */
const RERUN = 'run `npm test`, the handler tests record them';

/** The SDK v3 clients the handlers use: npm package (under @aws-sdk/), client class, IAM service prefix. */
const SERVICES = [
  { pkg: 'client-auto-scaling', client: 'AutoScalingClient', prefix: 'autoscaling' },
  { pkg: 'client-dynamodb', client: 'DynamoDBClient', prefix: 'dynamodb' },
  { pkg: 'client-ec2', client: 'EC2Client', prefix: 'ec2' },
  { pkg: 'client-ecs', client: 'ECSClient', prefix: 'ecs' },
  { pkg: 'client-eventbridge', client: 'EventBridgeClient', prefix: 'events' },
  { pkg: 'client-secrets-manager', client: 'SecretsManagerClient', prefix: 'secretsmanager' },
  { pkg: 'client-sqs', client: 'SQSClient', prefix: 'sqs' },
  { pkg: 'client-ssm', client: 'SSMClient', prefix: 'ssm' },
] as const;

/** API calls authorized by another action's permission. */
const ACTION_OF_CALL: Record<string, string> = {
  // A transaction is authorized item by item; the enroll handler's items are all Puts.
  'dynamodb:TransactWriteItems': 'dynamodb:PutItem',
  'sqs:SendMessageBatch': 'sqs:SendMessage',
  'sqs:ChangeMessageVisibilityBatch': 'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessageBatch': 'sqs:DeleteMessage',
};

/**
 * Actions IAM also checks for a call: registering a task definition passes its task and execution
 * roles (iam:PassRole) and tags it on creation (ecs:TagResource with ecs:CreateAction).
 */
const ALSO_AUTHORIZED_FOR_CALL: Record<string, readonly string[]> = {
  'ecs:RegisterTaskDefinition': ['iam:PassRole', 'ecs:TagResource'],
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

/**
 * Handlers that call no AWS API (the ring-forget function calls Mimir's or Loki's ring page only):
 * their bundles import no AWS SDK package, their tests record no command, and their roles allow
 * what the runtime needs only.
 */
const WITHOUT_AWS_CALLS: ReadonlySet<string> = new Set(['ring-forget']);

/** IAM prefix of the service whose package or client class is `name`; `where` uses it. */
function servicePrefix(key: 'pkg' | 'client', name: string, where: string): string {
  const service = SERVICES.find((candidate) => candidate[key] === name);
  if (!service) throw new Error(`${where} uses ${name}: add its client, package and IAM prefix to SERVICES`);
  return service.prefix;
}

/** The API call of an SDK command, e.g. `ssm:SendCommand` for SSM's SendCommandCommand. */
function apiCall(prefix: string, command: string): string {
  return `${prefix}:${command.replace(/Command$/, '')}`;
}

/** The IAM action that authorizes an API call. */
function iamAction(call: string): string {
  return ACTION_OF_CALL[call] ?? call;
}

/** The bundle of `lambdas/<folder>/index.ts` as deployed (AWS SDK external), with its metafile. */
function bundleOf(folder: string) {
  return buildSync({
    entryPoints: [join(ROOT, 'lambdas', folder, 'index.ts')],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'cjs',
    external: ['@aws-sdk/*'],
    logLevel: 'silent',
  });
}

/** The AWS SDK packages the bundle of `lambdas/<folder>/index.ts` imports, from esbuild's own record of its imports. */
function sdkPackagesImportedBy(folder: string): Set<string> {
  const imports = Object.values(bundleOf(folder).metafile.inputs).flatMap((input) => input.imports);
  return new Set(imports.filter((imported) => imported.external && imported.path.startsWith('@aws-sdk/')).map((imported) => imported.path));
}

/** API calls of every SDK command imported by the files bundled into `lambdas/<folder>/index.ts`. */
function callsImportedBy(folder: string): Set<string> {
  const result = bundleOf(folder);
  const ownSources = Object.keys(result.metafile.inputs).filter((input) => input.startsWith('lambdas/'));
  const calls = new Set<string>();
  const importPattern = /import\s*(type\s*)?\{([^}]*)\}\s*from\s*'@aws-sdk\/(client-[a-z0-9-]+)'/g;
  for (const source of ownSources) {
    const text = readFileSync(join(ROOT, source), 'utf8');
    for (const [, typeOnly, names, pkg] of text.matchAll(importPattern)) {
      const prefix = servicePrefix('pkg', pkg, source);
      if (typeOnly) continue;
      for (const raw of names.split(',')) {
        // `type XCommand` is no call; `XCommand as Y` is, and so is the paginator `paginateX` (it sends XCommand).
        const name = raw.trim().split(/\s+as\s+/)[0] ?? '';
        if (/^\w+Command$/.test(name)) calls.add(apiCall(prefix, name));
        const paginated = /^paginate(\w+)$/.exec(name)?.[1];
        if (paginated) calls.add(apiCall(prefix, `${paginated}Command`));
      }
    }
  }
  return calls;
}

/** API calls the handler tests of `lambdas/<folder>` sent, as recorded by the first Jest run. */
function callsSentBy(folder: string, records: readonly TestFileRecord[]): Set<string> {
  const calls = new Set<string>();
  for (const record of records) {
    for (const call of record.calls.filter((c) => c.handler === folder)) {
      calls.add(apiCall(servicePrefix('client', call.client, record.testFile), call.command));
    }
  }
  if (calls.size === 0 && !WITHOUT_AWS_CALLS.has(folder)) throw new Error(`no recorded SDK calls for handler ${folder}: ${RERUN}`);
  return calls;
}

/** The most recently modified file under the given folders of the repository. */
function newestFile(folders: readonly string[]): { path: string; modified: number } {
  const files = folders.flatMap((folder) =>
    readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' }).map((file) => join(ROOT, folder, file)),
  );
  return (
    files
      .map((path) => ({ path: relative(ROOT, path), stats: statSync(path) }))
      // Sources only: an editor's swap file or a .DS_Store must not make the records look stale.
      .filter(({ path, stats }) => stats.isFile() && path.endsWith('.ts'))
      .map(({ path, stats }) => ({ path, modified: stats.mtimeMs }))
      .reduce((newest, file) => (file.modified > newest.modified ? file : newest))
  );
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

/** The managed policies attached to the function's role, by name below `policy/`. */
function managedPoliciesOf(template: Template, fn: LgtmFunction): string[] {
  const roleId = Stack.of(fn).getLogicalId(fn.role.node.defaultChild as never);
  const arns = (template.toJSON().Resources[roleId]?.Properties?.ManagedPolicyArns ?? []) as unknown[];
  return arns.map((arn) => JSON.stringify(arn).replace(/^.*:iam::aws:policy\/([^"]+)".*$/, '$1'));
}

function isInVpc(template: Template, fn: LgtmFunction): boolean {
  const functionId = Stack.of(fn).getLogicalId(fn.function.node.defaultChild as never);
  return template.toJSON().Resources[functionId]?.Properties?.VpcConfig !== undefined;
}

function hasOnFailureQueue(template: Template, fn: LgtmFunction): boolean {
  const functionId = Stack.of(fn).getLogicalId(fn.function.node.defaultChild as never);
  return Object.values(template.findResources('AWS::Lambda::EventInvokeConfig')).some(
    (c) => JSON.stringify(c.Properties.FunctionName).includes(`"${functionId}"`) && c.Properties.DestinationConfig?.OnFailure,
  );
}

const records = readTestFileRecords();
// Mimir and Loki replicas add a ring-forget function each, and tenant binding the agent credential
// reads of enroll and refresh: every function and call any configuration has is checked.
const REPLICAS = { services: { mimir: { replicas: 3 }, loki: { replicas: 3 } } };
const { stack, template } = synthStack(REPLICAS);
const functions = stack.node.findAll().filter((c): c is LgtmFunction => c instanceof LgtmFunction);

/** Calls the handlers make only with a switch on; without it their roles allow them not. */
const ONLY_WITH_TENANT_BINDING: Readonly<Record<string, readonly string[]>> = {
  enroll: ['secretsmanager:GetSecretValue'],
  refresh: ['secretsmanager:GetSecretValue'],
};

describe("with ingest.tenantBinding 'off'", () => {
  const unbound = synthStack({ ...REPLICAS, ingest: { tenantBinding: 'off' } });
  const unboundFunctions = unbound.stack.node.findAll().filter((c): c is LgtmFunction => c instanceof LgtmFunction);

  test.each(unboundFunctions.map((f) => [f.handlerFolder, f] as const))(
    '%s: its role allows what it does with the switch, but the calls only the switch needs',
    (folder, fn) => {
      const bound = functions.find((candidate) => candidate.node.path === fn.node.path) as LgtmFunction;
      const withSwitch = [...allowedActions(template, bound)];
      const only = ONLY_WITH_TENANT_BINDING[folder] ?? [];
      expect([...allowedActions(unbound.template, fn)].sort()).toEqual(withSwitch.filter((action) => !only.includes(action)).sort());
      for (const action of only) expect(withSwitch).toContain(action);
    },
  );
});

test('every Lambda of the stack is covered', () => {
  expect(functions.map((f) => f.handlerFolder).sort()).toEqual(expect.arrayContaining(['enroll', 'reconcile', 'ring-forget', 'status']));
  // Mimir's and Loki's, each with a role of its own.
  expect(functions.filter((f) => f.handlerFolder === 'ring-forget')).toHaveLength(2);
  expect(Object.keys(template.findResources('AWS::Lambda::Function')).length).toBeGreaterThanOrEqual(functions.length);
});

test('the recorded SDK calls are newer than every handler, handler test and the recorder, and their test files exist', () => {
  if (records.length === 0) throw new Error(`no recorded SDK calls in ${relative(ROOT, RECORD_DIR)}: ${RERUN}`);
  const oldest = records.reduce((first, record) => (record.writtenAt < first.writtenAt ? record : first));
  const newest = newestFile(['lambdas', 'test/lambdas', 'test/support']);
  if (oldest.writtenAt < newest.modified) {
    throw new Error(`the SDK calls recorded for ${oldest.testFile} predate the last change to ${newest.path}: ${RERUN}`);
  }
  // A deleted test file changes no file's time: its record must not keep counting.
  const orphans = records.map((record) => record.testFile).filter((testFile) => !existsSync(join(ROOT, testFile)));
  if (orphans.length > 0) throw new Error(`SDK calls are recorded for test files that no longer exist (${orphans.join(', ')}): ${RERUN}`);
});

describe.each(functions.map((f) => [f.handlerFolder, f] as const))('%s function', (folder, fn) => {
  const imported = callsImportedBy(folder);
  const allowed = allowedActions(template, fn);
  const runtime = new Set([
    ...RUNTIME_ONLY.always,
    ...(hasSqsEventSource(template, fn) ? RUNTIME_ONLY.sqsEventSource : []),
    ...(hasOnFailureQueue(template, fn) ? RUNTIME_ONLY.onFailureQueue : []),
  ]);

  test('its role allows every command its handler tests send', () => {
    const sent = [...callsSentBy(folder, records)].map(iamAction);
    expect(sent.filter((action) => !allowed.has(action))).toEqual([]);
  });

  test('its role allows nothing its handler tests do not send, beyond what the runtime needs', () => {
    const sent = new Set([...callsSentBy(folder, records)].flatMap((call) => [iamAction(call), ...(ALSO_AUTHORIZED_FOR_CALL[call] ?? [])]));
    expect([...allowed].filter((action) => !sent.has(action) && !runtime.has(action))).toEqual([]);
  });

  test('its role has no managed policy, but the VPC access one when it runs in a VPC', () => {
    expect(managedPoliciesOf(template, fn)).toEqual(isInVpc(template, fn) ? [VPC_ACCESS_POLICY] : []);
  });

  if (WITHOUT_AWS_CALLS.has(folder)) {
    test('imports no AWS SDK package at all', () => {
      expect([...sdkPackagesImportedBy(folder)]).toEqual([]);
    });
    return;
  }

  test('imports some AWS SDK command (the scan works)', () => {
    expect(imported.size).toBeGreaterThan(0);
  });

  test('its handler tests send every command its bundled code imports', () => {
    const sent = callsSentBy(folder, records);
    expect([...imported].filter((call) => !sent.has(call))).toEqual([]);
  });
});
