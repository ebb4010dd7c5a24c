import type { Platform } from '../shared/contract';
import {
  type CommandStatusChangeEvent,
  DEPLOYMENT_COMPLETED,
  DEPLOYMENT_FAILED,
  type EcsDeploymentStateChangeEvent,
} from '../shared/refresh-events';
import type { Outcome } from './outcomes';
import type { RefreshSettings } from './settings';

/**
 * The end of a rollout, from the events ECS and Run Command publish: pure functions from a parsed
 * state-change event to the `Config Refresh Completed` / `Failed` outcome, or a reason to ignore it.
 */

export type StateOutcome =
  | { readonly kind: 'outcome'; readonly outcome: Outcome }
  | { readonly kind: 'ignored'; readonly reason: string; readonly detail: string };

/**
 * SERVICE_DEPLOYMENT_COMPLETED → Completed, SERVICE_DEPLOYMENT_FAILED (circuit breaker) → Failed,
 * for the project's services. A rollback deployment that completes is reported as Completed with
 * its own deployment ID and ECS's reason ("rolled back"), so it never matches the Started event.
 */
export function deploymentStateOutcome(event: EcsDeploymentStateChangeEvent, settings: Pick<RefreshSettings, 'services'>): StateOutcome {
  const serviceArn = event.resources[0] as string;
  const service = [...settings.services].find(([, arn]) => arn === serviceArn)?.[0];
  if (service === undefined) return { kind: 'ignored', reason: 'not-a-project-service', detail: `service ${serviceArn}` };
  const { eventName, deploymentId, reason } = event.detail;
  const target = { kind: 'service', service } as const;
  if (eventName === DEPLOYMENT_COMPLETED) {
    return {
      kind: 'outcome',
      outcome: { type: 'completed', detail: { target, deploymentId, status: eventName, ...(reason ? { detail: reason } : {}) } },
    };
  }
  if (eventName === DEPLOYMENT_FAILED) {
    return {
      kind: 'outcome',
      outcome: {
        type: 'failed',
        detail: { target, deploymentId, reason: 'deployment-failed', detail: reason ?? 'the deployment failed (circuit breaker)' },
      },
    };
  }
  return { kind: 'ignored', reason: 'deployment-in-progress', detail: `${eventName} ${deploymentId}` };
}

const COMMAND_FAILED_STATUSES: ReadonlySet<string> = new Set(['Failed', 'TimedOut', 'Cancelled']);

/**
 * A refresh command's overall status: Success → Completed; Failed, TimedOut, Cancelled → Failed.
 * Only commands of the agent documents with `Action=reload` are refreshes (installs belong to the
 * status handler). Tenant and version come from the command's parameters in the event.
 */
export function commandStatusOutcome(
  event: CommandStatusChangeEvent,
  settings: Pick<RefreshSettings, 'linuxDocumentName' | 'windowsDocumentName'>,
): StateOutcome {
  const { 'command-id': commandId, 'document-name': documentName, status, parameters } = event.detail;
  const platform = documentPlatform(documentName, settings);
  if (platform === undefined) return { kind: 'ignored', reason: 'not-an-agent-document', detail: `document ${documentName}` };
  const values = typeof parameters === 'object' && parameters !== null ? (parameters as Record<string, unknown>) : {};
  const action = firstValue(values.Action);
  if (action !== 'reload') {
    return { kind: 'ignored', reason: 'not-a-refresh-command', detail: `command ${commandId} Action=${action ?? '(none)'}` };
  }
  const tenant = firstValue(values.Tenant);
  const versionText = firstValue(values.ConfigVersion);
  const version = versionText !== undefined && /^\d+$/.test(versionText) ? Number(versionText) : null;
  const target = tenant === undefined ? undefined : ({ kind: 'agents', tenant, platform } as const);
  if (status === 'Success') {
    return { kind: 'outcome', outcome: { type: 'completed', detail: { ...(target ? { target } : {}), commandId, version, status } } };
  }
  if (COMMAND_FAILED_STATUSES.has(status)) {
    return {
      kind: 'outcome',
      outcome: {
        type: 'failed',
        detail: {
          ...(target ? { target } : {}),
          commandId,
          version,
          reason: 'command-failed',
          detail: `the refresh command ended ${status}: see its invocations for the agents that rejected the config or could not be reached`,
        },
      },
    };
  }
  return { kind: 'ignored', reason: 'command-in-progress', detail: `command ${commandId} ${status}` };
}

/** The platform of an agent document, named by name or by ARN (`…:document/<name>`). */
function documentPlatform(
  documentName: string,
  settings: Pick<RefreshSettings, 'linuxDocumentName' | 'windowsDocumentName'>,
): Platform | undefined {
  const name = documentName.includes(':document/')
    ? documentName.slice(documentName.indexOf(':document/') + ':document/'.length)
    : documentName;
  if (name === settings.linuxDocumentName) return 'linux';
  if (name === settings.windowsDocumentName) return 'windows';
  return undefined;
}

function firstValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}
