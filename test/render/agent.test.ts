import { Lazy } from 'aws-cdk-lib';
import type { Platform } from '../../lambdas/shared/contract';
import { configSchema, type LgtmConfig, type LgtmConfigInput } from '../../lib/config/schema';
import {
  AGENT_CREDENTIAL_PLACEHOLDER,
  AGENT_ENV,
  AGENT_JOBS,
  AGENT_METRIC_PREFIXES,
  type AgentEndpoints,
  alloyString,
  IDENTITY_LABELS,
  LINUX_COLLECTORS,
  renderAgentConfig,
  WINDOWS_COLLECTORS,
} from '../../lib/render/agent';

import { attr, blankStrings, child, component, objectEntries, parse, structuralProblems } from './alloy-syntax';

const ingestHost = 'internal-LgtmFleet-Ingest-1A2B3C4D5E6F-1234567890.eu-west-1.elb.amazonaws.com';
const endpoints: AgentEndpoints = {
  metricsUrl: `http://${ingestHost}/api/v1/push`,
  logsUrl: `http://${ingestHost}/loki/api/v1/push`,
  tracesUrl: `http://${ingestHost}`,
};

function configWith(overrides: LgtmConfigInput = {}): LgtmConfig {
  return configSchema.parse(overrides);
}

function render(platform: Platform, options: { config?: LgtmConfig; tenant?: string; endpoints?: AgentEndpoints } = {}): string {
  return renderAgentConfig({
    config: options.config ?? configWith(),
    tenant: options.tenant ?? 'aws-rag-ec2',
    platform,
    endpoints: options.endpoints ?? endpoints,
  });
}

const platforms: Platform[] = ['linux', 'windows'];

describe('structural checker', () => {
  const valid = render('linux');

  it('accepts the default render', () => {
    expect(structuralProblems(valid)).toEqual([]);
  });

  it.each([
    ['a missing closing brace', valid.replace(/}\n$/, '\n'), /unclosed/],
    [
      'a reference to a component that does not exist',
      valid.replace('[prometheus.remote_write.mimir.receiver]', '[prometheus.remote_write.cortex.receiver]'),
      /missing component prometheus\.remote_write\.cortex/,
    ],
    [
      'a wrong export name',
      valid.replace('otelcol.processor.batch.apps.input', 'otelcol.processor.batch.apps.receiver'),
      /has no export "receiver"/,
    ],
    ['a duplicate component', `${valid}otelcol.processor.batch "apps" {\n}\n`, /duplicate component otelcol\.processor\.batch\.apps/],
    [
      'an unknown component kind',
      valid.replace('otelcol.exporter.otlphttp "tempo"', 'otelcol.exporter.otlp_http "tempo"'),
      /unknown component otelcol\.exporter\.otlp_http/,
    ],
    ['the deprecated env() function', valid.replace('coalesce(sys.env(', 'coalesce(env('), /unknown function env\(\)/],
    ['an unterminated string', valid.replace('"127.0.0.1:4317"', '"127.0.0.1:4317'), /string not terminated/],
    ['a comment', valid.replace('prometheus.scrape "host" {', '// scrape\nprometheus.scrape "host" {'), /comments|unexpected top-level/],
    [
      'an exporter nobody scrapes',
      valid.replace('prometheus.exporter.self.agent.targets', '[]'),
      /prometheus\.exporter\.self\.agent is never used/,
    ],
  ])('rejects %s', (_what, broken, problem) => {
    expect(broken).not.toBe(valid);
    expect(structuralProblems(broken).join('\n')).toMatch(problem);
  });
});

