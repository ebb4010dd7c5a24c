import { DescribeInstancesCommand, type DescribeInstancesCommandInput, type DescribeInstancesCommandOutput } from '@aws-sdk/client-ec2';
import { DescribeInstanceInformationCommand, GetParametersCommand } from '@aws-sdk/client-ssm';
import { describeInstances, describeManagedNodes, getAgentConfigs } from '../../../lambdas/enroll/lookup';
import { agentConfigValue, awsError, FakeAws } from './fake-aws';

const ids = (count: number) => Array.from({ length: count }, (_, index) => `i-${index.toString(16).padStart(17, '0')}`);

describe('batched look-ups', () => {
  test('DescribeInstances takes 200 IDs a call and reads platform, architecture, state, tags and launch time', async () => {
    const all = ids(250);
    const aws = new FakeAws(all.map((id, index) => ({ id, platform: index === 0 ? 'windows' : 'linux', tags: { Name: `n${index}` } })));

    const result = await describeInstances(aws.ec2Client, all);

    expect(aws.ec2.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input.Filters?.[0]?.Values?.length)).toEqual([
      200, 50,
    ]);
    expect(result.found.size).toBe(250);
    expect(result.found.get(all[0] as string)).toEqual({
      instanceId: all[0],
      state: 'running',
      platform: 'windows',
      architecture: 'x86_64',
      tags: new Map([['Name', 'n0']]),
      launchTime: '2026-11-23T12:29:50.000Z',
    });
  });

  test('DescribeInstances follows NextToken and reports a failed chunk without losing the others', async () => {
    const aws = new FakeAws();
    const pages: DescribeInstancesCommandOutput[] = [
      {
        Reservations: [{ Instances: [{ InstanceId: 'i-00000000000000001', State: { Name: 'running' } }] }],
        NextToken: 'page-2',
        $metadata: {},
      },
      {
        Reservations: [
          {
            Instances: [
              { InstanceId: 'i-00000000000000002', State: { Name: 'stopped' }, PlatformDetails: 'Windows with SQL Server Standard' },
            ],
          },
        ],
        $metadata: {},
      },
    ];
    // The token read as each call is made: the SDK's paginator sends every page with one input object.
    const tokensSent: Array<string | undefined> = [];
    aws.ec2.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => {
      tokensSent.push(input.NextToken);
      const page = pages.shift();
      if (!page) throw awsError('RequestLimitExceeded');
      return page;
    });

    const result = await describeInstances(aws.ec2Client, ids(201));

    expect(tokensSent).toEqual([undefined, 'page-2', undefined]);
    expect([...result.found.keys()]).toEqual(['i-00000000000000001', 'i-00000000000000002']);
    expect(result.found.get('i-00000000000000002')?.platform).toBe('windows');
    expect(result.failed.map((failed) => failed.items.length)).toEqual([1]);
  });

  test('DescribeInstanceInformation asks for 50 per page and pages until done', async () => {
    const all = ids(120);
    const aws = new FakeAws(all.map((id) => ({ id })));

    const result = await describeManagedNodes(aws.ssmClient, all);

    expect(aws.ssm.commandCalls(DescribeInstanceInformationCommand).map((call) => call.args[0].input)).toEqual([
      { Filters: [{ Key: 'InstanceIds', Values: all.slice(0, 50) }], MaxResults: 50 },
      { Filters: [{ Key: 'InstanceIds', Values: all.slice(50, 100) }], MaxResults: 50 },
      { Filters: [{ Key: 'InstanceIds', Values: all.slice(100) }], MaxResults: 50 },
    ]);
    expect(result.found.size).toBe(120);
  });

  test('GetParameters takes 10 names a call, returns each value with its version, and reports unknown names as missing', async () => {
    const aws = new FakeAws();
    const names = Array.from({ length: 11 }, (_, index) => `/LgtmFleet/agent/t${index}/linux`);
    for (const name of names.slice(1)) aws.parameters.set(name, 5);

    const result = await getAgentConfigs(aws.ssmClient, names);

    expect(aws.ssm.commandCalls(GetParametersCommand).map((call) => call.args[0].input.Names?.length)).toEqual([10, 1]);
    expect(result.missing).toEqual(new Set([names[0]]));
    expect(result.found.get(names[10] as string)).toEqual({ value: agentConfigValue(names[10] as string, 5), version: 5 });
  });
});
