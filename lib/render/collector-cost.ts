import { COLLECTOR_NAMESPACES, durationSeconds, type LgtmConfig } from '../config/schema';
import { jobRegions } from './collector';

/**
 * A sketch of the AWS API calls the collector's rendered config makes, and what they cost.
 *
 * Call model of `prometheus.exporter.cloudwatch` (yet-another-cloudwatch-exporter) with
 * decoupled scraping, per discovery job, region and background scrape:
 * - `tag:GetResources` once (one page holds up to 100 resources);
 * - `cloudwatch:ListMetrics` once per `metric` block (one page holds up to 500 series);
 * - `cloudwatch:GetMetricData` with one query per (series, statistic), batched up to 500
 *   queries per call (the API's limit). Billing counts queries ("metrics requested"), not calls.
 * The OpenTelemetry CloudWatch Logs receiver, per poll: `logs:DescribeLogGroups` once per page
 * of 50 groups for each prefix, and `logs:FilterLogEvents` once per log group and page.
 */

/** US East (N. Virginia) list prices in USD; other regions differ, check the CloudWatch pricing page. */
export const CLOUDWATCH_PRICES = {
  /** GetMetricData, per 1,000 metrics requested (no free tier). */
  getMetricDataPer1000Metrics: 0.01,
  /** ListMetrics (and other standard API requests), per 1,000 requests beyond the 1M free each month. */
  listMetricsPer1000Requests: 0.01,
} as const;

export const HOURS_PER_MONTH = 730;
/** GetMetricData's limit of queries per call. */
export const GET_METRIC_DATA_MAX_QUERIES = 500;
/** DescribeLogGroups page size the receiver asks for. */
export const DESCRIBE_LOG_GROUPS_PAGE = 50;
export const DEFAULT_RESOURCES_PER_NAMESPACE = 5;
export const DEFAULT_LOG_GROUPS_PER_PREFIX = 5;

/** What the estimate cannot know from the config. */
export interface CostAssumptions {
  /** Resources per namespace and region a job's dimensions match (DB instances, load balancers or target groups, cache nodes). */
  readonly resourcesPerNamespace: Readonly<Record<string, number>>;
  /** Log groups each prefix discovers (e.g. 5 DB instances × 1 exported log type). */
  readonly logGroupsPerPrefix: number;
  /** FilterLogEvents pages per log group and poll (one page holds up to 1,000 events). */
  readonly filterPagesPerPoll: number;
}

export const DEFAULT_COST_ASSUMPTIONS: CostAssumptions = {
  resourcesPerNamespace: Object.fromEntries(COLLECTOR_NAMESPACES.map((ns) => [ns, DEFAULT_RESOURCES_PER_NAMESPACE])),
  logGroupsPerPrefix: DEFAULT_LOG_GROUPS_PER_PREFIX,
  filterPagesPerPoll: 1,
};

/** One discovery job's calls per hour and monthly cost. */
export interface MetricsJobEstimate {
  readonly namespace: string;
  readonly dimensions: readonly string[];
  readonly regions: number;
  readonly resources: number;
  /** Queries (series × statistics) per background scrape, all regions. */
  readonly metricsPerScrape: number;
  readonly scrapesPerHour: number;
  readonly getResourcesPerHour: number;
  readonly listMetricsPerHour: number;
  readonly getMetricDataPerHour: number;
  readonly metricsRequestedPerHour: number;
  readonly monthlyUsd: number;
}

export interface LogsEstimate {
  readonly pollsPerHour: number;
  readonly logGroups: number;
  readonly describeLogGroupsPerHour: number;
  readonly filterLogEventsPerHour: number;
}

export interface CostEstimate {
  readonly jobs: readonly MetricsJobEstimate[];
  readonly logs: LogsEstimate;
  readonly totals: {
    readonly getResourcesPerHour: number;
    readonly listMetricsPerHour: number;
    readonly getMetricDataPerHour: number;
    readonly metricsRequestedPerHour: number;
    readonly monthlyUsd: number;
  };
  readonly assumptions: CostAssumptions;
  /** `collector.scrapeInterval`. */
  readonly scrapeInterval: string;
  /** Region named in the table when the jobs use the stack's region. */
  readonly stackRegion: string;
}