describe.each(platforms)('%s agent config', (platform) => {
  const text = render(platform);
  const nodes = parse(text);

  it('is structurally valid Alloy', () => {
    expect(structuralProblems(text)).toEqual([]);
  });

  it('fits a standard-tier parameter (4096 bytes)', () => {
    expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(4096);
  });

  it('scrapes the host exporter and Alloy itself into Mimir with the instance ID as instance', () => {
    const exporter = platform === 'linux' ? 'prometheus.exporter.unix' : 'prometheus.exporter.windows';
    component(nodes, exporter, 'host');
    component(nodes, 'prometheus.exporter.self', 'agent');
    const relabel = component(nodes, 'discovery.relabel', 'identity');
    expect(attr(relabel, 'targets')).toBe(`array.concat(${exporter}.host.targets, prometheus.exporter.self.agent.targets)`);
    const instanceRule = child(relabel, 'rule');
    expect(attr(instanceRule, 'target_label')).toBe('"instance"');
    expect(attr(instanceRule, 'replacement')).toBe(`coalesce(sys.env("${AGENT_ENV.instanceId}"), constants.hostname)`);
    const scrape = component(nodes, 'prometheus.scrape', 'host');
    expect(attr(scrape, 'targets')).toBe('discovery.relabel.identity.output');
    expect(attr(scrape, 'forward_to')).toBe('[prometheus.remote_write.mimir.receiver]');
    expect(attr(scrape, 'scrape_interval')).toBe('"60s"');
    const endpoint = child(component(nodes, 'prometheus.remote_write', 'mimir'), 'endpoint');
    expect(attr(endpoint, 'url')).toBe(alloyString(endpoints.metricsUrl));
  });

  it('ships logs to Loki', () => {
    const write = component(nodes, 'loki.write', 'loki');
    expect(attr(child(write, 'endpoint'), 'url')).toBe(alloyString(endpoints.logsUrl));
    const sources = nodes.filter((n) => n.name.startsWith('loki.source.'));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) expect(attr(source, 'forward_to')).toBe('[loki.write.loki.receiver]');
  });

  it('passes application traces from a local OTLP receiver through batching to Tempo', () => {
    const receiver = component(nodes, 'otelcol.receiver.otlp', 'apps');
    expect(attr(child(receiver, 'grpc'), 'endpoint')).toBe('"127.0.0.1:4317"');
    expect(attr(child(receiver, 'http'), 'endpoint')).toBe('"127.0.0.1:4318"');
    expect(attr(child(receiver, 'output'), 'traces')).toBe('[otelcol.processor.resourcedetection.ec2.input]');
    const detection = component(nodes, 'otelcol.processor.resourcedetection', 'ec2');
    expect(attr(detection, 'detectors')).toBe('["ec2"]');
    expect(attr(child(detection, 'output'), 'traces')).toBe('[otelcol.processor.batch.apps.input]');
    const batch = component(nodes, 'otelcol.processor.batch', 'apps');
    expect(attr(child(batch, 'output'), 'traces')).toBe('[otelcol.exporter.otlphttp.tempo.input]');
    // The exporter appends /v1/traces to the base URL itself.
    const client = child(component(nodes, 'otelcol.exporter.otlphttp', 'tempo'), 'client');
    expect(attr(client, 'endpoint')).toBe(alloyString(endpoints.tracesUrl));
  });

  it('puts the tenant on every write path, and no other tenant anywhere', () => {
    const tenant = 'team-a.prod_1';
    const config = configWith({ tenants: { allowed: ['aws-rag-ec2', tenant, 'aws-rag-cloudwatch', 'aws-rag-rds'] } });
    const out = render(platform, { config, tenant });
    const tree = parse(out);
    const mimir = child(component(tree, 'prometheus.remote_write', 'mimir'), 'endpoint');
    expect(objectEntries(attr(mimir, 'headers'))).toEqual({ 'X-Scope-OrgID': `"${tenant}"` });
    expect(attr(child(component(tree, 'loki.write', 'loki'), 'endpoint'), 'tenant_id')).toBe(`"${tenant}"`);
    const tempo = child(component(tree, 'otelcol.exporter.otlphttp', 'tempo'), 'client');
    expect(objectEntries(attr(tempo, 'headers'))).toEqual({ 'X-Scope-OrgID': `"${tenant}"` });
    // Exactly these three sinks leave the host.
    expect(tree.filter((n) => /remote_write|loki\.write|otelcol\.exporter/.test(n.name)).map((n) => n.name)).toEqual([
      'prometheus.remote_write',
      'loki.write',
      'otelcol.exporter.otlphttp',
    ]);
    expect(out).not.toContain('aws-rag-ec2');
  });

  it('labels every series and stream with the instance identity read from the environment', () => {
    for (const [name, label] of [
      ['prometheus.remote_write', 'mimir'],
      ['loki.write', 'loki'],
    ]) {
      const labels = objectEntries(attr(component(nodes, name, label), 'external_labels'));
      expect(labels).toEqual({
        tenant: '"aws-rag-ec2"',
        instance_id: `sys.env("${AGENT_ENV.instanceId}")`,
        availability_zone: `sys.env("${AGENT_ENV.availabilityZone}")`,
        region: `sys.env("${AGENT_ENV.region}")`,
        instance_type: `sys.env("${AGENT_ENV.instanceType}")`,
        hostname: `sys.env("${AGENT_ENV.hostname}")`,
        config_version: `sys.env("${AGENT_ENV.configVersion}")`,
      });
      expect(Object.keys(labels).sort()).toEqual(Object.keys(IDENTITY_LABELS).sort());
    }
  });

  it('contains no comments and uses only sys.env for the environment', () => {
    const code = blankStrings(text).code;
    expect(code).not.toMatch(/\/\/|\/\*|#/);
    expect(code).not.toMatch(/(^|[^.a-z_])env\(/);
  });

  it('uses only its own platform components', () => {
    const foreign = platform === 'linux' ? /windows/ : /unix|journal/;
    expect(nodes.map((n) => n.name).filter((name) => foreign.test(name))).toEqual([]);
  });
});

describe.each(platforms)('%s agent config with ingest.tenantBinding (the default)', (platform) => {
  const config = configWith({});
  const text = render(platform, { config });
  const nodes = parse(text);
  const token = alloyString(AGENT_CREDENTIAL_PLACEHOLDER);

  it('is structurally valid Alloy', () => {
    expect(structuralProblems(text)).toEqual([]);
  });

  it('sends the agent credential placeholder as the bearer token of every write', () => {
    expect(attr(child(component(nodes, 'prometheus.remote_write', 'mimir'), 'endpoint'), 'bearer_token')).toBe(token);
    expect(attr(child(component(nodes, 'loki.write', 'loki'), 'endpoint'), 'bearer_token')).toBe(token);
    expect(attr(component(nodes, 'otelcol.auth.bearer', 'gateway'), 'token')).toBe(token);
    const client = child(component(nodes, 'otelcol.exporter.otlphttp', 'tempo'), 'client');
    expect(attr(client, 'auth')).toBe('otelcol.auth.bearer.gateway.handler');
    // Each writer once, and nowhere else.
    expect(text.split(AGENT_CREDENTIAL_PLACEHOLDER)).toHaveLength(4);
  });

  it('keeps everything else of the config as it is without the gateway', () => {
    const without = render(platform, { config: configWith({ ingest: { tenantBinding: 'off' } }) });
    const stripped = text
      .split('\n')
      .filter((line) => !/bearer_token|\bauth +=/.test(line))
      .join('\n')
      .replace(/otelcol\.auth\.bearer "gateway" \{\n\ttoken = "[^"]*"\n\}\n\n/, '');
    expect(stripped.replace(/ +=/g, ' =')).toBe(without.replace(/ +=/g, ' ='));
  });
});

describe("ingest.tenantBinding 'off'", () => {
  it.each(platforms)('%s: no credential, placeholder or auth extension', (platform) => {
    const text = render(platform, { config: configWith({ ingest: { tenantBinding: 'off' } }) });
    expect(text).not.toContain(AGENT_CREDENTIAL_PLACEHOLDER);
    expect(text).not.toMatch(/bearer|auth/);
  });
});

describe('linux specifics', () => {
  const nodes = parse(render('linux'));

  it('maps journald fields to unit, priority and hostname labels', () => {
    const relabel = component(nodes, 'loki.relabel', 'journal');
    const renames = relabel.blocks
      .filter((rule) => rule.attrs.has('source_labels'))
      .map((rule) => [attr(rule, 'source_labels'), attr(rule, 'target_label')]);
    expect(renames).toEqual([
      ['["__journal__systemd_unit"]', '"unit"'],
      ['["__journal_priority_keyword"]', '"priority"'],
      ['["__journal__hostname"]', '"hostname"'],
    ]);
    const job = relabel.blocks.find((rule) => attr(rule, 'target_label') === '"job"');
    expect(job && attr(job, 'replacement')).toBe(`"${AGENT_JOBS.journal}"`);
    const journal = component(nodes, 'loki.source.journal', 'system');
    expect(attr(journal, 'relabel_rules')).toBe('loki.relabel.journal.rules');
    expect(attr(journal, 'max_age')).toBe('"12h"');
  });

  it('keeps the node_exporter collector list small', () => {
    const collectors = attr(component(nodes, 'prometheus.exporter.unix', 'host'), 'set_collectors');
    expect(collectors).toBe(`[${LINUX_COLLECTORS.map((c) => `"${c}"`).join(', ')}]`);
    for (const expensive of ['systemd', 'netclass', 'interrupts', 'processes', 'tcpstat']) {
      expect(LINUX_COLLECTORS as readonly string[]).not.toContain(expensive);
    }
  });
});

describe('windows specifics', () => {
  const channelsOf = (text: string) =>
    parse(text)
      .filter((n) => n.name === 'loki.source.windowsevent')
      .map((n) => attr(n, 'eventlog_name'));

  it('reads the Application and System event logs with their own timestamps', () => {
    const nodes = parse(render('windows'));
    expect(channelsOf(render('windows'))).toEqual(['"Application"', '"System"']);
    for (const source of nodes.filter((n) => n.name === 'loki.source.windowsevent')) {
      expect(attr(source, 'use_incoming_timestamp')).toBe('true');
      expect(objectEntries(attr(source, 'labels'))).toEqual({ job: `"${AGENT_JOBS.eventlog}"` });
      // The default bookmark lives in the component's own data directory, so it survives restarts.
      expect(source.attrs.has('bookmark_path')).toBe(false);
    }
  });

  it('adds the Security event log only when agent.windowsSecurityLog is set', () => {
    expect(channelsOf(render('windows'))).not.toContain('"Security"');
    const text = render('windows', { config: configWith({ agent: { windowsSecurityLog: true } }) });
    expect(channelsOf(text)).toEqual(['"Application"', '"System"', '"Security"']);
    expect(structuralProblems(text)).toEqual([]);
    expect(render('linux', { config: configWith({ agent: { windowsSecurityLog: true } }) })).not.toContain('Security');
  });

  it('enables the chosen windows_exporter collectors', () => {
    const exporter = component(parse(render('windows')), 'prometheus.exporter.windows', 'host');
    expect(attr(exporter, 'enabled_collectors')).toBe(`[${WINDOWS_COLLECTORS.map((c) => `"${c}"`).join(', ')}]`);
  });
});

describe('agent settings', () => {
  it('binds the OTLP receiver where agent settings say', () => {
    const config = configWith({ agent: { otlpListenAddress: '0.0.0.0', otlpGrpcPort: 14317, otlpHttpPort: 14318 } });
    for (const platform of platforms) {
      const receiver = component(parse(render(platform, { config })), 'otelcol.receiver.otlp', 'apps');
      expect(attr(child(receiver, 'grpc'), 'endpoint')).toBe('"0.0.0.0:14317"');
      expect(attr(child(receiver, 'http'), 'endpoint')).toBe('"0.0.0.0:14318"');
    }
  });

  it('scrapes at the configured interval', () => {
    const scrape = component(
      parse(render('linux', { config: configWith({ agent: { scrapeInterval: '30s' } }) })),
      'prometheus.scrape',
      'host',
    );
    expect(attr(scrape, 'scrape_interval')).toBe('"30s"');
  });

  it('has defaults', () => {
    expect(configWith().agent).toEqual({
      alloyVersion: '1.21.2',
      scrapeInterval: '60s',
      otlpListenAddress: '127.0.0.1',
      otlpGrpcPort: 4317,
      otlpHttpPort: 4318,
      windowsSecurityLog: false,
    });
  });

  it.each([
    [{ scrapeInterval: '5s' }, /10s-5m/],
    [{ scrapeInterval: '10m' }, /10s-5m/],
    [{ scrapeInterval: '1h30m' }, /whole number of seconds or minutes/],
    [{ otlpListenAddress: 'localhost' }, /IPv4 address/],
    [{ otlpListenAddress: '256.0.0.1' }, /IPv4 address/],
    [{ otlpGrpcPort: 443 }, /below 1024/],
    [{ otlpGrpcPort: 4318 }, /must differ from otlpGrpcPort/],
    [{ otlpHttpPort: 12345 }, /Alloy's own HTTP server/],
    [{ alloyVersion: 'latest' }, /exact Alloy release/],
    [{ windowsSecurityLogs: true }, /windowsSecurityLogs/],
  ])('rejects agent %j', (agent, message) => {
    const result = configSchema.safeParse({ agent });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('\n')).toMatch(message);
  });

  it.each(['10s', '1m', '5m', '300s'])('accepts scrape interval %s', (scrapeInterval) => {
    expect(configSchema.safeParse({ agent: { scrapeInterval } }).success).toBe(true);
  });
});

describe('input handling', () => {
  it('emits CDK tokens in the endpoints verbatim', () => {
    const dns = Lazy.string({ produce: () => ingestHost });
    const tokenEndpoints = {
      metricsUrl: `http://${dns}/api/v1/push`,
      logsUrl: `http://${dns}/loki/api/v1/push`,
      tracesUrl: `http://${dns}`,
    };
    const text = render('linux', { endpoints: tokenEndpoints });
    expect(dns).toMatch(/^\$\{Token\[/);
    expect(text).toContain(`= "http://${dns}/api/v1/push"`);
    expect(text).toContain(`= "http://${dns}/loki/api/v1/push"`);
    expect(text).toContain(`endpoint = "http://${dns}"`);
    expect(structuralProblems(text)).toEqual([]);
  });

  it('escapes quotes and backslashes in strings', () => {
    expect(alloyString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(() => alloyString('a\u0000b')).toThrow(/control character 0x0/);
    const text = render('windows', { endpoints: { ...endpoints, metricsUrl: 'http://host/a"b\\c' } });
    expect(text).toMatch(/\turl +=/);
    expect(text).toContain('= "http://host/a\\"b\\\\c"');
    expect(structuralProblems(text)).toEqual([]);
  });

  it('refuses a tenant outside tenants.allowed or not a valid tenant ID', () => {
    expect(() => render('linux', { tenant: 'someone-else' })).toThrow(/"someone-else" is not in tenants\.allowed/);
    expect(() => render('linux', { tenant: 'a"b' })).toThrow(/invalid agent tenant/);
  });

  it('refuses an endpoint that is not an http(s) URL', () => {
    expect(() => render('linux', { endpoints: { ...endpoints, logsUrl: 'loki:3100' } })).toThrow(
      /logsUrl must be an http\(s\) URL, got "loki:3100"/,
    );
  });
});

describe('size', () => {
  it.each([false, true])(
    'stays within 4096 bytes in the worst case: longest tenant, Security log, longest ALB name (tenantBinding %s)',
    (tenantBinding) => {
      const tenant = `t${'x'.repeat(127)}`;
      const config = configWith({
        ingest: { tenantBinding },
        tenants: { allowed: ['aws-rag-ec2', 'aws-rag-cloudwatch', 'aws-rag-rds', tenant] },
        agent: { windowsSecurityLog: true, otlpListenAddress: '255.255.255.255', otlpGrpcPort: 65534, otlpHttpPort: 65535 },
      });
      // internal- + 32-character load balancer name + -<10 digits>.<longest region>.elb.amazonaws.com
      const host = `internal-${'a'.repeat(32)}-1234567890.ap-southeast-5.elb.amazonaws.com`;
      const longEndpoints = {
        metricsUrl: `http://${host}/api/v1/push`,
        logsUrl: `http://${host}/loki/api/v1/push`,
        tracesUrl: `http://${host}`,
      };
      for (const platform of platforms) {
        const text = render(platform, { config, tenant, endpoints: longEndpoints });
        expect(structuralProblems(text)).toEqual([]);
        expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(4096);
      }
    },
  );
});

describe('exports for dashboards', () => {
  it('names the metric prefixes each platform produces', () => {
    expect(AGENT_METRIC_PREFIXES).toEqual({ linux: ['node_', 'alloy_'], windows: ['windows_', 'alloy_'] });
  });
});
