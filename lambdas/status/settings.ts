import type { EnvironmentInput, STATUS_VARIABLES } from '../shared/contract';
import { requireOneOf, requireString } from '../shared/env';
import { LIFECYCLE_RESULTS, type LifecycleResult } from '../shared/lifecycle';

/** Everything the status handler is configured with, read once from its environment. */
export interface StatusSettings {
  /** EC2 tag holding the enrollment status (STATUS_TAG_KEY). */
  readonly statusTagKey: string;
  /** Bus for `Agent Enrolled` / `Agent Enrollment Failed` events (EVENT_BUS_NAME). */
  readonly eventBusName: string;
  /** Source of the events lgtm-fleet publishes (EVENT_SOURCE). */
  readonly eventSource: string;
  /** Result for a launch lifecycle action whose install command did not succeed (LIFECYCLE_FAILURE_RESULT, default CONTINUE). */
  readonly lifecycleFailureResult: LifecycleResult;
  /** SSM command document of the Linux agent (LINUX_DOCUMENT_NAME): names the platform; other documents are ignored. */
  readonly linuxDocumentName: string;
  /** SSM command document of the Windows agent (WINDOWS_DOCUMENT_NAME). */
  readonly windowsDocumentName: string;
}

export function loadStatusSettings(env: EnvironmentInput<typeof STATUS_VARIABLES>): StatusSettings {
  return {
    statusTagKey: requireString(env, 'STATUS_TAG_KEY'),
    eventBusName: requireString(env, 'EVENT_BUS_NAME'),
    eventSource: requireString(env, 'EVENT_SOURCE'),
    lifecycleFailureResult: requireOneOf(env, 'LIFECYCLE_FAILURE_RESULT', LIFECYCLE_RESULTS, 'CONTINUE'),
    linuxDocumentName: requireString(env, 'LINUX_DOCUMENT_NAME'),
    windowsDocumentName: requireString(env, 'WINDOWS_DOCUMENT_NAME'),
  };
}
