import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { EVENT_SOURCE, EXIT, main } from '../../bin/refresh';
import { parseRecord } from '../../lambdas/refresh/requests';
import { EVENT_SOURCE as STACK_EVENT_SOURCE } from '../../lib/enrollment/enrollment';
import { sqsRecord } from '../lambdas/fixtures';

const root = join(__dirname, '..', '..');

/** Runs main() with a mocked EventBridge client and captured output. */
async function run(argv: string[], options: { cdkContext?: unknown; putEvents?: 'ok' | 'refused' | 'denied' } = {}) {
  const client = new EventBridgeClient({ region: 'eu-west-1' });
  const eventBridge = mockClient(client);
  if (options.putEvents === 'refused') {
    eventBridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'not allowed' }] });
  } else if (options.putEvents === 'denied') {
    eventBridge
      .on(PutEventsCommand)
      .rejects(Object.assign(new Error('User is not authorized to perform: events:PutEvents'), { name: 'AccessDeniedException' }));
  } else {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '11111111-2222-3333-4444-555555555555' }] });
  }
  const regions: Array<string | undefined> = [];
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    eventBridge: (region) => {
      regions.push(region);
      return client;
    },
    cdkContext: 'cdkContext' in options ? options.cdkContext : undefined,
    requestedBy: 'ops@laptop',
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  const entries = eventBridge.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []);
  return { code, out: out.join('\n'), err: err.join('\n'), entries, regions };
}

function writeConfig(values: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'lgtm-refresh-')), 'config.json');
  writeFileSync(file, JSON.stringify(values));
  return file;
}

