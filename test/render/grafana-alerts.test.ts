import { Lazy } from 'aws-cdk-lib';
import { parse as parseYaml } from 'yaml';
import { ConfigError, loadConfig } from '../../lib/config/load';
import { AGENT_JOBS } from '../../lib/render/agent';
import { SELF_MONITORED } from '../../lib/render/collector';
import { CLOUDWATCH_UID, renderGrafanaDatasourceFiles } from '../../lib/render/grafana';
import {
  AGENT_METRIC_JOBS,
  ALERT_CONTACT_POINT,
  ALERT_CONTACT_URL_PLACEHOLDER,
  ALERT_RULE_UIDS,
  alertContactUrlSecret,
  type GrafanaAlertsInput,
  renderGrafanaAlertFiles,
} from '../../lib/render/grafana-alerts';
import { AGENT_SELF_METRICS, GRAFANA_DIRECTORIES, GRAFANA_FOLDER, STACK_METRICS } from '../../lib/render/grafana-dashboards';
import { matcherValues, promqlSelectors, syntaxProblems } from './grafana-queries';

const DEPLOY = {
  region: 'eu-west-1',
  bucketName: 'lgtmfleet-databucket-1a2b3c4d5e6f-123456789012',
  urlSuffix: 'amazonaws.com',
  availabilityZones: 2,
};
const QUEUES = ['LgtmFleet-EnrollmentDeadLetterQueue3F5B1E2A-AbCdEf123456', 'LgtmFleet-RefreshDeadLetterQueueB3C2D1A0-XyZ987654321'];
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lgtm/alert-webhook-AbCdEf';

interface Query {
  refId: string;
  datasourceUid: string;
  relativeTimeRange: { from: number; to: number };
  model: Record<string, unknown>;
}

