import { Scalar, stringify } from 'yaml';
import type { LgtmConfig } from '../config/schema';
import { AGENT_JOBS } from './agent';
import type { DeployFacts, RenderInput } from './catalog';
import { SELF_MONITORED } from './collector';
import { CLOUDWATCH_UID, escapeProvisioningValue, federatedDataSourceUid, STACK_METRICS_UID, tenantDataSourceUid } from './grafana';
import { GRAFANA_DIRECTORIES, GRAFANA_FOLDER, type GrafanaFile } from './grafana-dashboards';

/**
 * Grafana-managed alerting, provisioned from one file: a rule group with the default alerts,
 * and (unless `grafana.alertContactPoint.type` is `none`) a contact point and the notification
 * policy that sends every alert to it.
 *
 * Grafana expands environment variables in most provisioning fields, but not in a query's
 * `model` (kept raw so that query macros survive) nor in annotations (only `${NAME}` in recent
 * releases). The rules therefore carry no `$` except in annotation templates (`{{ $labels.x }}`);
 * a contact point's secret URL is written in by the init container (see
 * {@link ALERT_CONTACT_URL_PLACEHOLDER}).
 */

/** Deploy-time facts the alerts need beyond the common ones. */
export interface AlertDeployFacts extends DeployFacts {
  /**
   * Names of the enrollment and refresh dead-letter queues (CDK tokens inside the app). Without
   * them the dead-letter rule is left out: CloudWatch needs exact queue names, and the generated
   * names are only known at deploy time.
   */
  readonly deadLetterQueueNames?: readonly string[];
}

export interface GrafanaAlertsInput extends RenderInput {
  readonly deploy: AlertDeployFacts;
}

/**
 * Where the contact point's secret URL (`urlSecretArn`) goes: the rendered file holds this
 * placeholder in a single-quoted YAML string, and Grafana's config init container replaces it with
 * the secret, escaped for that string and for Grafana's provisioning expansion. The URL is not
 * handed to Grafana as `${VAR}`: Grafana expands a provisioning value and then runs the environment
 * expander over the result again, so a `$` in the secret would be eaten.
 */
export const ALERT_CONTACT_URL_PLACEHOLDER = '@@LGTM_ALERT_CONTACT_URL@@';

/** Name of the provisioned contact point, and the UID of its single integration. */
export const ALERT_CONTACT_POINT = 'lgtm-fleet';
export const ALERT_RECEIVER_UID = 'lgtm-fleet-contact';

/** Rule UIDs: stable, so a renamed title keeps the rule's history. */
export const ALERT_RULE_UIDS = {
  agentDown: 'lgtm-agent-down',
  backendNotReady: 'lgtm-backend-not-ready',
  ingestionErrors: 'lgtm-ingestion-errors',
  deadLetters: 'lgtm-dead-letters',
} as const;

/** Scrape jobs of the agent's metrics pipeline (host exporter and Alloy itself). */
export const AGENT_METRIC_JOBS = [AGENT_JOBS.linuxHost, AGENT_JOBS.windowsHost, AGENT_JOBS.agent] as const;

/** Placeholder of the `index`-th dead-letter queue name, written in by Grafana's config init container. */
export function deadLetterQueuePlaceholder(index: number): string {
  return `@@LGTM_DEAD_LETTER_QUEUE_${index + 1}@@`;
}

/**
 * How a value is escaped inside a single-quoted YAML string of a Grafana provisioning file: `''`
 * for a quote (YAML) and `$$` for a dollar (Grafana's provisioning expansion reads `$$` as `$`).
 */
export const GRAFANA_SINGLE_QUOTED_ESCAPES: Readonly<Record<string, string>> = { "'": "''", $: '$$' };

/** The Secrets Manager secret whose value replaces {@link ALERT_CONTACT_URL_PLACEHOLDER}, if the contact point uses one. */
export function alertContactUrlSecret(config: LgtmConfig): { readonly placeholder: string; readonly secretArn: string } | undefined {
  const contact = config.grafana.alertContactPoint;
  if (contact.type === 'none' || !('urlSecretArn' in contact) || contact.urlSecretArn === undefined) return undefined;
  return { placeholder: ALERT_CONTACT_URL_PLACEHOLDER, secretArn: contact.urlSecretArn };
}

/** The data source the fleet-wide agent rule queries: the federated Mimir one, or the only tenant's. */
export function fleetMetricsUid(config: LgtmConfig): string {
  const tenants = config.tenants.allowed;
  return tenants.length > 1 ? federatedDataSourceUid('mimir') : tenantDataSourceUid('mimir', tenants[0]);
}

