import type { Tag } from '@aws-sdk/client-ec2';
import type { SendCommandCommandInput } from '@aws-sdk/client-ssm';
import { agentParameterName, type Platform } from '../shared/contract';
import { AGENT_STATUS, AGENT_TAGS } from '../shared/tags';
import type { LifecycleContext } from './requests';
import type { EnrollSettings } from './settings';

/** SendCommand accepts at most 50 instance IDs. */
export const SEND_COMMAND_CHUNK = 50;
/** SendCommand's Comment is at most 100 characters. */
const MAX_COMMENT_LENGTH = 100;

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
