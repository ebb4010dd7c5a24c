import type { CredentialKey } from '../../lambdas/shared/contract';
import type { LgtmConfig, TenantBinding } from '../config/schema';
import { BACKENDS, serviceHost } from './catalog';

/**
 * The ingest gateway: nginx between the ingest load balancer and Mimir, Loki and Tempo. It decides
 * the tenant of every write, whatever the sender's `X-Scope-OrgID` says:
 *
 * - a sender with a write credential (`Authorization: Bearer <credential>`) writes into the
 *   credential's tenant; no credential, or an unknown (revoked) one, is refused with 401;
 * - the bound tenant replaces the sender's `X-Scope-OrgID` (overwritten, not compared: the header
 *   carries no authority, and a misconfigured sender still lands in the one tenant it may write
 *   to). The access log records both, with the sender's address (the last `X-Forwarded-For`
 *   entry, the one the load balancer appended), so a mismatch is visible.
 *
 * In `migrate` mode (a fleet moving to credentials) a write with no `Authorization` header at all
 * keeps the tenant its header names, provided it is one of the stack's tenants, and is logged with
 * `"binding":"header"`; a write with an unknown credential is still refused.
 */

/** The `service` field of every access log line, and the dimension of the gateway's CloudWatch metrics. */
export const GATEWAY_SERVICE_NAME = 'lgtm-fleet-gateway';

/** The port nginx listens on for the load balancer (writes and its health check). */
export const GATEWAY_PORT = 8080;

/** The load balancer's health check path: answered by nginx itself, no credential needed. */
export const GATEWAY_HEALTH_PATH = '/healthz';

/**
 * The two credentials of a tenant: `write` for other senders (applications, other accounts),
 * `agent` for its enrolled instances, delivered by the install command; revoking one leaves the
 * other working.
 */
export type CredentialKind = 'write' | 'agent';

export const CREDENTIAL_KINDS: readonly CredentialKind[] = ['write', 'agent'];

/**
 * Text the init container replaces, at task start, with the `kind` credential of tenant `index`:
 * the `key` of its secret's JSON value (Secrets Manager), the one in use or the one it replaced.
 */
export function credentialPlaceholder(index: number, kind: CredentialKind = 'write', key: CredentialKey = 'current'): string {
  return `__LGTM_${key === 'previous' ? 'PREVIOUS_' : ''}${kind.toUpperCase()}_CREDENTIAL_${index}__`;
}

/** Characters of a generated credential: lowercase letters and digits. */
export const CREDENTIAL_LENGTH = 64;

const REGEX_SPECIALS = [...'\\.^$*+?()[]{}|'];

/**
 * How the init container escapes a credential written in for `key`, character by character: the
 * current one sits in a quoted nginx string, the previous one in a regular expression in one. A
 * generated credential has nothing to escape; a value put by hand with other characters is kept
 * literal, so at worst it matches no sender, never more of them.
 */
export function credentialEscapes(key: CredentialKey): Readonly<Record<string, string>> {
  if (key === 'current') return { '"': '\\"', '\\': '\\\\' };
  // A regular expression's escape, \c, with its backslash doubled for the quoted string.
  return Object.fromEntries([...REGEX_SPECIALS.map((c) => [c, c === '\\' ? '\\'.repeat(4) : `\\\\${c}`]), ['"', '\\"']]);
}

/** Ingest paths, each to its backend's HTTP port. */
export const GATEWAY_ROUTES: ReadonlyArray<{ readonly paths: readonly string[]; readonly backend: 'mimir' | 'loki' | 'tempo' }> = [
  { paths: ['/api/v1/push', '/otlp/v1/metrics'], backend: 'mimir' },
  { paths: ['/loki/api/v1/push', '/otlp/v1/logs'], backend: 'loki' },
  { paths: ['/v1/traces'], backend: 'tempo' },
];

/** Where the gateway sends writes; deploy-time values, local ones in tests. */
export interface GatewayEndpoints {
  /** `host:port` of each backend's write path. */
  readonly backends: Readonly<Record<'mimir' | 'loki' | 'tempo', string>>;
  /** DNS resolver of the network (the VPC's Amazon-provided DNS). */
  readonly resolver: string;
  /** CIDRs the load balancer's requests come from (their last `X-Forwarded-For` entry is logged as the sender). */
  readonly loadBalancerCidrs: readonly string[];
}

/**
 * Text the init container replaces with the VPC's CIDR, where the load balancer's requests come
 * from: a deploy-time value, kept out of the stored file so that the file can be split into parts
 * at synth time (it grows with the tenants: four lines each).
 */
export const LOAD_BALANCER_CIDR_PLACEHOLDER = '__LGTM_LOAD_BALANCER_CIDR__';

/** The endpoints of a deployment: Cloud Map names, the VPC resolver, and the VPC's CIDR (written in at task start). */
export function deployedGatewayEndpoints(config: LgtmConfig): GatewayEndpoints {
  return {
    backends: {
      mimir: `${serviceHost(config, 'mimir')}:${BACKENDS.mimir.httpPort}`,
      loki: `${serviceHost(config, 'loki')}:${BACKENDS.loki.httpPort}`,
      tempo: `${serviceHost(config, 'tempo')}:${BACKENDS.tempo.otlpHttpPort}`,
    },
    // The Amazon-provided DNS at a fixed link-local address, reachable from every task.
    resolver: '169.254.169.253',
    loadBalancerCidrs: [LOAD_BALANCER_CIDR_PLACEHOLDER],
  };
}

const quote = (value: string) => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;

