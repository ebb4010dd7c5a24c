import { loadConfig } from '../../lib/config/load';
import {
  credentialPlaceholder,
  deployedGatewayEndpoints,
  GATEWAY_HEALTH_PATH,
  GATEWAY_PORT,
  GATEWAY_ROUTES,
  LOAD_BALANCER_CIDR_PLACEHOLDER,
  renderGatewayConfig,
} from '../../lib/render/gateway';

const config = loadConfig([{ origin: 'test', values: { network: { namespaceName: 'obs.internal' } } }]);
const endpoints = deployedGatewayEndpoints(config);

describe('the gateway config of a deployment', () => {
  test('writes go to the backends by their Cloud Map names, Tempo on its OTLP/HTTP port', () => {
    expect(endpoints.backends).toEqual({
      mimir: 'mimir.obs.internal:8080',
      loki: 'loki.obs.internal:3100',
      tempo: 'tempo.obs.internal:4318',
    });
  });

  test('backend names are resolved when used, by the VPC resolver, not once at start', () => {
    const text = renderGatewayConfig({ tenants: config.tenants.allowed, mode: 'enforce' }, endpoints);
    expect(text).toContain('set $backend "mimir.obs.internal:8080";');
    expect(text).toContain('proxy_pass http://$backend;');
    expect(text).not.toMatch(/proxy_pass http:\/\/[a-z]/);
    expect(text).toContain('resolver 169.254.169.253 valid=10s ipv6=off;');
    // The VPC's CIDR, a deploy-time value, is written in at task start (test/components/gateway.test.ts).
    expect(text).toContain(`set_real_ip_from ${LOAD_BALANCER_CIDR_PLACEHOLDER};`);
    expect(text).toContain('real_ip_recursive off;');
  });

  test('one credential placeholder per tenant, each mapped to its tenant', () => {
    const text = renderGatewayConfig({ tenants: ['team-a', 'team-b'], mode: 'enforce' }, endpoints);
    expect(text).toContain(`"Bearer ${credentialPlaceholder(0)}" "team-a";`);
    expect(text).toContain(`"Bearer ${credentialPlaceholder(1)}" "team-b";`);
    expect(text).not.toContain(credentialPlaceholder(2));
  });

  test('every ingest path refuses a write without a credential, overwrites the tenant header and drops the credential', () => {
    const text = renderGatewayConfig({ tenants: ['team-a'], mode: 'enforce' }, endpoints);
    for (const { paths } of GATEWAY_ROUTES) {
      for (const path of paths) {
        const start = text.indexOf(`location = ${path} {`);
        const block = text.slice(start, text.indexOf('proxy_pass', start));
        expect(block).toContain('if ($write_tenant = "") {');
        expect(block).toContain('return 401');
        expect(block).toContain('proxy_set_header X-Scope-OrgID $write_tenant;');
        expect(block).toContain('proxy_set_header Authorization "";');
      }
    }
    expect(text).toContain(`listen ${GATEWAY_PORT};`);
    expect(text).toContain(`location = ${GATEWAY_HEALTH_PATH} {`);
  });

  test("enforce: a write without a credential has no tenant; migrate: it keeps its header's, if it is one of the tenants", () => {
    const enforce = renderGatewayConfig({ tenants: ['team-a', 'obs.prod'], mode: 'enforce' }, endpoints);
    expect(enforce).not.toContain('$header_tenant');
    expect(enforce).toContain('"" none;');
    const migrate = renderGatewayConfig({ tenants: ['team-a', 'obs.prod'], mode: 'migrate' }, endpoints);
    expect(migrate).toContain('"" $header_tenant;');
    expect(migrate).toContain('"~^team-a$" "team-a";');
    // The dot matches itself only.
    expect(migrate).toContain('"~^obs\\\\.prod$" "obs.prod";');
    expect(migrate).toContain('"" header;');
  });
});
