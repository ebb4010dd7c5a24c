import { loadConfig } from '../../lib/config/load';
import type { LgtmConfigInput } from '../../lib/config/schema';
import {
  type CostAssumptions,
  DEFAULT_COST_ASSUMPTIONS,
  estimateCloudWatchApiCalls,
  formatCostEstimate,
  parseResourceCounts,
} from '../../lib/render/collector-cost';

const configWith = (values: LgtmConfigInput | Record<string, unknown>) => loadConfig([{ origin: 'test', values }]);
const assume = (overrides: Partial<CostAssumptions>): CostAssumptions => ({ ...DEFAULT_COST_ASSUMPTIONS, ...overrides });

describe('estimateCloudWatchApiCalls', () => {
  // One RDS job in two regions, 3 statistics (Average, Maximum, Minimum) over 2 metrics,
  // 4 instances per region, a background scrape every 10 minutes (6 per hour):
  //   queries per region and scrape = 4 × 3 = 12 → 24 metrics per scrape → 24 × 6 = 144 metrics/hour
  //   GetMetricData = ceil(12 / 500) = 1 call per region and scrape → 2 × 6 = 12 calls/hour
  //   ListMetrics   = 2 metrics × 2 regions × 6 = 24 calls/hour
  //   GetResources  = 2 regions × 6 = 12 calls/hour
  //   per month (730 h): 144 × 730 = 105,120 metrics → $1.0512; 24 × 730 = 17,520 requests → $0.1752
  const config = configWith({
    collector: {
      scrapeInterval: '10m',
      regions: ['eu-west-1', 'us-east-1'],
      namespaces: [
        {
          namespace: 'AWS/RDS',
          dimensions: ['DBInstanceIdentifier'],
          metrics: [
            { name: 'CPUUtilization', statistics: ['Average', 'Maximum'] },
            { name: 'FreeableMemory', statistics: ['Minimum'] },
          ],
        },
      ],
      logs: { logGroupNames: ['/custom/a', '/custom/b'], logGroupPrefixes: ['/aws/rds/'], pollInterval: '30s' },
    },
  });

  it('counts calls and metrics per hour for a job, as computed by hand', () => {
    const estimate = estimateCloudWatchApiCalls(config, assume({ resourcesPerNamespace: { 'AWS/RDS': 4 }, logGroupsPerPrefix: 3 }));
    expect(estimate.jobs).toHaveLength(1);
    const [rds] = estimate.jobs;
    expect(rds).toMatchObject({
      namespace: 'AWS/RDS',
      regions: 2,
      resources: 4,
      metricsPerScrape: 24,
      scrapesPerHour: 6,
      getResourcesPerHour: 12,
      listMetricsPerHour: 24,
      getMetricDataPerHour: 12,
      metricsRequestedPerHour: 144,
    });
    expect(rds.monthlyUsd).toBeCloseTo(1.0512 + 0.1752, 10);
    expect(estimate.totals.monthlyUsd).toBeCloseTo(1.2264, 10);
  });

  it('counts CloudWatch Logs calls per poll: one FilterLogEvents per group, one DescribeLogGroups page per prefix', () => {
    // 2 named + 1 prefix × 3 groups = 5 groups, polled every 30 s (120 polls/hour)
    const { logs } = estimateCloudWatchApiCalls(config, assume({ logGroupsPerPrefix: 3 }));
    expect(logs).toEqual({ pollsPerHour: 120, logGroups: 5, filterLogEventsPerHour: 600, describeLogGroupsPerHour: 120 });
    // 120 groups per prefix are capped at maxGroupsPerPrefix (50): one DescribeLogGroups page of 50
    const capped = estimateCloudWatchApiCalls(config, assume({ logGroupsPerPrefix: 120 })).logs;
    expect(capped.logGroups).toBe(52);
    expect(capped.describeLogGroupsPerHour).toBe(120);
    const wide = configWith({ collector: { logs: { maxGroupsPerPrefix: 200 } } });
    expect(estimateCloudWatchApiCalls(wide, assume({ logGroupsPerPrefix: 120 })).logs.describeLogGroupsPerHour).toBe(3 * 60);
  });

  it('batches GetMetricData queries 500 to a call', () => {
    // 200 instances × 3 statistics = 600 queries per region → 2 calls per region and scrape
    const [rds] = estimateCloudWatchApiCalls(config, assume({ resourcesPerNamespace: { 'AWS/RDS': 200 } })).jobs;
    expect(rds.getMetricDataPerHour).toBe(2 * 2 * 6);
    expect(rds.metricsRequestedPerHour).toBe(600 * 2 * 6);
    expect(rds.getResourcesPerHour).toBe(2 * 2 * 6);
  });

  it('prices the default config at 5 resources per namespace', () => {
    // 27 statistics per resource over 25 metric blocks and 6 jobs, every 5 minutes:
    //   27 × 5 × 12 = 1,620 metrics/hour → 1,182,600/month → $11.826
    //   25 × 12 = 300 ListMetrics/hour → 219,000/month → $2.19
    const estimate = estimateCloudWatchApiCalls(configWith({}));
    expect(estimate.totals).toEqual({
      getResourcesPerHour: 72,
      listMetricsPerHour: 300,
      getMetricDataPerHour: 72,
      metricsRequestedPerHour: 1620,
      monthlyUsd: expect.closeTo(14.016, 10),
    });
    expect(estimate.logs).toEqual({ pollsPerHour: 60, logGroups: 5, filterLogEventsPerHour: 300, describeLogGroupsPerHour: 60 });
  });

  it('scales with the scrape interval: halving it doubles the bill', () => {
    const at5 = estimateCloudWatchApiCalls(configWith({})).totals.monthlyUsd;
    const at10 = estimateCloudWatchApiCalls(configWith({ collector: { scrapeInterval: '10m' } })).totals.monthlyUsd;
    expect(at5).toBeCloseTo(2 * at10, 10);
  });
});

