import { createHash } from 'node:crypto';
import { Token } from 'aws-cdk-lib/core';
import { stringify } from 'yaml';
import { type RenderInput, serviceUrl } from './catalog';

/** Grafana rejects data source UIDs longer than this. */
export const GRAFANA_UID_MAX_LENGTH = 40;

/** The header Mimir, Loki and Tempo read the tenant (or `a|b` federated tenants) from. */
export const TENANT_HEADER = 'X-Scope-OrgID';

/** Separator of cross-tenant (federated) queries, understood by Mimir, Loki and Tempo alike. */
export const FEDERATION_SEPARATOR = '|';

export type Backend = 'mimir' | 'loki' | 'tempo';

const BACKEND_LABEL: Record<Backend, string> = { mimir: 'Mimir', loki: 'Loki', tempo: 'Tempo' };

/** Grafana data source plugin per backend; Mimir is served by the Prometheus data source. */
const BACKEND_TYPE: Readonly<Record<Backend, string>> = { mimir: 'prometheus', loki: 'loki', tempo: 'tempo' };

/** UID of the Mimir data source for the meta tenant (the stack's own metrics); no tenant UID can take this form. */
export const STACK_METRICS_UID = 'lgtm-stack-metrics';

/** UID of the CloudWatch data source (Grafana's task role) behind the pipeline dashboard and the dead-letter alert. */
export const CLOUDWATCH_UID = 'lgtm-cloudwatch';

/** Display name of the CloudWatch data source. */
export const CLOUDWATCH_NAME = 'CloudWatch (lgtm-fleet)';

/** Namespace of the enrollment and refresh Lambdas' own metrics (Powertools), listed so Grafana's query editor offers it. */
export const PIPELINE_METRICS_NAMESPACE = 'LgtmFleet';

/**
 * Label under which Mimir exemplars carry the trace ID: the OpenTelemetry SDKs and Alloy write
 * `trace_id` (Tempo's own metrics-generator writes `traceID`; both are listed).
 */
export const EXEMPLAR_TRACE_ID_LABELS = ['trace_id', 'traceID'] as const;

/**
 * A trace ID in a log line: `trace_id=…`, `traceId: …`, `"traceID":"…"` and similar, followed by
 * 32 hex digits (the W3C trace-context form). One capture group, as Grafana requires.
 */
export const LOG_TRACE_ID_REGEX = '[Tt]race_?[Ii][Dd]"?\\s*[=:]\\s*"?([0-9a-fA-F]{32})';

/** Grafana's macro for the value a derived field matched: the trace ID the link opens. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana macro, not a JavaScript template
const DERIVED_FIELD_VALUE = '${__value.raw}';

/** Structured-metadata key Loki stores the trace ID of OTLP log records under. */
export const LOG_TRACE_ID_METADATA = 'trace_id';

/**
 * How a span finds its host: the agent's `otelcol.processor.resourcedetection` (ec2 detector)
 * sets `host.id` to the instance ID, which is also the `instance` label of the host's metrics
 * and the `instance_id` label of its log streams.
 */
export const SPAN_HOST_ATTRIBUTE = 'host.id';

/**
 * Trace-to-metrics queries of the per-tenant Tempo data sources: the CPU of the host a span ran
 * on, which exists without Tempo's metrics-generator. Grafana replaces `$__tags` with
 * `instance="<host.id>"`.
 */
export const TRACE_TO_METRICS_QUERIES = [
  { name: 'Host CPU busy (Linux)', query: 'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle",$__tags}[5m]))' },
  { name: 'Host CPU busy (Windows)', query: 'sum by (instance) (rate(windows_cpu_time_total{mode!="idle",$__tags}[5m]))' },
] as const;

/** Suffix of the federated data sources' UIDs; a tenant of that name gets a hashed UID instead. */
const FEDERATED_UID_SUFFIX = 'all';

/**
 * Escapes a value for a Grafana provisioning file, where `$NAME` and `${NAME}` are replaced
 * by environment variables and `$$` stands for a literal `$`.
 */
export function escapeProvisioningValue(value: string): string {
  return value.replaceAll('$', '$$$$');
}

function escapeStrings(value: unknown): unknown {
  // A CDK token (the deploy region) resolves to a plain name; escaping would break its marker.
  if (typeof value === 'string') return Token.isUnresolved(value) ? value : escapeProvisioningValue(value);
  if (Array.isArray(value)) return value.map(escapeStrings);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeStrings(v)]));
  }
  return value;
}

