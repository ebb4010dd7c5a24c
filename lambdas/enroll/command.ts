import { CreateTagsCommand, type EC2Client, type Tag } from '@aws-sdk/client-ec2';
import { SendCommandCommand, type SendCommandCommandInput, type SSMClient } from '@aws-sdk/client-ssm';
import { chunk, errorName, type FailedChunk } from '../shared/aws';
import { agentParameterName, type Platform } from '../shared/contract';
import { AGENT_STATUS, AGENT_TAGS } from '../shared/tags';
import type { LifecycleContext } from './requests';
import type { EnrollSettings } from './settings';

/** SendCommand accepts at most 50 instance IDs. */
export const SEND_COMMAND_CHUNK = 50;
/** SendCommand's Comment is at most 100 characters. */
const MAX_COMMENT_LENGTH = 100;
/** CreateTags takes at most 1000 resource IDs. */
const CREATE_TAGS_CHUNK = 1000;

/** Parameter Store name of a (tenant, platform) agent config. */
export function agentConfigParameterName(settings: EnrollSettings, tenant: string, platform: Platform): string {
  return agentParameterName(settings.parameterPrefix, tenant, platform);
}

export interface InstallCommand {
  readonly tenant: string;
  readonly platform: Platform;
  readonly instanceIds: readonly string[];
  /** The agent config, sent inline. */
  readonly config: string;
  readonly configVersion: number;
}

/**
 * The install command for one chunk of instances. The config travels inline, as in config
 * refresh: the value read with its version, so every instance of the command gets exactly
 * `configVersion`. (A `{{ssm:name}}` reference would be resolved by each instance at its turn, and
 * resolving one into the documents' environment-variable parameters needs SSM Agent 3.3.3572.0,
 * newer than many AMIs carry; inline values need 3.3.2746.0.) A change made after the read has a
 * Parameter Store Change event of its own, which config refresh turns into a reload.
 */
export function buildInstallCommand(settings: EnrollSettings, command: InstallCommand): SendCommandCommandInput {
  const comment = `lgtm-fleet enroll ${command.tenant} ${command.platform}`.slice(0, MAX_COMMENT_LENGTH);
  return {
    DocumentName: command.platform === 'windows' ? settings.windowsDocumentName : settings.linuxDocumentName,
    InstanceIds: [...command.instanceIds],
    Parameters: {
      AgentConfig: [command.config],
      Tenant: [command.tenant],
      AlloyVersion: [settings.alloyVersion],
      ConfigVersion: [String(command.configVersion)],
      Action: ['install'],
      StopLegacyAgents: [String(settings.stopLegacyAgents)],
    },
    TimeoutSeconds: settings.commandTimeoutSeconds,
    // Every instance at once, and one failing instance does not cancel the others.
    MaxConcurrency: String(SEND_COMMAND_CHUNK),
    MaxErrors: '100%',
    Comment: comment,
    ...(settings.commandLogGroup
      ? { CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: settings.commandLogGroup } }
      : {}),
  };
}

/** What became of (part of) an install command. */
export type CommandDelivery =
  | { readonly status: 'sent'; readonly commandId: string; readonly instanceIds: readonly string[] }
  /** SendCommand said InvalidInstanceId for this one instance: its agent went offline after the look-up. */
  | { readonly status: 'unreachable'; readonly instanceId: string; readonly error: unknown }
  | { readonly status: 'failed'; readonly instanceIds: readonly string[]; readonly error: unknown };

/**
 * Sends one chunk's install command; returns what became of its instances, part by part.
 * SendCommand rejects the whole call with InvalidInstanceId when any one instance is not reachable
 * (its agent went offline between the look-up and the send) without saying which, so the chunk is
 * halved until the unreachable instances are isolated: they wait and are re-checked, and the
 * others are not held back with them.
 */
export async function sendInstallCommand(ssm: SSMClient, settings: EnrollSettings, command: InstallCommand): Promise<CommandDelivery[]> {
  const { instanceIds } = command;
  try {
    const result = await ssm.send(new SendCommandCommand(buildInstallCommand(settings, command)));
    return [{ status: 'sent', commandId: result.Command?.CommandId ?? 'unknown', instanceIds }];
  } catch (error) {
    if (errorName(error) !== 'InvalidInstanceId') return [{ status: 'failed', instanceIds, error }];
    if (instanceIds.length === 1) return [{ status: 'unreachable', instanceId: instanceIds[0] as string, error }];
    const half = Math.ceil(instanceIds.length / 2);
    return [
      ...(await sendInstallCommand(ssm, settings, { ...command, instanceIds: instanceIds.slice(0, half) })),
      ...(await sendInstallCommand(ssm, settings, { ...command, instanceIds: instanceIds.slice(half) })),
    ];
  }
}

/** Writes the same tags on many instances; returns the chunks whose call failed. */
export async function createTags(ec2: EC2Client, instanceIds: readonly string[], tags: Tag[]): Promise<FailedChunk<string>[]> {
  const failed: FailedChunk<string>[] = [];
  for (const resources of chunk(instanceIds, CREATE_TAGS_CHUNK)) {
    try {
      await ec2.send(new CreateTagsCommand({ Resources: [...resources], Tags: tags }));
    } catch (error) {
      failed.push({ items: resources, error });
    }
  }
  return failed;
}

/** Tags marking a sent command, written in one CreateTags call per command. */
export function pendingTags(settings: EnrollSettings, commandId: string, sentAt: Date): Tag[] {
  return [
    { Key: settings.statusTagKey, Value: AGENT_STATUS.pending },
    { Key: AGENT_TAGS.pendingSince, Value: sentAt.toISOString() },
    { Key: AGENT_TAGS.command, Value: commandId },
  ];
}

/** Tags naming the launch lifecycle action the status handler completes when the command ends. */
export function lifecycleTags(lifecycle: LifecycleContext): Tag[] {
  return [
    { Key: AGENT_TAGS.lifecycleGroup, Value: lifecycle.groupName },
    { Key: AGENT_TAGS.lifecycleHook, Value: lifecycle.hookName },
  ];
}
