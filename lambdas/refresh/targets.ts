import { isConfigPart, isJsonConfig } from '../shared/config-files';
import { isPlatform, serviceParameterName } from '../shared/contract';
import type { RefreshTarget } from '../shared/refresh-events';
import type { RefreshSettings } from './settings';

/**
 * The Parameter Store naming scheme (lambdas/shared/contract.ts), read backwards: which agents or which
 * ECS service a parameter configures.
 *   `<prefix>/agent/<tenant>/<linux|windows>` → the enrolled agents of that tenant and platform
 *   `<prefix>/config/<service>[/<file>]`      → that ECS service (Grafana has several files)
 */

/** How a config is checked before rollout. */
export type ConfigFormat = 'yaml' | 'alloy' | 'json' | 'text';

/** Services whose files are YAML (Mimir, Loki, Tempo configs; Grafana provisioning). */
const YAML_SERVICES: ReadonlySet<string> = new Set(['mimir', 'loki', 'tempo', 'grafana']);
/** Services whose file is an Alloy config (the collector). */
const ALLOY_SERVICES: ReadonlySet<string> = new Set(['collector', 'alloy']);

export type ParameterClass =
  | { readonly kind: 'config'; readonly target: RefreshTarget; readonly format: ConfigFormat }
  /** A config parameter by its name that cannot be rolled out: refused with the reason, published. */
  | { readonly kind: 'refused'; readonly reason: 'unknown-service' | 'tenant-not-allowed' | 'unknown-platform'; readonly detail: string }
  /** Not a config parameter of this project (another parameter under the prefix): ignored with a log line. */
  | { readonly kind: 'unrelated'; readonly detail: string };

export function classifyParameter(
  name: string,
  settings: Pick<RefreshSettings, 'parameterPrefix' | 'allowedTenants' | 'services'>,
): ParameterClass {
  const prefix = `${settings.parameterPrefix}/`;
  if (!name.startsWith(prefix)) return { kind: 'unrelated', detail: `not under ${prefix}` };
  const parts = name.slice(prefix.length).split('/');
  if (parts[0] === 'agent' && parts.length === 3) {
    const [, tenant, platform] = parts as [string, string, string];
    if (!isPlatform(platform)) {
      return { kind: 'refused', reason: 'unknown-platform', detail: `platform ${JSON.stringify(platform)} is neither linux nor windows` };
    }
    if (!settings.allowedTenants.has(tenant)) {
      return { kind: 'refused', reason: 'tenant-not-allowed', detail: `tenant ${JSON.stringify(tenant)} is not in the allowed list` };
    }
    return { kind: 'config', target: { kind: 'agents', tenant, platform }, format: 'alloy' };
  }
  if (parts[0] === 'config' && parts.length >= 2 && parts.every((part) => part !== '')) {
    const service = parts[1] as string;
    if (!settings.services.has(service)) {
      return { kind: 'refused', reason: 'unknown-service', detail: unknownServiceDetail(service, settings) };
    }
    return { kind: 'config', target: { kind: 'service', service }, format: serviceFormat(service) };
  }
  return { kind: 'unrelated', detail: 'not an agent or service config parameter' };
}

/** Why `service` cannot be refreshed: the function knows no ECS service by that key. */
export function unknownServiceDetail(service: string, settings: Pick<RefreshSettings, 'services'>): string {
  return `no ECS service is configured for ${JSON.stringify(service)} (known: ${[...settings.services.keys()].join(', ') || 'none'})`;
}

/**
 * The format one file of a service is checked in: JSON files (dashboards) as JSON, parts of a
 * split file only as text (a part alone parses as nothing), everything else in the service's format.
 */
export function fileFormat(parameterName: string, format: ConfigFormat): ConfigFormat {
  if (isConfigPart(parameterName)) return 'text';
  if (isJsonConfig(parameterName)) return 'json';
  return format;
}

export function serviceFormat(service: string): ConfigFormat {
  if (YAML_SERVICES.has(service)) return 'yaml';
  if (ALLOY_SERVICES.has(service)) return 'alloy';
  return 'text';
}

/** Whether `name` is one of `service`'s files: `<prefix>/config/<service>` or below it. */
export function isServiceParameter(prefix: string, service: string, name: string): boolean {
  const base = serviceParameterName(prefix, service);
  return name === base || name.startsWith(`${base}/`);
}

export function targetKey(target: RefreshTarget): string {
  return target.kind === 'agents' ? `agents:${target.tenant}/${target.platform}` : `service:${target.service}`;
}

export function describeTarget(target: RefreshTarget): string {
  return target.kind === 'agents' ? `${target.tenant}/${target.platform} agents` : `service ${target.service}`;
}
