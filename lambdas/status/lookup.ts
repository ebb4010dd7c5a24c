import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { ListCommandsCommand, type ListCommandsCommandOutput, type SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod/mini';
import { errorMessage, errorName } from '../shared/aws';
import { describeIssues } from '../shared/schema';

/**
 * The two look-ups behind a result: what the command asked for, and what the instance's tags say
 * now. One call each; errors other than "not found" are thrown, so the invocation is retried.
 */

/** The agent documents' `Action` parameter (see lib/agents/agent-documents.ts). */
export const COMMAND_ACTIONS = ['install', 'reload'] as const;
export type CommandAction = (typeof COMMAND_ACTIONS)[number];

/** What a command asked for, from its parameters. */
export interface CommandFacts {
  readonly action: CommandAction;
  readonly tenant?: string;
  readonly alloyVersion?: string;
  readonly configVersion?: string;
  readonly requestedAt?: Date;
}

export type CommandLookup =
  | { readonly found: true; readonly command: CommandFacts }
  | { readonly found: false; readonly reason: 'command-not-found' | 'unexpected-parameters'; readonly detail: string };

/** The documents' parameters as Run Command stores them: one value per name; only those read here are declared. */
const singleValue = z.optional(z.array(z.string()).check(z.maxLength(1)));
const commandParameters = z.object({
  Tenant: singleValue,
  AlloyVersion: singleValue,
  ConfigVersion: singleValue,
  // The documents default to install when Action is not passed.
  Action: z.optional(z.array(z.enum(COMMAND_ACTIONS)).check(z.maxLength(1))),
});

/**
 * The command's parameters. Run Command keeps commands for 30 days; one no longer listed (or sent
 * with parameters these documents do not have) is reported as not found, with the reason.
 */
export async function findCommand(ssm: SSMClient, commandId: string): Promise<CommandLookup> {
  let result: ListCommandsCommandOutput;
  try {
    result = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
  } catch (error) {
    if (errorName(error) === 'InvalidCommandId') return { found: false, reason: 'command-not-found', detail: errorMessage(error) };
    throw error;
  }
  const command = result.Commands?.find((candidate) => candidate.CommandId === commandId);
  if (command === undefined) return { found: false, reason: 'command-not-found', detail: 'not returned by ListCommands' };

  const parameters = commandParameters.safeParse(command.Parameters ?? {});
  if (!parameters.success) {
    return { found: false, reason: 'unexpected-parameters', detail: describeIssues(parameters.error) };
  }
  const { Tenant, AlloyVersion, ConfigVersion, Action } = parameters.data;
  return {
    found: true,
    command: {
      action: Action?.[0] ?? 'install',
      ...(Tenant?.[0] ? { tenant: Tenant[0] } : {}),
      ...(AlloyVersion?.[0] ? { alloyVersion: AlloyVersion[0] } : {}),
      ...(ConfigVersion?.[0] ? { configVersion: ConfigVersion[0] } : {}),
      ...(command.RequestedDateTime ? { requestedAt: command.RequestedDateTime } : {}),
    },
  };
}

export interface InstanceTags {
  /** EC2 state name: pending, running, shutting-down, terminated, stopping, stopped. */
  readonly state: string;
  readonly tags: ReadonlyMap<string, string>;
}

/**
 * The instance's state and tags, or undefined when EC2 no longer lists it. The filter form
 * returns nothing for an unknown ID instead of failing the call.
 */
export async function describeInstance(ec2: EC2Client, instanceId: string): Promise<InstanceTags | undefined> {
  const result = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [instanceId] }] }));
  const instance = (result.Reservations ?? [])
    .flatMap((reservation) => reservation.Instances ?? [])
    .find((i) => i.InstanceId === instanceId);
  if (instance === undefined) return undefined;
  return {
    state: instance.State?.Name ?? 'unknown',
    tags: new Map((instance.Tags ?? []).filter((tag) => tag.Key !== undefined).map((tag) => [tag.Key as string, tag.Value ?? ''])),
  };
}
