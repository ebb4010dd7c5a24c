import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { type RenderInput, serviceUrl } from './catalog';

/** Grafana rejects data source UIDs longer than this. */
export const GRAFANA_UID_MAX_LENGTH = 40;

/** The header Mimir, Loki and Tempo read the tenant (or `a|b` federated tenants) from. */
export const TENANT_HEADER = 'X-Scope-OrgID';

/** Separator of cross-tenant (federated) queries, understood by Mimir, Loki and Tempo alike. */
export const FEDERATION_SEPARATOR = '|';

type Backend = 'mimir' | 'loki' | 'tempo';

const BACKEND_LABEL: Record<Backend, string> = { mimir: 'Mimir', loki: 'Loki', tempo: 'Tempo' };

/** Grafana data source plugin per backend; Mimir is served by the Prometheus data source. */
const BACKEND_TYPE: Record<Backend, string> = { mimir: 'prometheus', loki: 'loki', tempo: 'tempo' };

/** UID of the Mimir data source for the meta tenant (the stack's own metrics); no tenant UID can take this form. */
export const STACK_METRICS_UID = 'lgtm-stack-metrics';

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
  if (typeof value === 'string') return escapeProvisioningValue(value);
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

interface DataSource {
  name: string;
  uid: string;
  type: string;
  access: 'proxy';
  url: string;
  isDefault?: boolean;
  jsonData: Record<string, string>;
  secureJsonData: Record<string, string>;
}

/** One provisioning file: Grafana reads every file in the data source provisioning directory. */
export interface GrafanaProvisioningFile {
  /** Stable key, also the last segment of its Parameter Store name: `tenant-<tenant>`, `federated-<backend>` or `stack-metrics`. */
  readonly key: string;
  readonly fileName: string;
  readonly content: string;
}

/**
 * Grafana data source provisioning: a Mimir, Loki and Tempo data source per allowed tenant,
 * each sending its tenant in `X-Scope-OrgID`, plus (with more than one tenant) a federated set
 * sending every tenant joined by `|`. One file per tenant and one per federated data source,
 * so each fits a standard Parameter Store parameter: a federated file holds about 60 tenant
 * IDs of 40 characters in 4 KB, and twice that in the advanced tier. `prune`
 * removes provisioned data sources that are no longer listed, so renamed or removed tenants
 * leave nothing behind.
 */
export function renderGrafanaDatasourceFiles(input: RenderInput): GrafanaProvisioningFile[] {
  const { config } = input;
  const tenants = config.tenants.allowed;

  const dataSource = (backend: Backend, label: string, uid: string, orgId: string): DataSource => ({
    name: `${BACKEND_LABEL[backend]} (${label})`,
    uid,
    type: BACKEND_TYPE[backend],
    access: 'proxy',
    url: backend === 'mimir' ? `${serviceUrl(config, 'mimir')}/prometheus` : serviceUrl(config, backend),
    jsonData: {
      ...(backend === 'mimir' ? { prometheusType: 'Mimir' } : {}),
      httpHeaderName1: TENANT_HEADER,
    },
    secureJsonData: { httpHeaderValue1: orgId },
  });
  const file = (key: string, datasources: DataSource[]): GrafanaProvisioningFile => ({
    key,
    fileName: `${key}.yaml`,
    content: stringify(escapeStrings({ apiVersion: 1, prune: true, datasources }), { lineWidth: 0 }),
  });

  const backends: Backend[] = ['mimir', 'loki', 'tempo'];
  const files = tenants.map((tenant, index) => {
    const datasources = backends.map((backend) => dataSource(backend, tenant, tenantDataSourceUid(backend, tenant), tenant));
    // The first tenant's metrics open by default: queries stay scoped to one tenant unless asked.
    if (index === 0) datasources[0].isDefault = true;
    return file(`tenant-${tenant}`, datasources);
  });
  if (tenants.length > 1) {
    // One file per backend: the `a|b|…` header grows with every tenant.
    const allTenants = tenants.join(FEDERATION_SEPARATOR);
    for (const backend of backends) {
      files.push(file(`federated-${backend}`, [dataSource(backend, 'all tenants', federatedDataSourceUid(backend), allTenants)]));
    }
  }
  if (config.collector.enabled) {
    // The collector scrapes the stack's own services into the meta tenant, outside tenants.allowed.
    const meta = dataSource('mimir', 'stack self-monitoring', STACK_METRICS_UID, config.collector.metaTenant);
    files.push(file('stack-metrics', [meta]));
  }
  return files;
}