/**
 * Stable data source UID for a backend and tenant: `<backend>-<tenant>` when that is a valid
 * UID (letters, digits, `-`, `_`; at most 40 characters). Otherwise (a `.` in the tenant, a
 * tenant too long, or a tenant named like the federated suffix) the readable part is cleaned
 * and cut, and a short hash of the tenant keeps it unique and stable across deployments.
 */
export function tenantDataSourceUid(backend: Backend, tenant: string): string {
  const plain = `${backend}-${tenant}`;
  if (/^[A-Za-z0-9_-]+$/.test(plain) && plain.length <= GRAFANA_UID_MAX_LENGTH && tenant !== FEDERATED_UID_SUFFIX) {
    return plain;
  }
  const hash = createHash('sha256').update(tenant).digest('hex').slice(0, 8);
  const readable = plain.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, GRAFANA_UID_MAX_LENGTH - hash.length - 1);
  return `${readable}-${hash}`;
}

/** UID of the data source that queries every tenant of a backend at once. */
export function federatedDataSourceUid(backend: Backend): string {
  return `${backend}-${FEDERATED_UID_SUFFIX}`;
}

/** Display name of a backend's data source, e.g. `Mimir (aws-rag-ec2)` or `Loki (all tenants)`. */
export function dataSourceName(backend: Backend, label: string): string {
  return `${BACKEND_LABEL[backend]} (${label})`;
}

/** Label of the federated data sources in their names. */
export const FEDERATED_LABEL = 'all tenants';

/** Label of the meta tenant's data source in its name. */
export const STACK_METRICS_LABEL = 'stack self-monitoring';

interface DataSource {
  name: string;
  uid: string;
  type: string;
  access: 'proxy';
  url?: string;
  isDefault?: boolean;
  jsonData: Record<string, unknown>;
  secureJsonData?: Record<string, string>;
}

/** The UIDs one set of Mimir, Loki and Tempo data sources links between. */
type Peers = Readonly<Record<Backend, string>>;

/**
 * Correlations inside one set of data sources (a tenant's, or the federated one): log lines
 * with a trace ID open the trace; a span opens its host's logs and metrics; exemplars open
 * their trace; the service graph reads the span metrics Tempo's metrics-generator writes into
 * the same tenant (empty until that generator is enabled).
 */
function correlations(backend: Backend, peers: Peers): Record<string, unknown> {
  const window = { spanStartTimeShift: '-5m', spanEndTimeShift: '5m' };
  switch (backend) {
    case 'mimir':
      return { exemplarTraceIdDestinations: EXEMPLAR_TRACE_ID_LABELS.map((name) => ({ name, datasourceUid: peers.tempo })) };
    case 'loki':
      return {
        derivedFields: [
          { name: 'TraceID', matcherType: 'regex', matcherRegex: LOG_TRACE_ID_REGEX, url: DERIVED_FIELD_VALUE, datasourceUid: peers.tempo },
          {
            name: 'trace_id',
            matcherType: 'label',
            matcherRegex: LOG_TRACE_ID_METADATA,
            url: DERIVED_FIELD_VALUE,
            datasourceUid: peers.tempo,
          },
        ],
      };
    case 'tempo':
      return {
        tracesToLogsV2: {
          datasourceUid: peers.loki,
          ...window,
          tags: [{ key: SPAN_HOST_ATTRIBUTE, value: 'instance_id' }],
          filterByTraceID: false,
          filterBySpanID: false,
        },
        tracesToMetrics: {
          datasourceUid: peers.mimir,
          ...window,
          tags: [{ key: SPAN_HOST_ATTRIBUTE, value: 'instance' }],
          queries: TRACE_TO_METRICS_QUERIES,
        },
        serviceMap: { datasourceUid: peers.mimir },
        nodeGraph: { enabled: true },
      };
  }
}

/** One provisioning file: Grafana reads every file in the data source provisioning directory. */
export interface GrafanaProvisioningFile {
  /** Stable key, also the last segment of its Parameter Store name: `tenant-<tenant>`, `federated-<backend>` or `stack-metrics`. */
  readonly key: string;
  readonly fileName: string;
  readonly content: string;
  /**
   * Parameter Store tier of this kind of file: `advanced` for files that grow with the configuration
   * (a parameter's tier can go up, never back down).
   * @default 'standard'
   */
  readonly tier?: 'standard' | 'advanced';
}

