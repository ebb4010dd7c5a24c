import type * as events from 'aws-cdk-lib/aws-events';
import type { AgentConfigs } from './agent-configs';

/** Run Command's final statuses, of a command and of one invocation alike: no other status follows them. */
const FINAL_COMMAND_STATUSES = ['Success', 'Failed', 'TimedOut', 'Cancelled'];

/**
 * Matches SSM notifications of type `detailType` (a command's, or one invocation's, status change)
 * that report the final status of a command running one of the agent documents.
 * @param detail further conditions on the event's `detail`
 */
export function agentCommandFinishedPattern(
  agentConfigs: Pick<AgentConfigs, 'linuxDocument' | 'windowsDocument'>,
  detailType: string,
  detail: Readonly<Record<string, unknown>> = {},
): events.EventPattern {
  return {
    source: ['aws.ssm'],
    detailType: [detailType],
    detail: {
      'document-name': [agentConfigs.linuxDocument.ref, agentConfigs.windowsDocument.ref],
      status: [...FINAL_COMMAND_STATUSES],
      ...detail,
    },
  };
}