/** The tenants the gateway binds writes to, and how (`ingest.tenantBinding`, less `off`). */
export interface GatewayBinding {
  /** Each with a write and an agent credential, written in at task start (placeholders by index). */
  readonly tenants: readonly string[];
  readonly mode: Exclude<TenantBinding, 'off'>;
}

/** Where nginx keeps its files: in the task, its temp directory and the container's standard output. */
export interface GatewayFiles {
  /** Directory of the pid file and request bodies. */
  readonly tempDir: string;
  /** Where each write is logged (one JSON line). */
  readonly accessLog: string;
}

/** In the task: the temp directory is a volume of its own (lib/components/gateway.ts), the log goes to CloudWatch. */
export const GATEWAY_TASK_FILES: GatewayFiles = { tempDir: '/tmp/nginx', accessLog: '/dev/stdout' };

/** nginx.conf of the gateway: each write's tenant from its credential (or, in `migrate` mode, from the header of a write without one). */
export function renderGatewayConfig(
  binding: GatewayBinding,
  endpoints: GatewayEndpoints,
  files: GatewayFiles = GATEWAY_TASK_FILES,
): string {
  const { tempDir } = files;
  const migrate = binding.mode === 'migrate';
  const { tenants } = binding;
  const credentials = tenants.flatMap((tenant, index) =>
    CREDENTIAL_KINDS.flatMap((kind) => [
      `    ${quote(`Bearer ${credentialPlaceholder(index, kind)}`)} ${quote(tenant)};`,
      // The credential it replaced, while senders move to the new one. A regular expression that
      // matches exactly a credential-shaped value: "none" (no previous credential) matches nothing.
      `    ${quote(`~*^Bearer (?=[a-z0-9]{${CREDENTIAL_LENGTH}}$)${credentialPlaceholder(index, kind, 'previous')}$`)} ${quote(tenant)};`,
    ]),
  );
  const unbound = migrate
    ? `    # migrate: a write with no credential at all keeps its header's tenant, if it is one of the stack's.
    "" $header_tenant;
`
    : '';
  const headerTenants = migrate
    ? `
  # migrate: the tenants a write without a credential may still name in its X-Scope-OrgID, matched
  # exactly (a regular expression, as the backends compare tenant IDs with case).
  map $http_x_scope_orgid $header_tenant {
    default "";
${tenants.map((tenant) => `    ${quote(`~^${tenant.replaceAll('.', '\\.')}$`)} ${quote(tenant)};`).join('\n')}
  }
`
    : '';
  const ingestPaths = GATEWAY_ROUTES.flatMap(({ paths }) => paths);
  const locations = GATEWAY_ROUTES.flatMap(({ paths, backend }) =>
    paths.map(
      (path) => `    location = ${path} {
      if ($write_tenant = "") {
        return 401 "lgtm-fleet ingest: a write credential is required (Authorization: Bearer <credential>)\\n";
      }
      # A variable, so that the name is resolved when used (the resolver above, 10 s), not once at
      # start: backend tasks come and go with new addresses.
      set $backend "${endpoints.backends[backend]}";
      proxy_set_header X-Scope-OrgID $write_tenant;
      proxy_set_header Authorization "";
      proxy_pass http://$backend;
    }`,
    ),
  );
  return `# lgtm-fleet ingest gateway: every write lands in the tenant its sender is bound to.
worker_processes auto;
pid ${tempDir}/nginx.pid;
error_log stderr warn;

events {
  worker_connections 4096;
}

http {
  client_body_temp_path ${tempDir}/body;
  proxy_temp_path ${tempDir}/proxy;
  fastcgi_temp_path ${tempDir}/fastcgi;
  uwsgi_temp_path ${tempDir}/uwsgi;
  scgi_temp_path ${tempDir}/scgi;

  log_format ingest escape=json '{"service":"${GATEWAY_SERVICE_NAME}","time":"$time_iso8601","client":"$remote_addr","path":"$uri","status":$status,'
    '"bytes":$request_length,"bound_tenant":"$write_tenant","requested_tenant":"$http_x_scope_orgid","binding":"$binding"}';
  access_log ${files.accessLog} ingest;
  server_tokens off;
  client_max_body_size 64m;
  proxy_http_version 1.1;
  proxy_read_timeout 60s;
  resolver ${endpoints.resolver} valid=10s ipv6=off;

  # The sender, for the access log: the last X-Forwarded-For entry, the one the load balancer
  # appended; entries a sender wrote itself come before it. Only the load balancer reaches this port.
${endpoints.loadBalancerCidrs.map((cidr) => `  set_real_ip_from ${cidr};`).join('\n')}
  real_ip_header X-Forwarded-For;
  real_ip_recursive off;

  # The write and agent credentials of tenants (from Secrets Manager, written in when the task starts), each
  # with the one it replaced. Each key is "Bearer <credential>": longer than nginx's default hash bucket of
  # 64 bytes. nginx compares the exact keys regardless of case, so the previous ones too (~*).
  map_hash_bucket_size 256;
  map $http_authorization $write_tenant {
    default "";
${unbound}${credentials.join('\n')}
  }
${headerTenants}
  # How the write was bound, for the access log: "credential", or "header" (migrate) / "none" (refused) without one.
  map $http_authorization $binding {
    default "credential";
    "" ${migrate ? 'header' : 'none'};
  }

  server {
    listen ${GATEWAY_PORT};

    location = ${GATEWAY_HEALTH_PATH} {
      access_log off;
      return 200 "ok\\n";
    }

${locations.join('\n')}

    location / {
      return 404 "lgtm-fleet ingest: unknown path (use ${ingestPaths.slice(0, -1).join(', ')} or ${ingestPaths.at(-1)})\\n";
    }
  }
}
`;
}