describe('npm run refresh', () => {
  test('--tenant puts one Config Refresh Requested event on the stack bus and prints it with the EventId', async () => {
    const result = await run(['--tenant', 'aws-rag-ec2']);

    expect(result.code).toBe(EXIT.ok);
    expect(result.entries).toEqual([
      {
        EventBusName: 'LgtmFleet',
        Source: 'lgtm-fleet',
        DetailType: 'Config Refresh Requested',
        Detail: JSON.stringify({ tenant: 'aws-rag-ec2', requestedBy: 'ops@laptop' }),
      },
    ]);
    expect(result.out).toContain('Putting on event bus LgtmFleet:');
    expect(result.out).toContain('"DetailType": "Config Refresh Requested"');
    expect(result.out).toContain('"tenant": "aws-rag-ec2"');
    expect(result.out).toContain('EventId: 11111111-2222-3333-4444-555555555555');
    expect(result.err).toBe('');
    expect(result.regions).toEqual([undefined]);
  });

  test.each([
    [['--tenant', 'aws-rag-rds', '--platform', 'windows'], { tenant: 'aws-rag-rds', platform: 'windows' }],
    [['--service', 'grafana'], { service: 'grafana' }],
    [['--service', 'collector'], { service: 'collector' }],
    [['--all'], { all: true }],
  ])('%j sends %j', async (argv, detail) => {
    const result = await run(argv);

    expect(result.code).toBe(EXIT.ok);
    expect(JSON.parse(result.entries[0]?.Detail as string)).toEqual({ ...detail, requestedBy: 'ops@laptop' });
  });

  test('--bus and --region override the defaults', async () => {
    const result = await run(['--all', '--bus', 'OtherBus', '--region', 'ap-northeast-2']);

    expect(result.entries[0]?.EventBusName).toBe('OtherBus');
    expect(result.regions).toEqual(['ap-northeast-2']);
    expect(result.out).toContain('Putting on event bus OtherBus (ap-northeast-2):');
  });

  test('the bus defaults to the stack name, and the region to env.region, from cdk.json context and --config', async () => {
    const file = writeConfig({
      stackName: 'LgtmProd',
      env: { region: 'eu-central-1' },
      tenants: { allowed: ['prod-a'], ec2Default: 'prod-a', cloudwatchMetrics: 'prod-a', cloudwatchLogs: 'prod-a' },
    });

    const fromFile = await run(['--tenant', 'prod-a', '--config', file], { cdkContext: { stackName: 'LgtmStaging' } });
    const fromContext = await run(['--all'], { cdkContext: { stackName: 'LgtmStaging' } });

    expect(fromFile.code).toBe(EXIT.ok);
    expect([fromFile.entries[0]?.EventBusName, fromFile.regions[0]]).toEqual(['LgtmProd', 'eu-central-1']);
    expect(fromContext.entries[0]?.EventBusName).toBe('LgtmStaging');
  });

  test.each([
    [[], 'say what to refresh: --tenant, --service or --all'],
    [['--tenant', 'aws-rag-ec2', '--service', 'mimir'], 'give only one of --tenant, --service, --all (got --tenant, --service)'],
    [['--all', '--service', 'loki'], 'give only one of --tenant, --service, --all (got --service, --all)'],
    [['--platform', 'linux', '--all'], '--platform goes with --tenant'],
    [['--tenant', 'aws-rag-ec2', '--platform', 'mac'], '--platform must be linux or windows, got "mac"'],
    [['--tenant', 'nobody'], '--tenant nobody: not in tenants.allowed (aws-rag-ec2, aws-rag-cloudwatch, aws-rag-rds)'],
    [['--service', 'prometheus'], '--service must be one of mimir, loki, tempo, grafana, collector, got "prometheus"'],
    [['--tenant'], "Option '-t, --tenant <value>' argument missing"],
    [['--everything'], "Unknown option '--everything'"],
    [['--all', '--bus', 'has space'], '--bus: not an event bus name or ARN: "has space"'],
  ])('%j is refused with a clear message, exit 2, nothing sent', async (argv, message) => {
    const result = await run(argv);

    expect(result.code).toBe(EXIT.usage);
    expect(result.err).toContain(message);
    expect(result.err).toContain('usage: npm run refresh');
    expect(result.entries).toEqual([]);
  });

  test('without the collector in the config, --service collector is refused', async () => {
    const result = await run(['--service', 'collector'], { cdkContext: { collector: { enabled: false } } });

    expect(result.code).toBe(EXIT.usage);
    expect(result.err).toContain('--service must be one of mimir, loki, tempo, grafana, got "collector"');
  });

  test('a bad config file is reported by name', async () => {
    const result = await run(['--all', '--config', '/nonexistent/prod.json']);

    expect(result.code).toBe(EXIT.usage);
    expect(result.err).toContain('cannot read config file /nonexistent/prod.json');
    expect(result.entries).toEqual([]);
  });

  test('an entry EventBridge refuses exits 1 with its error code', async () => {
    const result = await run(['--all'], { putEvents: 'refused' });

    expect(result.code).toBe(EXIT.failed);
    expect(result.err).toBe('PutEvents refused the event: NotAuthorizedForSourceException: not allowed');
    expect(result.out).not.toContain('EventId');
  });

  test('a failed call exits 1 with the error', async () => {
    const result = await run(['--service', 'mimir'], { putEvents: 'denied' });

    expect(result.code).toBe(EXIT.failed);
    expect(result.err).toBe('PutEvents failed: AccessDeniedException: User is not authorized to perform: events:PutEvents');
  });

  test('what the CLI sends is what the refresh function accepts', async () => {
    for (const argv of [['--tenant', 'aws-rag-ec2', '--platform', 'linux'], ['--service', 'tempo'], ['--all']]) {
      const { entries } = await run(argv);
      const entry = entries[0] as { Source: string; DetailType: string; Detail: string };
      const event = {
        version: '0',
        id: 'e',
        'detail-type': entry.DetailType,
        source: entry.Source,
        account: '123456789012',
        time: '2026-11-23T12:41:00Z',
        region: 'eu-west-1',
        resources: [],
        detail: JSON.parse(entry.Detail),
      };
      expect(parseRecord(sqsRecord(event), STACK_EVENT_SOURCE).kind).toBe('manual');
    }
    expect(EVENT_SOURCE).toBe(STACK_EVENT_SOURCE);
  });

  test('as a command: --help, and a usage error exits 2 before any AWS call', () => {
    const help = spawnSync(process.execPath, ['--import', 'tsx', 'bin/refresh.ts', '--help'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: npm run refresh');

    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'bin/refresh.ts', '--tenant', 'nobody'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'x',
      },
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--tenant nobody: not in tenants.allowed');
  });
});