interface Rule {
  uid: string;
  title: string;
  condition: string;
  data: Query[];
  for: string;
  noDataState: string;
  execErrState: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface AlertingDoc {
  apiVersion: number;
  groups: Array<{ orgId: number; name: string; folder: string; interval: string; rules: Rule[] }>;
  contactPoints?: Array<{ orgId: number; name: string; receivers: Array<{ uid: string; type: string; settings: Record<string, string> }> }>;
  policies?: Array<{ orgId: number; receiver: string; group_by: string[] }>;
}

/** `null` stands for no queue names at all (a default parameter would replace `undefined`). */
function alertInput(values: Record<string, unknown> = {}, queues: readonly string[] | null = QUEUES): GrafanaAlertsInput {
  return { config: loadConfig([{ origin: 'test', values }]), deploy: { ...DEPLOY, deadLetterQueueNames: queues ?? undefined } };
}

function render(values: Record<string, unknown> = {}, queues: readonly string[] | null = QUEUES) {
  const files = renderGrafanaAlertFiles(alertInput(values, queues));
  expect(files).toHaveLength(1);
  const doc = parseYaml(files[0].content) as AlertingDoc;
  const rules = doc.groups.flatMap((g) => g.rules);
  return { file: files[0], doc, rules, byUid: new Map(rules.map((r) => [r.uid, r])) };
}

function rule(rules: Map<string, Rule>, uid: string): Rule {
  const found = rules.get(uid);
  if (!found) throw new Error(`no rule ${uid}`);
  return found;
}

const promql = (r: Rule): string[] => r.data.flatMap((q) => (typeof q.model.expr === 'string' ? [q.model.expr] : []));

describe('alert rules', () => {
  const { file, doc, rules, byUid } = render();

  test('one provisioning file, in the alerting directory, with one rule group in the lgtm-fleet folder', () => {
    expect(file).toMatchObject({ key: 'alerting', fileName: 'lgtm-fleet-alerts.yaml', directory: GRAFANA_DIRECTORIES.alerting });
    expect(GRAFANA_DIRECTORIES.alerting).toBe('/etc/grafana/provisioning/alerting');
    expect(doc.apiVersion).toBe(1);
    expect(doc.groups).toEqual([expect.objectContaining({ orgId: 1, name: 'lgtm-fleet', folder: GRAFANA_FOLDER, interval: '1m' })]);
  });

  test('the default set: agent down, backend not ready, ingestion errors, dead letters, each with a stable UID and a title', () => {
    expect(rules.map((r) => r.uid)).toEqual([
      ALERT_RULE_UIDS.agentDown,
      ALERT_RULE_UIDS.backendNotReady,
      ALERT_RULE_UIDS.ingestionErrors,
      ALERT_RULE_UIDS.deadLetters,
    ]);
    for (const r of rules) {
      expect(r.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
      expect(r.title).not.toBe('');
      expect(r.annotations.summary).toBeDefined();
      expect(['warning', 'critical']).toContain(r.labels.severity);
      expect(r.execErrState).toBe('Error');
    }
  });

  test('every rule condition names one of its queries, and expressions read only queries defined before them', () => {
    for (const r of rules) {
      const refIds = r.data.map((q) => q.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
      expect(refIds).toContain(r.condition);
      r.data.forEach((q, i) => {
        if (q.datasourceUid === '__expr__') expect(refIds.slice(0, i)).toContain(q.model.expression);
        expect(q.model.refId).toBe(q.refId);
      });
    }
  });

  test('every query runs on a provisioned data source, or is a server-side expression', () => {
    const provisioned = new Set(
      renderGrafanaDatasourceFiles(alertInput())
        .flatMap((f) => (parseYaml(f.content) as { datasources: Array<{ uid: string }> }).datasources)
        .map((ds) => ds.uid),
    );
    for (const r of rules)
      for (const q of r.data)
        expect([r.uid, q.datasourceUid, q.datasourceUid === '__expr__' || provisioned.has(q.datasourceUid)]).toEqual([
          r.uid,
          q.datasourceUid,
          true,
        ]);
  });

  test('every PromQL expression parses with the Lezer grammar', () => {
    const expressions = rules.flatMap(promql);
    expect(expressions).toHaveLength(3);
    for (const expr of expressions) expect([expr, syntaxProblems('promql', expr)]).toEqual([expr, []]);
  });

  test('the check fails on a broken expression', () => {
    expect(syntaxProblems('promql', promql(rule(byUid, ALERT_RULE_UIDS.agentDown))[0].replace('unless on', 'unless by'))).not.toEqual([]);
  });

  test('agent down: the agent jobs of the rendered agent config, on the federated data source, over 10 minutes', () => {
    const r = rule(byUid, ALERT_RULE_UIDS.agentDown);
    expect(r.data[0].datasourceUid).toBe('mimir-all');
    expect(r.for).toBe('10m');
    expect(r.noDataState).toBe('OK');
    const selectors = promql(r).flatMap(promqlSelectors);
    expect(new Set(selectors.map((s) => s.metric))).toEqual(new Set(['up']));
    const jobs = new Set(selectors.flatMap((s) => s.matchers.filter((m) => m.label === 'job').flatMap(matcherValues)));
    expect(jobs).toEqual(new Set([AGENT_JOBS.linuxHost, AGENT_JOBS.windowsHost, AGENT_JOBS.agent]));
    expect(AGENT_METRIC_JOBS).toEqual([AGENT_JOBS.linuxHost, AGENT_JOBS.windowsHost, AGENT_JOBS.agent]);
    // Grouped by tenant, so each firing alert names its tenant.
    expect(promql(r)[0]).toMatch(/group by \(tenant, instance\)/);
  });

  test('no rule alerts on no data: each query returns series only for what is broken', () => {
    expect(rules.length).toBeGreaterThanOrEqual(3);
    for (const r of rules) expect([r.uid, r.noDataState]).toEqual([r.uid, 'OK']);
  });

  test('agent down with one tenant queries that tenant, there being no federated data source', () => {
    const solo = render({ tenants: { allowed: ['solo'], ec2Default: 'solo', cloudwatchMetrics: 'solo', cloudwatchLogs: 'solo' } });
    expect(rule(solo.byUid, ALERT_RULE_UIDS.agentDown).data[0].datasourceUid).toBe('mimir-solo');
  });

  test('backend not ready and ingestion errors query the meta tenant for the self-monitored jobs and curated metrics', () => {
    const notReady = rule(byUid, ALERT_RULE_UIDS.backendNotReady);
    const errors = rule(byUid, ALERT_RULE_UIDS.ingestionErrors);
    for (const r of [notReady, errors]) expect(r.data[0].datasourceUid).toBe('lgtm-stack-metrics');
    // Healthy means no series: "no data" must not fire. A silent collector is caught by `absent`.
    expect(notReady.noDataState).toBe('OK');
    expect(promql(notReady)[0]).toMatch(/ or absent\(up\{job=~"mimir\|loki\|tempo\|grafana"\}\)$/);
    const notReadySelectors = promql(notReady).flatMap(promqlSelectors);
    expect(new Set(notReadySelectors.flatMap((s) => s.matchers.filter((m) => m.label === 'job').flatMap(matcherValues)))).toEqual(
      new Set(SELF_MONITORED),
    );
    const curated = new Set<string>([...Object.values(STACK_METRICS).flat(), ...AGENT_SELF_METRICS]);
    for (const r of [notReady, errors]) {
      for (const selector of promql(r).flatMap(promqlSelectors))
        expect([selector.metric, curated.has(selector.metric ?? '')]).toEqual([selector.metric, true]);
    }
    expect(
      new Set(
        promql(errors)
          .flatMap(promqlSelectors)
          .map((s) => s.metric),
      ),
    ).toEqual(new Set(['cortex_discarded_samples_total', 'loki_discarded_samples_total', 'tempo_discarded_spans_total']));
  });

  test('without the collector there is no meta tenant: only the agent and dead-letter rules remain', () => {
    expect(render({ collector: { enabled: false } }).rules.map((r) => r.uid)).toEqual([
      ALERT_RULE_UIDS.agentDown,
      ALERT_RULE_UIDS.deadLetters,
    ]);
  });

  test('dead letters: the maximum of ApproximateNumberOfMessagesVisible of exactly the given queues, above 0', () => {
    const r = rule(byUid, ALERT_RULE_UIDS.deadLetters);
    const [query, reduce, threshold] = r.data;
    expect(query.datasourceUid).toBe(CLOUDWATCH_UID);
    expect(query.model).toMatchObject({
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: { QueueName: QUEUES },
      matchExact: true,
      statistic: 'Maximum',
      region: 'default',
    });
    expect(reduce.model).toMatchObject({ type: 'reduce', expression: 'A', reducer: 'max' });
    expect(threshold.model).toMatchObject({ type: 'threshold', expression: 'B', conditions: [{ evaluator: { type: 'gt', params: [0] } }] });
    expect(r.condition).toBe('C');
  });

  test('dead letters: no rule without queue names; CDK tokens pass through unescaped', () => {
    expect(render({}, null).byUid.has(ALERT_RULE_UIDS.deadLetters)).toBe(false);
    expect(render({}, []).byUid.has(ALERT_RULE_UIDS.deadLetters)).toBe(false);
    const token = Lazy.string({ produce: () => 'resolved-at-deploy' });
    const content = renderGrafanaAlertFiles(alertInput({}, [token]))[0].content;
    expect(content).toContain(token);
    expect(content).not.toContain(`$${token}`);
  });

  test('no $ where Grafana would expand it: only annotation templates use $', () => {
    for (const r of rules) {
      expect([r.uid, JSON.stringify({ ...r, annotations: undefined })]).toEqual([r.uid, expect.not.stringContaining('$')]);
      for (const value of Object.values(r.annotations)) expect(value.replaceAll(/\{\{ \$labels\.[a-zA-Z_]+ \}\}/g, '')).not.toContain('$');
    }
    expect(file.content).not.toContain('${');
  });

  test('fits one advanced Parameter Store parameter with a contact point and long queue names', () => {
    const long = ['x'.repeat(80), 'y'.repeat(80)];
    const content = renderGrafanaAlertFiles(
      alertInput({ grafana: { alertContactPoint: { type: 'slack', urlSecretArn: SECRET_ARN, recipient: '#ops' } } }, long),
    )[0].content;
    expect(Buffer.byteLength(content)).toBeLessThanOrEqual(8192);
  });
});

describe('contact point', () => {
  test('none (the default): rules only, no contact point and the notification policy left as it is', () => {
    const { doc } = render();
    expect(loadConfig([]).grafana.alertContactPoint).toEqual({ type: 'none' });
    expect(doc.contactPoints).toBeUndefined();
    expect(doc.policies).toBeUndefined();
    expect(alertContactUrlSecret(loadConfig([]))).toBeUndefined();
  });

  test('slack: the webhook URL comes from a secret, written in by the init container; every alert routes to it', () => {
    const values = { grafana: { alertContactPoint: { type: 'slack', urlSecretArn: SECRET_ARN, recipient: '#ops' } } };
    const { doc, file } = render(values);
    expect(doc.contactPoints).toEqual([
      {
        orgId: 1,
        name: ALERT_CONTACT_POINT,
        receivers: [
          expect.objectContaining({
            uid: 'lgtm-fleet-contact',
            type: 'slack',
            settings: { url: ALERT_CONTACT_URL_PLACEHOLDER, recipient: '#ops' },
          }),
        ],
      },
    ]);
    expect(doc.policies).toEqual([{ orgId: 1, receiver: ALERT_CONTACT_POINT, group_by: ['grafana_folder', 'alertname'] }]);
    expect(file.content).not.toContain(SECRET_ARN);
    expect(alertContactUrlSecret(alertInput(values).config)).toEqual({ placeholder: ALERT_CONTACT_URL_PLACEHOLDER, secretArn: SECRET_ARN });
    // Single-quoted: the form the init container escapes the secret for; no `${…}` reference for Grafana to expand twice.
    expect(file.content).toContain(`url: '${ALERT_CONTACT_URL_PLACEHOLDER}'`);
    expect(file.content).not.toContain('${');
  });

  test('webhook: a plain URL is written as is ($ escaped for provisioning), a secret one by the init container', () => {
    const plain = render({ grafana: { alertContactPoint: { type: 'webhook', url: 'https://hooks.example.com/a$b' } } });
    expect(plain.doc.contactPoints?.[0].receivers[0]).toMatchObject({
      type: 'webhook',
      settings: { url: 'https://hooks.example.com/a$$b', httpMethod: 'POST' },
    });
    expect(
      alertContactUrlSecret(alertInput({ grafana: { alertContactPoint: { type: 'webhook', url: 'https://hooks.example.com/x' } } }).config),
    ).toBeUndefined();
    const secret = render({ grafana: { alertContactPoint: { type: 'webhook', urlSecretArn: SECRET_ARN } } });
    expect(secret.doc.contactPoints?.[0].receivers[0].settings.url).toBe(ALERT_CONTACT_URL_PLACEHOLDER);
    expect(secret.doc.policies?.[0].receiver).toBe(ALERT_CONTACT_POINT);
  });

  test.each([
    [{ type: 'email', addresses: ['a@example.com'] }, /grafana\.alertContactPoint\.type/],
    [{ type: 'slack' }, /grafana\.alertContactPoint\.urlSecretArn/],
    [{ type: 'slack', urlSecretArn: 'arn:aws:ssm:eu-west-1:123456789012:parameter/x' }, /not a Secrets Manager secret ARN/],
    [{ type: 'webhook' }, /set exactly one of url and urlSecretArn/],
    [{ type: 'webhook', url: 'https://a.example.com', urlSecretArn: SECRET_ARN }, /set exactly one of url and urlSecretArn/],
    [{ type: 'webhook', url: 'ftp://a.example.com' }, /an http\(s\) URL/],
    [{ type: 'none', url: 'https://a.example.com' }, /url/],
  ])('refuses %j', (alertContactPoint, message) => {
    expect(() => loadConfig([{ origin: 'test', values: { grafana: { alertContactPoint } } }])).toThrow(ConfigError);
    expect(() => loadConfig([{ origin: 'test', values: { grafana: { alertContactPoint } } }])).toThrow(message);
  });
});