/**
 * Grafana data source provisioning: a Mimir, Loki and Tempo data source per allowed tenant,
 * each sending its tenant in `X-Scope-OrgID` and correlated with its two peers (see
 * {@link correlations}), plus (with more than one tenant) a federated set sending every tenant
 * joined by `|` and correlated among itself, the meta tenant's Mimir data source and a
 * CloudWatch data source through Grafana's task role. One file per tenant and one per
 * federated data source, so each fits a standard Parameter Store parameter: a federated file
 * holds about 60 tenant IDs of 40 characters in 4 KB, and twice that in the advanced tier.
 * `prune` removes provisioned data sources that are no longer listed, so renamed or removed
 * tenants leave nothing behind.
 */
export function renderGrafanaDatasourceFiles(input: RenderInput): GrafanaProvisioningFile[] {
  const { config, deploy } = input;
  const tenants = config.tenants.allowed;

  /** A data source of `backend` for `orgId`, linked to `peers` (its own UID among them) when given. */
  const dataSource = (backend: Backend, label: string, uid: string, orgId: string, peers?: Peers): DataSource => ({
    name: dataSourceName(backend, label),
    uid,
    type: BACKEND_TYPE[backend],
    access: 'proxy',
    url: backend === 'mimir' ? `${serviceUrl(config, 'mimir')}/prometheus` : serviceUrl(config, backend),
    jsonData: {
      ...(backend === 'mimir' ? { prometheusType: 'Mimir' } : {}),
      httpHeaderName1: TENANT_HEADER,
      ...(peers ? correlations(backend, peers) : {}),
    },
    secureJsonData: { httpHeaderValue1: orgId },
  });
  const file = (key: string, datasources: DataSource[], tier: 'standard' | 'advanced' = 'standard'): GrafanaProvisioningFile => ({
    key,
    tier,
    fileName: `${key}.yaml`,
    content: stringify(escapeStrings({ apiVersion: 1, prune: true, datasources }), { lineWidth: 0 }),
  });

  const backends: Backend[] = ['mimir', 'loki', 'tempo'];
  const files = tenants.map((tenant, index) => {
    const peers = tenantPeers(tenant);
    const datasources = backends.map((backend) => dataSource(backend, tenant, peers[backend], tenant, peers));
    // The first tenant's metrics open by default: queries stay scoped to one tenant unless asked.
    if (index === 0) datasources[0].isDefault = true;
    return file(`tenant-${tenant}`, datasources);
  });
  if (tenants.length > 1) {
    // One file per backend: the `a|b|…` header grows with every tenant.
    const allTenants = tenants.join(FEDERATION_SEPARATOR);
    const peers = federatedPeers();
    for (const backend of backends) {
      // The header lists every tenant: the file grows with them.
      files.push(file(`federated-${backend}`, [dataSource(backend, FEDERATED_LABEL, peers[backend], allTenants, peers)], 'advanced'));
    }
  }
  if (config.collector.enabled) {
    // The collector scrapes the stack's own services into the meta tenant, outside tenants.allowed.
    // No traces or logs live there, so it links to nothing.
    files.push(file('stack-metrics', [dataSource('mimir', STACK_METRICS_LABEL, STACK_METRICS_UID, config.collector.metaTenant)]));
  }
  files.push(
    file('cloudwatch', [
      {
        name: CLOUDWATCH_NAME,
        uid: CLOUDWATCH_UID,
        type: 'cloudwatch',
        access: 'proxy',
        jsonData: { authType: 'default', defaultRegion: deploy.region, customMetricsNamespaces: PIPELINE_METRICS_NAMESPACE },
      },
    ]),
  );
  return files;
}

/** UIDs of one tenant's Mimir, Loki and Tempo data sources. */
function tenantPeers(tenant: string): Peers {
  return {
    mimir: tenantDataSourceUid('mimir', tenant),
    loki: tenantDataSourceUid('loki', tenant),
    tempo: tenantDataSourceUid('tempo', tenant),
  };
}

/** UIDs of the federated Mimir, Loki and Tempo data sources (provisioned only with more than one tenant). */
function federatedPeers(): Peers {
  return { mimir: federatedDataSourceUid('mimir'), loki: federatedDataSourceUid('loki'), tempo: federatedDataSourceUid('tempo') };
}