/** A PromQL regex matcher value matching exactly these values. */
function oneOf(values: readonly string[]): string {
  return values.map((value) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
}

/** The agent-down expression: 1 per (tenant, instance) whose agent went silent, or per (tenant, instance, job) whose scrape fails. */
export function agentDownExpression(): string {
  const self = `up{job="${AGENT_JOBS.agent}"}`;
  return (
    // Seen in the last hour, silent now (the series went stale: the agent stopped or lost Mimir).
    `group by (tenant, instance) (max_over_time(${self}[1h]) unless on (tenant, instance) ${self})` +
    // Running, but a target of its own pipeline fails to scrape.
    ` or group by (tenant, instance, job) (up{job=~"${oneOf(AGENT_METRIC_JOBS)}"} == 0)`
  );
}

/**
 * The backend-not-ready expression: 1 per self-monitored service whose scrape fails, or memcached
 * down, or one series when no self-monitoring sample arrives at all (the collector is down).
 * While everything is healthy it returns no series, so the rule's no-data state must be `OK`;
 * Mimir itself being down is a query error, which the rule's error state reports.
 */
export function backendNotReadyExpression(): string {
  const up = `up{job=~"${oneOf(SELF_MONITORED)}"}`;
  return `group by (job) (${up} == 0) or group by (job) (memcached_up == 0) or absent(${up})`;
}

/** The ingestion-errors expression: per-second refusals by tenant and reason in Mimir, Loki and Tempo. */
export function ingestionErrorsExpression(): string {
  return [
    'sum by (job, user, reason) (rate(cortex_discarded_samples_total[5m])) > 0',
    'sum by (job, tenant, reason) (rate(loki_discarded_samples_total[5m])) > 0',
    'sum by (job, tenant, reason) (rate(tempo_discarded_spans_total[5m])) > 0',
  ].join(' or ');
}

type Query = Record<string, unknown> & { refId: string };

interface AlertRule {
  uid: string;
  title: string;
  condition: string;
  data: Array<{ refId: string; relativeTimeRange: { from: number; to: number }; datasourceUid: string; model: Query }>;
  noDataState: 'OK' | 'NoData' | 'Alerting';
  execErrState: 'Error' | 'Alerting' | 'OK';
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  isPaused: false;
}

/** Grafana's server-side expressions (threshold, reduce); the model's `datasourceUid` alone selects a query's data source. */
const EXPRESSION_UID = '__expr__';

function promQuery(datasourceUid: string, expr: string, seconds: number) {
  return {
    refId: 'A',
    relativeTimeRange: { from: seconds, to: 0 },
    datasourceUid,
    model: { refId: 'A', expr, instant: true, range: false },
  };
}

function threshold(refId: string, input: string) {
  return {
    refId,
    relativeTimeRange: { from: 0, to: 0 },
    datasourceUid: EXPRESSION_UID,
    model: {
      refId,
      type: 'threshold',
      expression: input,
      conditions: [{ evaluator: { type: 'gt', params: [0] } }],
    },
  };
}

/** A rule on an instant PromQL query whose every returned series is a firing instance (value > 0). */
function promRule(
  uid: string,
  title: string,
  datasourceUid: string,
  expr: string,
  options: Pick<AlertRule, 'for' | 'noDataState' | 'annotations'> & { severity: string },
): AlertRule {
  return {
    uid,
    title,
    condition: 'B',
    data: [promQuery(datasourceUid, expr, 3600), threshold('B', 'A')],
    noDataState: options.noDataState,
    execErrState: 'Error',
    for: options.for,
    labels: { severity: options.severity },
    annotations: options.annotations,
    isPaused: false,
  };
}

function deadLetterRule(queueNames: readonly string[]): AlertRule {
  const cloudwatch = {
    refId: 'A',
    relativeTimeRange: { from: 600, to: 0 },
    datasourceUid: CLOUDWATCH_UID,
    model: {
      refId: 'A',
      queryMode: 'Metrics',
      metricQueryType: 0,
      metricEditorMode: 0,
      region: 'default',
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: { QueueName: [...queueNames] },
      matchExact: true,
      statistic: 'Maximum',
      period: '60',
    },
  };
  const reduce = {
    refId: 'B',
    relativeTimeRange: { from: 0, to: 0 },
    datasourceUid: EXPRESSION_UID,
    model: {
      refId: 'B',
      type: 'reduce',
      expression: 'A',
      reducer: 'max',
      settings: { mode: 'dropNN' },
    },
  };
  return {
    uid: ALERT_RULE_UIDS.deadLetters,
    title: 'Enrollment or refresh dead-letter queue not empty',
    condition: 'C',
    data: [cloudwatch, reduce, threshold('C', 'B')],
    // SQS publishes nothing for an idle queue; a queue holding messages always reports.
    noDataState: 'OK',
    execErrState: 'Error',
    for: '1m',
    labels: { severity: 'warning' },
    annotations: {
      summary: 'Messages in dead-letter queue {{ $labels.QueueName }}',
      description:
        'An enrollment request or config change ran out of retries. Read the message (its reason is in the handler log), fix the cause, then redrive or purge the queue.',
    },
    isPaused: false,
  };
}

/** The default rules for this configuration (the stack's own rules need the collector; the dead-letter rule needs the queue names). */
export function alertRules(input: GrafanaAlertsInput): AlertRule[] {
  const { config, deploy } = input;
  const rules = [
    promRule(ALERT_RULE_UIDS.agentDown, 'Agent down', fleetMetricsUid(config), agentDownExpression(), {
      for: '10m',
      // No agent at all is no data, not an outage: a tenant may have no instances.
      noDataState: 'OK',
      severity: 'warning',
      annotations: {
        summary: 'Agent on {{ $labels.instance }} (tenant {{ $labels.tenant }}) is down',
        description:
          'The instance reported in the last hour and stopped (agent stopped, Mimir unreachable, or the instance was terminated), or its agent cannot scrape job {{ $labels.job }}. Check the Fleet overview dashboard and `systemctl status alloy` / the Alloy service.',
      },
    }),
  ];
  if (config.collector.enabled) {
    rules.push(
      promRule(ALERT_RULE_UIDS.backendNotReady, 'Backend not ready', STACK_METRICS_UID, backendNotReadyExpression(), {
        for: '5m',
        // A healthy stack returns no series; a silent collector is the expression's `absent` branch.
        noDataState: 'OK',
        severity: 'critical',
        annotations: {
          summary: 'Backend {{ $labels.job }} does not answer its metrics scrape',
          description:
            'The collector cannot scrape {{ $labels.job }} for 5 minutes. Check the ECS service (deployments, stopped tasks) and its log group; the Stack health dashboard shows the rest of the stack.',
        },
      }),
      promRule(ALERT_RULE_UIDS.ingestionErrors, 'Ingestion errors', STACK_METRICS_UID, ingestionErrorsExpression(), {
        for: '10m',
        noDataState: 'OK',
        severity: 'warning',
        annotations: {
          summary: '{{ $labels.job }} refuses data (reason {{ $labels.reason }})',
          description:
            'Samples, log lines or spans are discarded by a limit or validation error: the sender loses that data. The Stack health dashboard shows the tenant and reason.',
        },
      }),
    );
  }
  const queues = deploy.deadLetterQueueNames ?? [];
  if (queues.length > 0) rules.push(deadLetterRule(queues));
  return rules;
}

function contactPointSettings(config: LgtmConfig): { type: string; settings: Record<string, string | Scalar> } | undefined {
  const contact = config.grafana.alertContactPoint;
  // Single-quoted, the form the init container escapes the secret for.
  const secretUrl = new Scalar(ALERT_CONTACT_URL_PLACEHOLDER);
  secretUrl.type = Scalar.QUOTE_SINGLE;
  switch (contact.type) {
    case 'none':
      return undefined;
    case 'slack':
      return {
        type: 'slack',
        settings: { url: secretUrl, ...(contact.recipient ? { recipient: escapeProvisioningValue(contact.recipient) } : {}) },
      };
    case 'webhook':
      return {
        type: 'webhook',
        settings: { url: contact.url === undefined ? secretUrl : escapeProvisioningValue(contact.url), httpMethod: 'POST' },
      };
  }
}

/** The alerting provisioning file. */
export function renderGrafanaAlertFiles(input: GrafanaAlertsInput): GrafanaFile[] {
  const { config } = input;
  const doc: Record<string, unknown> = {
    apiVersion: 1,
    groups: [{ orgId: 1, name: 'lgtm-fleet', folder: GRAFANA_FOLDER, interval: '1m', rules: alertRules(input) }],
  };
  const integration = contactPointSettings(config);
  if (integration) {
    doc.contactPoints = [
      { orgId: 1, name: ALERT_CONTACT_POINT, receivers: [{ uid: ALERT_RECEIVER_UID, ...integration, disableResolveMessage: false }] },
    ];
    // The whole policy tree: every alert of this Grafana goes to the contact point, one notification per folder and rule.
    doc.policies = [{ orgId: 1, receiver: ALERT_CONTACT_POINT, group_by: ['grafana_folder', 'alertname'] }];
  }
  return [
    {
      key: 'alerting',
      tier: 'advanced',
      fileName: 'lgtm-fleet-alerts.yaml',
      content: stringify(doc, { lineWidth: 0 }),
      directory: GRAFANA_DIRECTORIES.alerting,
    },
  ];
}
