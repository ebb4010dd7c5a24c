import { paginateListCommands, SendCommandCommand, type SendCommandCommandInput, type SSMClient } from '@aws-sdk/client-ssm';
import type { AgentCredentials } from '../shared/agent-credential';
import type { Platform } from '../shared/contract';
import { AGENT_TAGS } from '../shared/tags';
import type { RefreshSettings } from './settings';

/** SendCommand's Comment is at most 100 characters. */
const MAX_COMMENT_LENGTH = 100;
/** ListCommands returns at most 50 a page; look at this many pages for an earlier refresh before sending anyway. */
const LIST_COMMANDS_PAGE = 50;
const LIST_COMMANDS_MAX_PAGES = 4;

export interface AgentRollout {
  readonly tenant: string;
  readonly platform: Platform;
  readonly parameterName: string;
  readonly version: number;
  /** The config as read and checked before the rollout (exactly `version`). */
  readonly config: string;
}

/**
 * `lgtm-fleet refresh <tenant>/<platform> v<version>`, at most 100 characters (a long tenant ID is
 * shortened, the version never). It also identifies an earlier refresh of the same version, see
 * {@link findRefreshCommand}.
 */
export function refreshComment(rollout: Pick<AgentRollout, 'tenant' | 'platform' | 'version'>): string {
  const tail = `/${rollout.platform} v${rollout.version}`;
  const head = 'lgtm-fleet refresh ';
  const room = MAX_COMMENT_LENGTH - head.length - tail.length;
  const tenant = rollout.tenant.length <= room ? rollout.tenant : `${rollout.tenant.slice(0, room - 1)}~`;
  return `${head}${tenant}${tail}`;
}

/**
 * One command for every enrolled agent of a tenant and platform, whatever the fleet size: the
 * instances are selected by the two tags the status handler writes on success (an instance needs
 * both), and Run Command spreads the command with the rate controls. The config travels inline:
 * the value that passed the checks, so every agent gets exactly `version`, even when the parameter
 * changes again while the rollout is under way (a `{{ssm:name}}` reference would be resolved by
 * each instance at its turn, unchecked). That later change has a rollout of its own.
 */
export function buildRefreshCommand(
  settings: Pick<
    RefreshSettings,
    | 'linuxDocumentName'
    | 'windowsDocumentName'
    | 'alloyVersion'
    | 'stopLegacyAgents'
    | 'maxConcurrency'
    | 'maxErrors'
    | 'commandTimeoutSeconds'
    | 'commandLogGroup'
  >,
  rollout: AgentRollout,
): SendCommandCommandInput {
  return {
    DocumentName: documentFor(settings, rollout.platform),
    Targets: [
      { Key: `tag:${AGENT_TAGS.tenant}`, Values: [rollout.tenant] },
      { Key: `tag:${AGENT_TAGS.platform}`, Values: [rollout.platform] },
    ],
    Parameters: {
      AgentConfig: [rollout.config],
      Tenant: [rollout.tenant],
      AlloyVersion: [settings.alloyVersion],
      ConfigVersion: [String(rollout.version)],
      Action: ['reload'],
      StopLegacyAgents: [String(settings.stopLegacyAgents)],
    },
    TimeoutSeconds: settings.commandTimeoutSeconds,
    MaxConcurrency: settings.maxConcurrency,
    MaxErrors: settings.maxErrors,
    Comment: refreshComment(rollout),
    ...(settings.commandLogGroup
      ? { CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: settings.commandLogGroup } }
      : {}),
  };
}

export function documentFor(settings: Pick<RefreshSettings, 'linuxDocumentName' | 'windowsDocumentName'>, platform: Platform): string {
  return platform === 'windows' ? settings.windowsDocumentName : settings.linuxDocumentName;
}

/**
 * The command with the tenant's agent credential in its config (tenant binding on), or as planned:
 * the plan and its checks see the config as stored, the agents get it with their credential.
 */
export async function withAgentCredential(
  command: SendCommandCommandInput,
  credentials: AgentCredentials,
  secretPrefix: string | undefined,
  options: { fresh?: boolean } = {},
): Promise<SendCommandCommandInput> {
  const parameters = command.Parameters ?? {};
  const [config] = parameters.AgentConfig ?? [];
  const [tenant] = parameters.Tenant ?? [];
  if (config === undefined || tenant === undefined) return command;
  const credentialed = await credentials.writeInto(config, tenant, secretPrefix, options);
  return credentialed === config ? command : { ...command, Parameters: { ...parameters, AgentConfig: [credentialed] } };
}

export async function sendRefreshCommand(ssm: SSMClient, input: SendCommandCommandInput): Promise<string> {
  const result = await ssm.send(new SendCommandCommand(input));
  return result.Command?.CommandId ?? 'unknown';
}

export interface EarlierRollout {
  /** Command ID or deployment ID. */
  readonly id: string;
  readonly startedAt: Date;
}

/**
 * An earlier refresh command for the same tenant, platform and version sent at or after `since`
 * (so a duplicate or retried event does not reload the fleet again). Looks at the newest
 * {@link LIST_COMMANDS_MAX_PAGES} pages only: an enrollment burst on the same document can bury
 * it, and then the refresh is sent again, which the agents treat as "configuration unchanged".
 */
export async function findRefreshCommand(
  ssm: SSMClient,
  documentName: string,
  comment: string,
  since: Date,
): Promise<EarlierRollout | undefined> {
  const pages = paginateListCommands(
    { client: ssm, pageSize: LIST_COMMANDS_PAGE },
    {
      Filters: [
        { key: 'DocumentName', value: documentName },
        // The documented format has whole seconds; rounding down only widens the look, the exact bound is checked below.
        { key: 'InvokedAfter', value: since.toISOString().replace(/\.\d{3}Z$/, 'Z') },
      ],
    },
  );
  let pagesRead = 0;
  for await (const page of pages) {
    for (const command of page.Commands ?? []) {
      const requested = command.RequestedDateTime;
      if (command.Comment === comment && command.CommandId && requested && requested.getTime() >= since.getTime()) {
        return { id: command.CommandId, startedAt: requested };
      }
    }
    pagesRead += 1;
    if (pagesRead === LIST_COMMANDS_MAX_PAGES) break;
  }
  return undefined;
}