describe('formatCostEstimate', () => {
  const text = formatCostEstimate(estimateCloudWatchApiCalls(configWith({}), DEFAULT_COST_ASSUMPTIONS, 'eu-west-1'));

  it('prints a row per job, the totals and the assumptions', () => {
    expect(text).toContain('decoupled scraping every 5m; stack region eu-west-1');
    expect(text).toMatch(/^AWS\/RDS \[DBInstanceIdentifier\] +5 +45 +12 +96 +12 +540 +4\.64$/m);
    expect(text).toMatch(/^AWS\/ApplicationELB \[LoadBalancer,TargetGroup\] +5 +10 /m);
    expect(text).toMatch(/^total +135 +72 +300 +72 +1,620 +14\.02$/m);
    expect(text).toContain('5 log group(s) polled 60×/hour → 300 FilterLogEvents + 60 DescribeLogGroups calls/hour');
    expect(text).toContain('$0.01 per 1,000 metrics requested');
    expect(text).toContain('AWS/RDS 5, AWS/ApplicationELB 5, AWS/NetworkELB 5, AWS/ElastiCache 5');
  });
});

describe('parseResourceCounts', () => {
  it('takes one number for every namespace or a list per namespace', () => {
    expect(parseResourceCounts('3')).toEqual({ 'AWS/RDS': 3, 'AWS/ApplicationELB': 3, 'AWS/NetworkELB': 3, 'AWS/ElastiCache': 3 });
    expect(parseResourceCounts('AWS/RDS=2, AWS/ElastiCache=0')).toEqual({
      'AWS/RDS': 2,
      'AWS/ApplicationELB': 5,
      'AWS/NetworkELB': 5,
      'AWS/ElastiCache': 0,
    });
  });

  it.each([
    ['AWS/EC2=3', /unknown namespace "AWS\/EC2"/],
    ['AWS/RDS=many', /AWS\/RDS needs a whole number, got "many"/],
    ['AWS/RDS', /AWS\/RDS needs a whole number, got ""/],
    ['-1', /unknown namespace "-1"/],
  ])('refuses %s', (text, message) => {
    expect(() => parseResourceCounts(text)).toThrow(message);
  });
});