const round2 = (value: number) => Math.round(value * 100) / 100;
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/**
 * Expected CloudWatch API calls per hour for the configured discovery jobs and log groups,
 * and the monthly cost of the billed ones (GetMetricData, ListMetrics; free tier ignored).
 */
export function estimateCloudWatchApiCalls(
  config: LgtmConfig,
  assumptions: CostAssumptions = DEFAULT_COST_ASSUMPTIONS,
  stackRegion = config.env?.region ?? '<stack region>',
): CostEstimate {
  const scrapesPerHour = 3600 / durationSeconds(config.collector.scrapeInterval);
  const jobs = config.collector.namespaces.map((job): MetricsJobEstimate => {
    const regions = jobRegions(config, job, stackRegion).length;
    const resources = assumptions.resourcesPerNamespace[job.namespace] ?? DEFAULT_RESOURCES_PER_NAMESPACE;
    const queriesPerRegion = resources * sum(job.metrics.map((m) => m.statistics.length));
    const callsPerRegion = Math.ceil(queriesPerRegion / GET_METRIC_DATA_MAX_QUERIES);
    const getResourcesPerHour = regions * Math.max(1, Math.ceil(resources / 100)) * scrapesPerHour;
    const listMetricsPerHour = regions * job.metrics.length * scrapesPerHour;
    const metricsRequestedPerHour = regions * queriesPerRegion * scrapesPerHour;
    const monthlyUsd =
      ((metricsRequestedPerHour * HOURS_PER_MONTH) / 1000) * CLOUDWATCH_PRICES.getMetricDataPer1000Metrics +
      ((listMetricsPerHour * HOURS_PER_MONTH) / 1000) * CLOUDWATCH_PRICES.listMetricsPer1000Requests;
    return {
      namespace: job.namespace,
      dimensions: job.dimensions,
      regions,
      resources,
      metricsPerScrape: regions * queriesPerRegion,
      scrapesPerHour,
      getResourcesPerHour,
      listMetricsPerHour,
      getMetricDataPerHour: regions * callsPerRegion * scrapesPerHour,
      metricsRequestedPerHour,
      monthlyUsd,
    };
  });

  const { logGroupNames, logGroupPrefixes, maxGroupsPerPrefix, pollInterval } = config.collector.logs;
  const pollsPerHour = 3600 / durationSeconds(pollInterval);
  const groupsPerPrefix = Math.min(assumptions.logGroupsPerPrefix, maxGroupsPerPrefix);
  const logGroups = logGroupNames.length + logGroupPrefixes.length * groupsPerPrefix;
  const logs: LogsEstimate = {
    pollsPerHour,
    logGroups,
    describeLogGroupsPerHour: logGroupPrefixes.length * Math.max(1, Math.ceil(groupsPerPrefix / DESCRIBE_LOG_GROUPS_PAGE)) * pollsPerHour,
    filterLogEventsPerHour: logGroups * assumptions.filterPagesPerPoll * pollsPerHour,
  };

  return {
    jobs,
    logs,
    totals: {
      getResourcesPerHour: sum(jobs.map((j) => j.getResourcesPerHour)),
      listMetricsPerHour: sum(jobs.map((j) => j.listMetricsPerHour)),
      getMetricDataPerHour: sum(jobs.map((j) => j.getMetricDataPerHour)),
      metricsRequestedPerHour: sum(jobs.map((j) => j.metricsRequestedPerHour)),
      monthlyUsd: sum(jobs.map((j) => j.monthlyUsd)),
    },
    assumptions,
    scrapeInterval: config.collector.scrapeInterval,
    stackRegion,
  };
}

/**
 * Reads `--resources`: one number for every namespace (`3`) or per namespace
 * (`AWS/RDS=2,AWS/ApplicationELB=4`; unnamed namespaces keep the default).
 */
