import { ConfigError, loadConfig } from '../../lib/config/load';
import {
  CLOUDWATCH_STATISTIC_PATTERN,
  COLLECTOR_NAMESPACES,
  DEFAULT_COLLECTOR_NAMESPACES,
  LOG_GROUP_NAME_PATTERN,
} from '../../lib/config/schema';

function problemsOf(values: unknown): string[] {
  try {
    loadConfig([{ origin: 'test.json', values }]);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
}

const rds = (metrics: unknown[], extra: Record<string, unknown> = {}) => ({ namespace: 'AWS/RDS', metrics, ...extra });
const cpu = (extra: Record<string, unknown> = {}) => ({ name: 'CPUUtilization', statistics: ['Average'], ...extra });
const collector = (values: Record<string, unknown>) => ({ collector: values });

describe('collector defaults', () => {
  const config = loadConfig([]);

  it('scrape the four namespaces every 5 minutes into the CloudWatch tenant, RDS logs by prefix, and the stack into lgtm-meta', () => {
    expect(config.collector.enabled).toBe(true);
    expect(config.collector.scrapeInterval).toBe('5m');
    expect(config.collector.regions).toEqual([]);
    expect([...new Set(config.collector.namespaces.map((j) => j.namespace))]).toEqual([...COLLECTOR_NAMESPACES]);
    expect(config.collector.namespaces).toEqual(DEFAULT_COLLECTOR_NAMESPACES);
    expect(config.collector.logs).toEqual({
      logGroupNames: [],
      logGroupPrefixes: ['/aws/rds/'],
      maxGroupsPerPrefix: 50,
      pollInterval: '1m',
      lookbackHours: 24,
    });
    expect(config.collector.metaTenant).toBe('lgtm-meta');
    expect(config.tenants.allowed).not.toContain(config.collector.metaTenant);
  });

  it('are cost-lean: 5-minute periods, one or two statistics, a dimension set on every job', () => {
    for (const job of config.collector.namespaces) {
      expect(job.dimensions.length).toBeGreaterThan(0);
      for (const metric of job.metrics) {
        expect(metric.periodSeconds).toBe(300);
        expect(metric.statistics.length).toBeGreaterThanOrEqual(1);
        expect(metric.statistics.length).toBeLessThanOrEqual(2);
      }
    }
  });

  it('are not shared between two loads (a caller mutating one config cannot change the next)', () => {
    const first = loadConfig([]);
    first.collector.namespaces[0].metrics.pop();
    expect(loadConfig([]).collector.namespaces[0].metrics).toHaveLength(8);
  });

  it('fill in a job given by its namespace and metric names only', () => {
    const job = loadConfig([{ origin: 'x', values: collector({ namespaces: [rds([{ name: 'CPUUtilization', statistics: ['p99'] }])] }) }])
      .collector.namespaces[0];
    expect(job).toEqual({
      namespace: 'AWS/RDS',
      dimensions: [],
      tagFilters: {},
      metrics: [{ name: 'CPUUtilization', statistics: ['p99'], periodSeconds: 300 }],
    });
  });
});

describe('rejected collector settings name the field and the value', () => {
  test.each([
    [
      'an unknown namespace',
      collector({ namespaces: [{ namespace: 'AWS/EC2', metrics: [cpu()] }] }),
      'collector.namespaces[0].namespace',
      '"AWS/EC2"',
      /unsupported namespace/,
    ],
    [
      'a namespace alias',
      collector({ namespaces: [{ namespace: 'rds', metrics: [cpu()] }] }),
      'collector.namespaces[0].namespace',
      '"rds"',
      /AWS\/RDS, AWS\/ApplicationELB/,
    ],
    ['an empty metrics list', collector({ namespaces: [rds([])] }), 'collector.namespaces[0].metrics', '[]', /at least one metric/],
    [
      'a period under 60 s',
      collector({ namespaces: [rds([cpu({ periodSeconds: 30 })])] }),
      'collector.namespaces[0].metrics[0].periodSeconds',
      '30',
      /at least 60 s/,
    ],
    [
      'a period of 90 s',
      collector({ namespaces: [rds([cpu({ periodSeconds: 90 })])] }),
      'collector.namespaces[0].metrics[0].periodSeconds',
      '90',
      /multiple of 60/,
    ],
    [
      'a length under the period',
      collector({ namespaces: [rds([cpu({ periodSeconds: 600, lengthSeconds: 300 })])] }),
      'collector.namespaces[0].metrics[0].lengthSeconds',
      '300',
      /at least periodSeconds/,
    ],
    [
      'a bad statistic',
      collector({ namespaces: [rds([cpu({ statistics: ['Average', 'avg'] })])] }),
      'collector.namespaces[0].metrics[0].statistics[1]',
      '"avg"',
      /use Average, Sum, Minimum, Maximum, SampleCount or a percentile/,
    ],
    [
      'a percentile over 100',
      collector({ namespaces: [rds([cpu({ statistics: ['p100.5'] })])] }),
      'collector.namespaces[0].metrics[0].statistics[0]',
      '"p100.5"',
      /not a statistic/,
    ],
    [
      'no statistics',
      collector({ namespaces: [rds([cpu({ statistics: [] })])] }),
      'collector.namespaces[0].metrics[0].statistics',
      '[]',
      /at least one statistic/,
    ],
    [
      'a statistic twice',
      collector({ namespaces: [rds([cpu({ statistics: ['Sum', 'Sum'] })])] }),
      'collector.namespaces[0].metrics[0].statistics',
      '["Sum","Sum"]',
      /listed twice/,
    ],
    [
      'a bad region',
      collector({ namespaces: [rds([cpu()], { regions: ['Europe'] })] }),
      'collector.namespaces[0].regions[0]',
      '"Europe"',
      /not a region name/,
    ],
    [
      'a malformed log group prefix',
      collector({ logs: { logGroupPrefixes: ['/aws/rds/*'] } }),
      'collector.logs.logGroupPrefixes[0]',
      '"/aws/rds/*"',
      /1-512 letters, digits/,
    ],
    [
      'a prefix with a space',
      collector({ logs: { logGroupPrefixes: ['/aws/my db/'] } }),
      'collector.logs.logGroupPrefixes[0]',
      '"/aws/my db/"',
      /log group prefix/,
    ],
    ['an empty prefix', collector({ logs: { logGroupPrefixes: [''] } }), 'collector.logs.logGroupPrefixes[0]', '""', /log group prefix/],
    [
      'a log group name over 512 characters',
      collector({ logs: { logGroupNames: [`/${'x'.repeat(512)}`] } }),
      'collector.logs.logGroupNames[0]',
      'xxxx',
      /log group name/,
    ],
    [
      'overlapping prefixes',
      collector({ logs: { logGroupPrefixes: ['/aws/rds/', '/aws/rds/cluster/'] } }),
      'collector.logs.logGroupPrefixes[1]',
      '"/aws/rds/cluster/"',
      /overlaps prefix "\/aws\/rds\/"/,
    ],
    [
      'a named group under a prefix',
      collector({ logs: { logGroupNames: ['/aws/rds/instance/db/error'] } }),
      'collector.logs.logGroupNames[0]',
      '"/aws/rds/instance/db/error"',
      /already read through prefix/,
    ],
    ['a poll interval under 10 s', collector({ logs: { pollInterval: '5s' } }), 'collector.logs.pollInterval', '"5s"', /10s-1h/],
    [
      'a start time that is not RFC 3339',
      collector({ logs: { startFrom: '2026-10-01' } }),
      'collector.logs.startFrom',
      '"2026-10-01"',
      /RFC 3339/,
    ],
    [
      'a lookback Loki would refuse',
      collector({ logs: { lookbackHours: 200 } }),
      'collector.logs.lookbackHours',
      '200',
      /older than 7 days/,
    ],
    ['a scrape interval under a minute', collector({ scrapeInterval: '30s' }), 'collector.scrapeInterval', '"30s"', /1m-1h/],
    [
      'a scrape interval that is not a duration',
      collector({ scrapeInterval: '5 minutes' }),
      'collector.scrapeInterval',
      '"5 minutes"',
      /whole number of seconds, minutes or hours/,
    ],
    ['an invalid meta tenant', collector({ metaTenant: 'lgtm meta' }), 'collector.metaTenant', '"lgtm meta"', /tenant ID is 1-128/],
    ['a reserved meta tenant', collector({ metaTenant: '__meta' }), 'collector.metaTenant', '"__meta"', /reserved by Mimir/],
    [
      'a meta tenant agents may use',
      collector({ metaTenant: 'aws-rag-ec2' }),
      'collector.metaTenant',
      '"aws-rag-ec2"',
      /must not be one of tenants\.allowed/,
    ],
  ])('%s', (_what, values, field, value, message) => {
    const problems = problemsOf(values);
    const problem = problems.find((p) => p.startsWith(`${field}:`));
    expect({ problems, found: problem !== undefined }).toEqual({ problems, found: true });
    expect(problem).toContain(value);
    expect(problem).toMatch(message);
  });

  test('an unknown collector key is refused with a suggestion', () => {
    expect(problemsOf(collector({ namespace: [] }))).toEqual(['collector.namespace: unknown key (did you mean "namespaces"?)']);
    expect(problemsOf(collector({ logs: { prefixes: [] } }))[0]).toMatch(/^collector\.logs\.prefixes: unknown key/);
  });
});

describe('accepted collector settings', () => {
  test('a custom job with tag filters, regions, percentiles and a length', () => {
    const config = loadConfig([
      {
        origin: 'x',
        values: collector({
          regions: ['us-east-1'],
          namespaces: [
            {
              namespace: 'AWS/ApplicationELB',
              dimensions: ['LoadBalancer'],
              regions: ['eu-west-1', 'eu-central-1'],
              tagFilters: { Environment: '^prod$' },
              metrics: [{ name: 'TargetResponseTime', statistics: ['p50', 'p99.9', 'SampleCount'], periodSeconds: 60, lengthSeconds: 600 }],
            },
          ],
          logs: { logGroupNames: ['/custom/app#1'], logGroupPrefixes: [], startFrom: '2026-10-01T00:00:00+02:00', lookbackHours: 0 },
        }),
      },
    ]);
    expect(config.collector.namespaces[0].metrics[0]).toEqual({
      name: 'TargetResponseTime',
      statistics: ['p50', 'p99.9', 'SampleCount'],
      periodSeconds: 60,
      lengthSeconds: 600,
    });
  });

  test.each(['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount', 'p0', 'p50', 'p99', 'p99.9', 'p99.99', 'p100'])('statistic %s', (s) =>
    expect(CLOUDWATCH_STATISTIC_PATTERN.test(s)).toBe(true),
  );
  test.each(['average', 'P99', 'p101', 'p99.999', 'tm99', 'p'])('not statistic %s', (s) =>
    expect(CLOUDWATCH_STATISTIC_PATTERN.test(s)).toBe(false),
  );
  test.each(['/aws/rds/', '/aws/rds/instance/db-1/postgresql', 'app.log_1#x', 'a'])('log group %s', (name) =>
    expect(LOG_GROUP_NAME_PATTERN.test(name)).toBe(true),
  );
  test.each(['', 'a b', '/aws/*', 'ü', 'x'.repeat(513)])('not log group %j', (name) =>
    expect(LOG_GROUP_NAME_PATTERN.test(name)).toBe(false),
  );
});
