import { loadConfig } from '../../lib/config/load';
import {
  BINDINGS_PREFIX,
  credentialPlaceholder,
  deployedGatewayEndpoints,
  GATEWAY_HEALTH_PATH,
  GATEWAY_PORT,
  GATEWAY_ROUTES,
  renderGatewayConfig,
} from '../../lib/render/gateway';

const config = loadConfig([{ origin: 'test', values: { network: { namespaceName: 'obs.internal' } } }]);
const endpoints = deployedGatewayEndpoints(config, {
  bucketName: 'lgtm-data-1234',
  region: 'eu-west-1',
  urlSuffix: 'amazonaws.com',
  vpcCidr: '10.40.0.0/16',
});

describe('the gateway config of a deployment', () => {
  test('writes go to the backends by their Cloud Map names, Tempo on its OTLP/HTTP port', () => {
    expect(endpoints.backends).toEqual({
      mimir: 'mimir.obs.internal:8080',
      loki: 'loki.obs.internal:3100',
      tempo: 'tempo.obs.internal:4318',
    });
  });

  test('bindings are looked up in the bucket through its regional endpoint, names resolved by the VPC resolver', () => {
    const text = renderGatewayConfig(config.tenants.allowed, endpoints);
    expect(text).toContain(`proxy_pass http://lgtm-data-1234.s3.eu-west-1.amazonaws.com/${BINDINGS_PREFIX}/$remote_addr;`);
    expect(text).toContain('resolver 169.254.169.253 valid=10s ipv6=off;');
    expect(text).toContain('set_real_ip_from 10.40.0.0/16;');
    expect(text).toContain('real_ip_recursive off;');
  });

  test('one credential placeholder per tenant, each mapped to its tenant', () => {
    const text = renderGatewayConfig(['team-a', 'team-b'], endpoints);
    expect(text).toContain(`"Bearer ${credentialPlaceholder(0)}" "team-a";`);
    expect(text).toContain(`"Bearer ${credentialPlaceholder(1)}" "team-b";`);
    expect(text).not.toContain(credentialPlaceholder(2));
  });

  test('every ingest path overwrites the tenant header and drops the credential before the backend', () => {
    const text = renderGatewayConfig(['team-a'], endpoints);
    for (const { paths } of GATEWAY_ROUTES) {
      for (const path of paths) {
        const block = text.slice(text.indexOf(`location = ${path} {`), text.indexOf('}', text.indexOf(`location = ${path} {`)));
        expect(block).toContain('auth_request /_auth;');
        expect(block).toContain('proxy_set_header X-Scope-OrgID $bound_tenant;');
        expect(block).toContain('proxy_set_header Authorization "";');
      }
    }
    expect(text).toContain(`listen ${GATEWAY_PORT};`);
    expect(text).toContain(`location = ${GATEWAY_HEALTH_PATH} {`);
  });
});