export function parseResourceCounts(text: string): Record<string, number> {
  const counts: Record<string, number> = { ...DEFAULT_COST_ASSUMPTIONS.resourcesPerNamespace };
  const count = (value: string, what: string) => {
    if (!/^\d+$/.test(value)) throw new Error(`--resources: ${what} needs a whole number, got "${value}"`);
    return Number(value);
  };
  if (/^\d+$/.test(text.trim())) {
    for (const ns of Object.keys(counts)) counts[ns] = Number(text.trim());
    return counts;
  }
  for (const part of text.split(',')) {
    const [ns, value = ''] = part.split('=').map((s) => s.trim());
    if (!(COLLECTOR_NAMESPACES as readonly string[]).includes(ns)) {
      throw new Error(`--resources: unknown namespace "${ns}" (choose from ${COLLECTOR_NAMESPACES.join(', ')})`);
    }
    counts[ns] = count(value, ns);
  }
  return counts;
}

const int = (value: number) => Math.round(value).toLocaleString('en-US');

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/** The estimate as a plain-text table with its assumptions. */
export function formatCostEstimate(estimate: CostEstimate): string {
  const { jobs, logs, totals, assumptions } = estimate;
  const out = [
    `CloudWatch API calls per hour (decoupled scraping every ${estimate.scrapeInterval}; stack region ${estimate.stackRegion})`,
    '',
    ...table(
      [
        'job (namespace, dimensions)',
        'res.',
        'metrics/scrape',
        'GetResources',
        'ListMetrics',
        'GetMetricData',
        'metrics req.',
        'USD/month',
      ],
      [
        ...jobs.map((j) => [
          `${j.namespace} [${j.dimensions.join(',') || 'all'}]${j.regions > 1 ? ` ×${j.regions} regions` : ''}`,
          String(j.resources),
          int(j.metricsPerScrape),
          int(j.getResourcesPerHour),
          int(j.listMetricsPerHour),
          int(j.getMetricDataPerHour),
          int(j.metricsRequestedPerHour),
          round2(j.monthlyUsd).toFixed(2),
        ]),
        [
          'total',
          '',
          int(sum(jobs.map((j) => j.metricsPerScrape))),
          int(totals.getResourcesPerHour),
          int(totals.listMetricsPerHour),
          int(totals.getMetricDataPerHour),
          int(totals.metricsRequestedPerHour),
          round2(totals.monthlyUsd).toFixed(2),
        ],
      ],
    ),
    '',
    `CloudWatch Logs: ${logs.logGroups} log group(s) polled ${logs.pollsPerHour}×/hour → ` +
      `${int(logs.filterLogEventsPerHour)} FilterLogEvents + ${int(logs.describeLogGroupsPerHour)} DescribeLogGroups calls/hour`,
    '',
    'Assumptions:',
    `- resources per namespace and region: ${Object.entries(assumptions.resourcesPerNamespace)
      .map(([ns, n]) => `${ns} ${n}`)
      .join(', ')} (override: --resources 3 or --resources AWS/RDS=2,AWS/ApplicationELB=4);`,
    '  a job with dimensions matches one series per resource (e.g. one target group per load balancer)',
    `- GetMetricData: $${CLOUDWATCH_PRICES.getMetricDataPer1000Metrics} per 1,000 metrics requested (one per series and statistic), ` +
      `up to ${GET_METRIC_DATA_MAX_QUERIES} per call; ListMetrics: $${CLOUDWATCH_PRICES.listMetricsPer1000Requests} per 1,000 requests ` +
      `(1M requests/month free, not subtracted); us-east-1 list prices, ${HOURS_PER_MONTH} h/month`,
    '- one ListMetrics page per metric (≤ 500 series of that name in the region) and one GetResources page per job (≤ 100 resources);',
    '  tag:GetResources (free) and the CloudWatch Logs read APIs are not priced here; NAT data processing, if any, is extra',
    `- log groups per prefix: ${assumptions.logGroupsPerPrefix} (at most logs.maxGroupsPerPrefix); ${assumptions.filterPagesPerPoll} FilterLogEvents page per group and poll`,
  ];
  return `${out.join('\n')}\n`;
}
