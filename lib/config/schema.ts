import { z } from 'zod';
import { TENANT_ID_PATTERN } from '../../lambdas/shared/contract';
import { canonicalCidr, isValidCidr } from './cidr';
import { fargateSizeProblem } from './fargate';

/**
 * Tenant IDs: Mimir and Loki accept 1-150 characters from `A-Z a-z 0-9 ! - _ . * ' ( )`
 * except `.` and `..`. lgtm-fleet also puts tenant IDs into Parameter Store names and
 * EC2 tag values, so it accepts the subset `A-Z a-z 0-9 - _ .`, at most 128 characters.
 * The `|` separator of federated queries is never part of a tenant ID.
 */
export { TENANT_ID_PATTERN };

export function tenantIdProblem(value: string): string | undefined {
  if (value === '.' || value === '..') return 'a tenant ID cannot be "." or ".."';
  if (!TENANT_ID_PATTERN.test(value)) {
    return 'a tenant ID is 1-128 letters, digits, "-", "_" or "." (Mimir and Loki reject spaces and "|"; Parameter Store names allow no other characters)';
  }
  if (value.startsWith('__')) return 'tenant IDs starting with "__" are reserved by Mimir';
  return undefined;
}

const tenantId = z.string().superRefine((value, ctx) => {
  const problem = tenantIdProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, input: value });
});

const cidr = z
  .string()
  .refine(isValidCidr, { message: 'not a valid IPv4 CIDR block (a.b.c.d/n)' })
  .superRefine((value, ctx) => {
    const canonical = canonicalCidr(value);
    if (canonical !== undefined && canonical !== value) {
      ctx.addIssue({ code: 'custom', message: `"${value}" has host bits set: write the block as ${canonical}`, input: value });
    }
  });

const positiveDays = z.number().int('must be a whole number of days').positive('retention must be positive');

/** Run Command MaxConcurrency: a whole number from 1, or a percentage from 1% to 100%. */
const maxConcurrency = z.string().regex(/^([1-9][0-9]{0,5}|[1-9][0-9]?%|100%)$/, {
  message: 'a whole number from 1 (e.g. 5) or a percentage from 1% to 100% (e.g. 10%)',
});
/** Run Command MaxErrors: a whole number or a percentage from 0 (stop at the first failure). */
const maxErrors = z.string().regex(/^(0|[1-9][0-9]{0,5}|[0-9]%|[1-9][0-9]%|100%)$/, {
  message: 'a whole number (0 stops at the first failure) or a percentage from 0% to 100%',
});

/** The retention periods CloudWatch Logs accepts. */
export const CLOUDWATCH_LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const logGroupDays = positiveDays.refine((d) => (CLOUDWATCH_LOG_RETENTION_DAYS as readonly number[]).includes(d), {
  message: `CloudWatch Logs accepts only ${CLOUDWATCH_LOG_RETENTION_DAYS.join(', ')} days`,
});

/** A container image reference pinned to a tag or digest (never implicitly `latest`). */
const pinnedImage = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._\-/:]*(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$/, {
    message: 'an image must be pinned to a tag or digest, e.g. grafana/mimir:3.2.0',
  })
  .refine((v) => !v.endsWith(':latest'), { message: 'the "latest" tag is not allowed: pin a version' });

const sizeFields = (cpu: number, memoryMiB: number) => ({
  /** Fargate CPU units (1024 = 1 vCPU). */
  cpu: z.number().int().default(cpu),
  /** Fargate memory in MiB, a valid pairing with `cpu`. */
  memoryMiB: z.number().int().default(memoryMiB),
});

/** The refinement of every task size: a CPU and memory pairing Fargate offers. */
function fargateSize(size: { cpu: number; memoryMiB: number }, ctx: z.RefinementCtx): void {
  const problem = fargateSizeProblem(size.cpu, size.memoryMiB);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, input: { cpu: size.cpu, memoryMiB: size.memoryMiB } });
}

const taskSize = (cpu: number, memoryMiB: number) => z.strictObject(sizeFields(cpu, memoryMiB)).superRefine(fargateSize).prefault({});

/** Most replicas of a clustered backend (a guard against typos; beyond it see docs/scaling.md). */
export const MAX_BACKEND_REPLICAS = 30;

/**
 * Replicas of Mimir or Loki: 1 (one task, the single-writer rule) or 3 and more (a ring with
 * replication factor 3). Two replicas are refused: with replication factor 2 every write needs both,
 * so losing either refuses writes, and replication factor 1 would lose data with each lost task.
 */
const backendReplicas = z
  .number()
  .int()
  .min(1)
  .max(MAX_BACKEND_REPLICAS, `at most ${MAX_BACKEND_REPLICAS} replicas (beyond that, see docs/scaling.md)`)
  .refine((n) => n !== 2, {
    message: '2 replicas cannot lose one (every write needs both): use 1, or 3 or more for replication factor 3',
  })
  .default(1);

/**
 * memcached nodes. Clients find them through Cloud Map's multivalue answer, which returns at most 8
 * addresses: with more nodes, each client would see a different subset and hash keys differently.
 */
export const MAX_MEMCACHED_NODES = 8;

/** Most tasks of the ingest gateway (a guard against typos: two tasks carry thousands of agents). */
export const MAX_GATEWAY_REPLICAS = 10;

/**
 * How the ingest gateway binds writes to tenants (`ingest.tenantBinding`, docs/security.md):
 * `enforce` (every write needs a known credential), `migrate` (a write with no credential keeps its
 * header's tenant, if it is one of the stack's), `off` (no gateway: the sender's header decides).
 */
export const TENANT_BINDING_MODES = ['enforce', 'migrate', 'off'] as const;
export type TenantBinding = (typeof TENANT_BINDING_MODES)[number];

/** Whether the stack deploys the tenant-binding gateway (every mode but `off`). */
export const hasTenantGateway = (config: { readonly ingest: { readonly tenantBinding: TenantBinding } }): boolean =>
  config.ingest.tenantBinding !== 'off';

/** A service that runs as one task, with the reason given to anyone asking for more. */
const singleReplica = (reason: string) => z.literal(1, { message: reason }).default(1);

const createVpc = z.strictObject({
  mode: z.literal('create'),
  /** CIDR of the new VPC. */
  cidr: cidr.default('10.40.0.0/16'),
  /** Availability zones to spread subnets over. */
  maxAzs: z.number().int().min(2).max(6).default(2),
  /** NAT gateways for private-subnet egress (image pulls); 1 is cheapest, one per AZ survives an AZ loss. */
  natGateways: z.number().int().min(1).max(6).default(1),
  /** Interface endpoints for ECR, CloudWatch Logs, Secrets Manager, SSM (S3 always gets a free gateway endpoint). */
  interfaceEndpoints: z.boolean().default(false),
  /** Retention of the VPC flow logs, in days. */
  flowLogRetentionDays: logGroupDays.default(30),
});

const importVpc = z.strictObject({
  mode: z.literal('import'),
  vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, { message: 'not a VPC ID (vpc-…)' }),
  /** The VPC's primary CIDR: the default source allowed to send telemetry and reach Grafana. */
  vpcCidr: cidr,
  availabilityZones: z.array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, { message: 'not an availability zone name' })).min(2),
  privateSubnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, { message: 'not a subnet ID (subnet-…)' })).min(2),
  /** Route tables of the private subnets, in the same order (needed only for the S3 gateway endpoint). */
  privateSubnetRouteTableIds: z.array(z.string().regex(/^rtb-[0-9a-f]{8,17}$/, { message: 'not a route table ID (rtb-…)' })).optional(),
  /** Public subnets, needed only for an internet-facing Grafana. */
  publicSubnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, { message: 'not a subnet ID (subnet-…)' })).optional(),
  /** Route tables of the public subnets, in the same order (CDK warns about each public subnet without one). */
  publicSubnetRouteTableIds: z.array(z.string().regex(/^rtb-[0-9a-f]{8,17}$/, { message: 'not a route table ID (rtb-…)' })).optional(),
  /** Whether the stack adds an S3 gateway endpoint to the imported VPC's route tables. */
  createS3GatewayEndpoint: z.boolean().default(false),
});

/** A Secrets Manager secret ECR accepts as pull-through cache credentials: its name must start with `ecr-pullthroughcache/`. */
export const PULL_THROUGH_CACHE_SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache\/.+$/;

/** A Secrets Manager secret ARN (the full ARN, with its random suffix). */
const secretArn = z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/, {
  message: 'not a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)',
});

const webhookUrl = z.string().regex(/^https?:\/\/[^\s/$.?#][^\s]*$/, { message: 'an http(s) URL, e.g. https://hooks.example.com/alerts' });

/**
 * Where Grafana sends the default alerts. URLs that are credentials (a Slack incoming webhook,
 * a webhook with a token in it) come from Secrets Manager, never from the config, which lands in
 * the template and Parameter Store.
 */
const alertContactPoint = z
  .discriminatedUnion('type', [
    /** No contact point: rules evaluate and show in Grafana's alert list; nothing is sent. */
    z.strictObject({ type: z.literal('none') }),
    /** A Slack incoming webhook; the secret's value is the webhook URL. */
    z.strictObject({
      type: z.literal('slack'),
      urlSecretArn: secretArn,
      /** Channel to post to, when the webhook allows overriding it. */
      recipient: z.string().min(1).max(80).optional(),
    }),
    /** An HTTP webhook (Alertmanager-style JSON): a plain `url`, or `urlSecretArn` when the URL holds a token. */
    z
      .strictObject({
        type: z.literal('webhook'),
        url: webhookUrl.optional(),
        urlSecretArn: secretArn.optional(),
      })
      .superRefine((webhook, ctx) => {
        if ((webhook.url === undefined) === (webhook.urlSecretArn === undefined)) {
          ctx.addIssue({ code: 'custom', path: ['url'], message: 'set exactly one of url and urlSecretArn', input: webhook.url });
        }
      }),
  ])
  .prefault({ type: 'none' });

const securityGroupId = z.string().regex(/^sg-[0-9a-f]{8,17}$/, { message: 'not a security group ID (sg-…)' });

/** Seconds in a Go duration of whole seconds, minutes or hours (`90s`, `5m`, `1h`). */
export function durationSeconds(value: string): number {
  const unit = value.slice(-1);
  return Number(value.slice(0, -1)) * (unit === 'h' ? 3600 : unit === 'm' ? 60 : 1);
}

/** A duration of whole seconds, minutes or hours between `min` and `max` seconds. */
const wholeDuration = (what: string, min: number, max: number, range: string) =>
  z
    .string()
    .regex(/^[1-9]\d*[smh]$/, { message: `${what} is a whole number of seconds, minutes or hours, e.g. 5m` })
    .refine((v) => durationSeconds(v) >= min && durationSeconds(v) <= max, { message: `${what} must be ${range}` });

const regionName = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'not a region name' });

/** CloudWatch namespaces the collector scrapes with discovery jobs (each in Alloy's supported-services list). */
export const COLLECTOR_NAMESPACES = ['AWS/RDS', 'AWS/ApplicationELB', 'AWS/NetworkELB', 'AWS/ElastiCache'] as const;

/** Statistics the collector requests: the five basic ones and percentiles `p0`-`p100` (up to two decimals). */
export const CLOUDWATCH_STATISTIC_PATTERN = /^(Average|Sum|Minimum|Maximum|SampleCount|p(100|[1-9]?\d(\.\d{1,2})?))$/;

/** CloudWatch Logs log group names, and prefixes of them: 1-512 of `A-Z a-z 0-9 . - _ / #`. */
export const LOG_GROUP_NAME_PATTERN = /^[A-Za-z0-9._\-/#]{1,512}$/;

const noDuplicates = (values: readonly string[]) => new Set(values).size === values.length;

const cloudwatchMetric = z
  .strictObject({
    /** CloudWatch metric name, e.g. `CPUUtilization`. */
    name: z.string().regex(/^\P{Cc}{1,255}$/u, { message: 'a metric name is 1-255 printable characters' }),
    /** Statistics requested; each one is billed as one metric per resource and call. */
    statistics: z
      .array(
        z.string().regex(CLOUDWATCH_STATISTIC_PATTERN, {
          message: 'not a statistic: use Average, Sum, Minimum, Maximum, SampleCount or a percentile such as p99',
        }),
      )
      .min(1, 'list at least one statistic')
      .refine(noDuplicates, { message: 'a statistic is listed twice' }),
    /** Width of the aggregation bucket, in seconds (a whole number of minutes). */
    periodSeconds: z
      .number()
      .int('a period is a whole number of seconds')
      .min(60, 'a period must be at least 60 s: AWS namespaces publish at 1-minute resolution at best, shorter periods only add cost')
      .multipleOf(60, 'a period is a whole number of minutes (a multiple of 60 s)')
      .default(300),
    /** How far back each call looks, in seconds; unset = the period. */
    lengthSeconds: z.number().int().multipleOf(60, 'a length is a whole number of minutes (a multiple of 60 s)').optional(),
  })
  .superRefine((metric, ctx) => {
    if (metric.lengthSeconds !== undefined && metric.lengthSeconds < metric.periodSeconds) {
      ctx.addIssue({ code: 'custom', path: ['lengthSeconds'], message: 'must be at least periodSeconds', input: metric.lengthSeconds });
    }
  });

const cloudwatchNamespaceJob = z.strictObject({
  /** One of {@link COLLECTOR_NAMESPACES}; a namespace may appear twice with different `dimensions`. */
  namespace: z.enum(COLLECTOR_NAMESPACES, {
    message: `unsupported namespace: the collector scrapes ${COLLECTOR_NAMESPACES.join(', ')}`,
  }),
  /** Keep only series with exactly these dimensions (`dimension_name_requirements`); empty = every combination, which costs more. */
  dimensions: z.array(z.string().min(1).max(255)).default([]),
  /** Regions of this job; unset = `collector.regions`. */
  regions: z.array(regionName).min(1).optional(),
  /** Resource tags that must all match (values are regular expressions); empty = every resource in the namespace. */
  tagFilters: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
  metrics: z.array(cloudwatchMetric).min(1, 'list at least one metric: a job without metrics still pays for its discovery calls'),
});

const cwMetric = (name: string, ...statistics: string[]) => ({ name, statistics, periodSeconds: 300 });

/**
 * The collector's default discovery jobs, chosen for cost: only what an RDS, load balancer or
 * cache dashboard charts, 5-minute periods, 1-2 statistics, and one dimension set per job
 * (without `dimensions`, CloudWatch also returns per-AZ, per-class and per-engine aggregates,
 * each billed as another metric).
 */
export const DEFAULT_COLLECTOR_NAMESPACES = [
  {
    namespace: 'AWS/RDS' as const,
    dimensions: ['DBInstanceIdentifier'],
    tagFilters: {},
    metrics: [
      cwMetric('CPUUtilization', 'Average', 'Maximum'),
      cwMetric('FreeableMemory', 'Minimum'),
      cwMetric('FreeStorageSpace', 'Minimum'),
      cwMetric('DatabaseConnections', 'Average'),
      cwMetric('ReadLatency', 'Average'),
      cwMetric('WriteLatency', 'Average'),
      cwMetric('ReadIOPS', 'Average'),
      cwMetric('WriteIOPS', 'Average'),
    ],
  },
  {
    namespace: 'AWS/ApplicationELB' as const,
    dimensions: ['LoadBalancer'],
    tagFilters: {},
    metrics: [
      cwMetric('RequestCount', 'Sum'),
      cwMetric('HTTPCode_Target_5XX_Count', 'Sum'),
      cwMetric('HTTPCode_ELB_5XX_Count', 'Sum'),
      cwMetric('TargetResponseTime', 'Average', 'p99'),
    ],
  },
  {
    namespace: 'AWS/ApplicationELB' as const,
    dimensions: ['LoadBalancer', 'TargetGroup'],
    tagFilters: {},
    metrics: [cwMetric('HealthyHostCount', 'Minimum'), cwMetric('UnHealthyHostCount', 'Maximum')],
  },
  {
    namespace: 'AWS/NetworkELB' as const,
    dimensions: ['LoadBalancer'],
    tagFilters: {},
    metrics: [cwMetric('ActiveFlowCount', 'Average'), cwMetric('NewFlowCount', 'Sum'), cwMetric('ProcessedBytes', 'Sum')],
  },
  {
    namespace: 'AWS/NetworkELB' as const,
    dimensions: ['LoadBalancer', 'TargetGroup'],
    tagFilters: {},
    metrics: [cwMetric('HealthyHostCount', 'Minimum'), cwMetric('UnHealthyHostCount', 'Maximum')],
  },
  {
    namespace: 'AWS/ElastiCache' as const,
    dimensions: ['CacheClusterId', 'CacheNodeId'],
    tagFilters: {},
    metrics: [
      cwMetric('CPUUtilization', 'Average'),
      cwMetric('EngineCPUUtilization', 'Average'),
      cwMetric('CurrConnections', 'Average'),
      cwMetric('Evictions', 'Sum'),
      cwMetric('CacheHitRate', 'Average'),
      cwMetric('DatabaseMemoryUsagePercentage', 'Average'),
    ],
  },
];

const logGroupName = z.string().regex(LOG_GROUP_NAME_PATTERN, {
  message: 'a log group name is 1-512 letters, digits, ".", "-", "_", "/" or "#"',
});

const collectorLogs = z
  .strictObject({
    /** Log groups read by exact name. */
    logGroupNames: z.array(logGroupName).default([]),
    /** Log group name prefixes; each is discovered on every poll (up to `maxGroupsPerPrefix` groups). */
    logGroupPrefixes: z
      .array(
        z.string().regex(LOG_GROUP_NAME_PATTERN, {
          message: 'a log group prefix is 1-512 letters, digits, ".", "-", "_", "/" or "#"',
        }),
      )
      .default(['/aws/rds/']),
    /** Log groups discovered per prefix at most; further groups are silently not read. */
    maxGroupsPerPrefix: z.number().int().min(1).max(1000).default(50),
    /** How often each log group is polled (one FilterLogEvents call per group and page). */
    pollInterval: wholeDuration('a poll interval', 10, 3600, '10s-1h').default('1m'),
    /** RFC 3339 time to read from when a log group has no checkpoint yet; unset = `lookbackHours` before the task started. */
    startFrom: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$/, { message: 'an RFC 3339 time, e.g. 2026-01-31T00:00:00Z' })
      .optional(),
    /** Without `startFrom`: hours before task start to read a log group without a checkpoint (and the most a restart catches up). */
    lookbackHours: z
      .number()
      .int()
      .min(0)
      .max(168, 'at most 168 hours: Loki refuses entries older than 7 days (reject_old_samples_max_age)')
      .default(24),
  })
  .superRefine((logs, ctx) => {
    for (const field of ['logGroupNames', 'logGroupPrefixes'] as const) {
      if (!noDuplicates(logs[field]))
        ctx.addIssue({ code: 'custom', path: [field], message: 'an entry is listed twice', input: logs[field] });
    }
    logs.logGroupPrefixes.forEach((prefix, i) => {
      const wider = logs.logGroupPrefixes.find((other, j) => j !== i && other !== prefix && prefix.startsWith(other));
      if (wider) {
        ctx.addIssue({
          code: 'custom',
          path: ['logGroupPrefixes', i],
          message: `overlaps prefix "${wider}": its log groups would be read twice`,
          input: prefix,
        });
      }
    });
    logs.logGroupNames.forEach((name, i) => {
      const prefix = logs.logGroupPrefixes.find((p) => name.startsWith(p));
      if (prefix) {
        ctx.addIssue({
          code: 'custom',
          path: ['logGroupNames', i],
          message: `is already read through prefix "${prefix}" (it would be read twice)`,
          input: name,
        });
      }
    });
  });

export const configSchema = z
  .strictObject({
    /** Name of the CloudFormation stack. */
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, { message: 'a stack name starts with a letter and has only letters, digits and -' })
      .default('LgtmFleet'),
    /** Deploy to this account/region; unset = environment-agnostic template. */
    env: z
      .strictObject({
        account: z
          .string()
          .regex(/^\d{12}$/, { message: 'an account ID is 12 digits' })
          .optional(),
        region: z
          .string()
          .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'not a region name' })
          .optional(),
      })
      .optional(),
    network: z
      .strictObject({
        vpc: z.discriminatedUnion('mode', [createVpc, importVpc]).prefault({ mode: 'create' }),
        /** Cloud Map private DNS namespace shared by every service (the seed's `mimir-net`). */
        namespaceName: z
          .string()
          .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/, { message: 'not a DNS domain name (e.g. lgtm.internal)' })
          .default('lgtm.internal'),
      })
      .prefault({}),
    tenants: z
      .strictObject({
        /** Every tenant the stack accepts; agents asking for another tenant are refused. */
        allowed: z.array(tenantId).min(1).default(['aws-rag-ec2', 'aws-rag-cloudwatch', 'aws-rag-rds']),
        /** Tenant of EC2 instances without a tenant tag; `null` skips untagged instances. */
        ec2Default: tenantId.nullable().default('aws-rag-ec2'),
        /** Tenant receiving CloudWatch metrics from the collector. */
        cloudwatchMetrics: tenantId.default('aws-rag-cloudwatch'),
        /** Tenant receiving CloudWatch Logs (RDS) from the collector. */
        cloudwatchLogs: tenantId.default('aws-rag-rds'),
      })
      .prefault({}),
    tags: z
      .strictObject({
        /** EC2 tag naming an instance's tenant. */
        tenant: z.string().min(1).max(128).default('lgtm:tenant'),
        /** EC2 tag that, set to `true`, keeps an instance out of enrollment. */
        optOut: z.string().min(1).max(128).default('lgtm:opt-out'),
      })
      .prefault({}),
    retention: z
      .strictObject({
        /** Mimir block retention (the seed kept metrics one year). */
        metricsDays: positiveDays.default(365),
        /** Loki retention, enforced by the compactor. */
        logsDays: positiveDays.default(90),
        /** Tempo block retention. */
        tracesDays: positiveDays.default(14),
        /** CloudWatch Logs retention of the containers' own logs. */
        containerLogsDays: logGroupDays.default(30),
      })
      .prefault({}),
    storage: z
      .strictObject({
        /** Name of the data bucket; unset = a unique generated name (the seed used `rag-mimir-pos-s3`). */
        bucketName: z
          .string()
          .regex(/^(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
            message: 'not a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)',
          })
          .optional(),
        /**
         * Use the existing bucket `bucketName` (the seed's `rag-mimir-pos-s3`, say) instead of
         * creating it: the stack grants the task roles their prefixes in it and changes nothing
         * else about it. The backends write under their own prefixes beside what is there.
         */
        importBucket: z.boolean().default(false),
        /**
         * Where Mimir, Loki and Tempo keep their WAL and local state.
         * `ephemeral`: task storage, flushed to S3 on every planned stop;
         * `efs`: an encrypted EFS file system that survives crashes. A backend with several replicas
         * keeps its WAL on task storage either way: every write is on 3 replicas, which replaces
         * the file system (they could not share one WAL directory).
         */
        durability: z.enum(['ephemeral', 'efs']).default('ephemeral'),
        /** Fargate ephemeral storage per backend task, GiB (21-200). */
        ephemeralStorageGiB: z.number().int().min(21).max(200).default(40),
        /** Days after which non-current object versions are deleted. */
        noncurrentVersionDays: positiveDays.default(7),
        /** Days after which incomplete multipart uploads are aborted. */
        incompleteUploadDays: positiveDays.default(2),
      })
      .prefault({}),
    images: z
      .strictObject({
        mimir: pinnedImage.default('grafana/mimir:3.2.1'),
        loki: pinnedImage.default('grafana/loki:3.7.8'),
        tempo: pinnedImage.default('grafana/tempo:3.0.3'),
        grafana: pinnedImage.default('grafana/grafana:13.2.1'),
        /** ECR Public's copy of Docker's official image: no Docker Hub pull limit. */
        memcached: pinnedImage.default('public.ecr.aws/docker/library/memcached:1.6.45'),
        /** Small image with a shell that writes configs into the shared volume before each backend starts. */
        configInit: pinnedImage.default('public.ecr.aws/docker/library/busybox:1.37.0'),
        /** The collector; keep it on the same release as `agent.alloyVersion`. */
        alloy: pinnedImage.default('grafana/alloy:v1.21.2'),
        /** The ingest gateway (nginx); ECR Public's copy of the official image, on nginx's stable line. */
        gateway: pinnedImage.default('public.ecr.aws/docker/library/nginx:1.30.6-alpine'),
        /**
         * Pull Docker Hub images through an ECR pull-through cache authenticated with this Secrets
         * Manager secret (named `ecr-pullthroughcache/…`, holding `username` and `accessToken`).
         * Without it, Docker Hub images are pulled anonymously (rate-limited per NAT address).
         */
        dockerHubCredentialsSecretArn: z
          .string()
          .regex(PULL_THROUGH_CACHE_SECRET_ARN, {
            message: 'must be the ARN of a Secrets Manager secret named ecr-pullthroughcache/…, as ECR requires',
          })
          .optional(),
      })
      .prefault({}),
    services: z
      .strictObject({
        mimir: z
          .strictObject({
            ...sizeFields(1024, 4096),
            /** Monolithic replicas forming one cluster (1, or 3 and more: replication factor 3). */
            replicas: backendReplicas,
          })
          .superRefine(fargateSize)
          .prefault({}),
        loki: z
          .strictObject({
            ...sizeFields(1024, 2048),
            /** Monolithic replicas forming one cluster (1, or 3 and more: replication factor 3). */
            replicas: backendReplicas,
          })
          .superRefine(fargateSize)
          .prefault({}),
        tempo: z
          .strictObject({
            ...sizeFields(512, 2048),
            /** Always 1: Tempo 3 monolithic does not scale out without Kafka (docs/scaling.md). */
            replicas: singleReplica(
              'Tempo runs as one replica: Tempo 3 scales out only in its Kafka-based microservices mode (docs/scaling.md)',
            ),
          })
          .superRefine(fargateSize)
          .prefault({}),
        grafana: z
          .strictObject({
            ...sizeFields(512, 1024),
            /** Always 1: Grafana keeps its database on one task's file system (docs/scaling.md). */
            replicas: singleReplica('Grafana runs as one replica: its database lives on one task (docs/scaling.md)'),
          })
          .superRefine(fargateSize)
          .prefault({}),
        memcached: z
          .strictObject({
            ...sizeFields(256, 1024),
            /** Cache nodes; each client spreads keys over all of them, so one restart costs a share of the cache. */
            replicas: z
              .number()
              .int()
              .min(1)
              .max(MAX_MEMCACHED_NODES, `at most ${MAX_MEMCACHED_NODES} nodes: Cloud Map's DNS answer lists at most 8 addresses`)
              .default(1),
          })
          .superRefine(fargateSize)
          .prefault({}),
        collector: taskSize(512, 1024),
        gateway: z
          .strictObject({
            ...sizeFields(256, 512),
            /** Gateway tasks; at least 2: with `ingest.tenantBinding` the gateway is the only write path. */
            replicas: z
              .number()
              .int()
              .min(2, 'at least 2 gateway tasks: every write goes through the gateway, one task would be a single point of failure')
              .max(MAX_GATEWAY_REPLICAS, `at most ${MAX_GATEWAY_REPLICAS} gateway tasks (two carry thousands of agents)`)
              .default(2),
          })
          .superRefine(fargateSize)
          .prefault({}),
      })
      .prefault({}),
    ingest: z
      .strictObject({
        /**
         * The tenant-binding gateway in front of the backends (docs/security.md): `enforce` refuses a
         * write without a known credential; `migrate` also passes a write with no credential at all
         * into the tenant its header names (one of `tenants.allowed`), logged as unbound, while senders
         * move to credentials; `off` has no gateway, and any sender chooses its tenant. `true` and
         * `false` mean `enforce` and `off`.
         */
        tenantBinding: z
          .union([z.enum(TENANT_BINDING_MODES), z.boolean()], {
            error: `one of ${TENANT_BINDING_MODES.map((mode) => `"${mode}"`).join(', ')} (true and false mean "enforce" and "off")`,
          })
          .transform((mode): TenantBinding => (mode === true ? 'enforce' : mode === false ? 'off' : mode))
          .default('enforce'),
        /** CIDRs allowed to push telemetry; empty = the VPC CIDR. */
        allowedCidrs: z.array(cidr).default([]),
        /** Security groups allowed to push telemetry (e.g. your instances' group). */
        allowedSecurityGroupIds: z.array(securityGroupId).default([]),
      })
      .prefault({}),
    grafana: z
      .strictObject({
        /** Put Grafana's load balancer on public subnets; requires `certificateArn`. */
        internetFacing: z.boolean().default(false),
        /** ACM certificate for HTTPS on Grafana's load balancer. */
        certificateArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/, { message: 'not an ACM certificate ARN' })
          .optional(),
        /** Public URL users reach Grafana at (sets root_url); unset = the load balancer's DNS name. */
        domainName: z
          .string()
          .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/, { message: 'not a DNS name' })
          .optional(),
        /** CIDRs allowed to reach Grafana; empty = the VPC CIDR (internal) — must be set when internet-facing. */
        allowedCidrs: z.array(cidr).default([]),
        /** Where the default alerts are sent; `none` keeps them in Grafana's alert list only. */
        alertContactPoint,
      })
      .prefault({}),
    enrollment: z
      .strictObject({
        /** Minutes an instance may take to become SSM-managed and online before its launch event is dead-lettered. */
        deadlineMinutes: z.number().int().min(1).max(720, 'at most 720 minutes (SQS visibility is capped at 12 hours)').default(15),
        /** Stop and disable a legacy ADOT collector or node_exporter found on the instance. */
        stopLegacyAgents: z.boolean().default(true),
        /** What a launch lifecycle action gets when enrollment fails: ABANDON terminates the instance, CONTINUE lets it serve unmonitored. */
        lifecycleFailureResult: z.enum(['ABANDON', 'CONTINUE']).default('CONTINUE'),
        /** Minutes between reconciliation runs, the backstop for missed events (the most a missed event can delay enrollment). */
        reconcileIntervalMinutes: z.number().int().min(5).max(1440).default(30),
        /**
         * Which instances enrollment touches. Without it (the seed's behaviour) every running
         * SSM-managed instance of the region not opted out gets Alloy, installed as root, and untagged
         * ones go to `tenants.ec2Default`. With it, only instances carrying `tagKey` (with one of
         * `values`, when given) are enrolled.
         */
        scope: z
          .strictObject({
            tagKey: z.string().trim().min(1).max(128),
            values: z
              .array(
                z
                  .string()
                  .min(1)
                  .max(256)
                  .regex(/^[^,]+$/, { message: 'a scope tag value cannot contain ","' }),
              )
              .max(50)
              .default([]),
          })
          .optional(),
      })
      .prefault({}),
    refresh: z
      .strictObject({
        /** How many agents reload a new config at once (a number or a percentage): small, so a bad config stops early. */
        maxConcurrency: maxConcurrency.default('10%'),
        /** Failed agents after which a refresh stops (a number or a percentage). */
        maxErrors: maxErrors.default('1'),
      })
      .prefault({}),
    alarms: z
      .strictObject({
        /**
         * Address subscribed (by email, confirmed once) to the stack's alarm topic. Without it the
         * topic has no subscriber: subscribe a pager, chat or ticketing integration to its ARN.
         */
        email: z.email({ message: 'alarms.email must be an email address' }).optional(),
      })
      .prefault({}),
    agent: z
      .strictObject({
        /** Alloy release installed on every instance; instances on another version are upgraded or downgraded to it. */
        alloyVersion: z
          .string()
          .regex(/^\d+\.\d+\.\d+$/, { message: 'pin an exact Alloy release, e.g. 1.21.2' })
          .default('1.21.2'),
        /** How often the agent scrapes host and agent metrics, in seconds or minutes (`30s`, `1m`). */
        scrapeInterval: z
          .string()
          .regex(/^[1-9]\d*[sm]$/, { message: 'a scrape interval is a whole number of seconds or minutes, e.g. 60s or 1m' })
          .refine(
            (v) => {
              const seconds = Number(v.slice(0, -1)) * (v.endsWith('m') ? 60 : 1);
              return seconds >= 10 && seconds <= 300;
            },
            { message: 'a scrape interval must be 10s-5m (the scrape timeout is 10s; longer gaps make series go stale)' },
          )
          .default('60s'),
        /** Address the OTLP receiver binds to: 127.0.0.1 accepts local applications only, 0.0.0.0 any host that can reach the instance. */
        otlpListenAddress: z
          .string()
          .refine((v) => isValidCidr(`${v}/32`), { message: 'an IPv4 address, e.g. 127.0.0.1 or 0.0.0.0' })
          .default('127.0.0.1'),
        /** Port of the OTLP/gRPC receiver. */
        otlpGrpcPort: z.number().int().min(1024, 'ports below 1024 need privileges the agent does not have').max(65535).default(4317),
        /** Port of the OTLP/HTTP receiver. */
        otlpHttpPort: z.number().int().min(1024, 'ports below 1024 need privileges the agent does not have').max(65535).default(4318),
        /** Ship the Windows Security event log too (high volume and sensitive, so off by default). */
        windowsSecurityLog: z.boolean().default(false),
      })
      .superRefine((agent, ctx) => {
        if (agent.otlpGrpcPort === agent.otlpHttpPort) {
          ctx.addIssue({ code: 'custom', path: ['otlpHttpPort'], message: 'must differ from otlpGrpcPort', input: agent.otlpHttpPort });
        }
        for (const field of ['otlpGrpcPort', 'otlpHttpPort'] as const) {
          if (agent[field] === 12345) {
            ctx.addIssue({ code: 'custom', path: [field], message: "12345 is Alloy's own HTTP server port", input: agent[field] });
          }
        }
      })
      .prefault({}),
    collector: z
      .strictObject({
        /** Deploy the collector service (CloudWatch metrics and logs, self-monitoring). */
        enabled: z.boolean().default(true),
        /** How often decoupled scraping calls CloudWatch; each call is billed per metric requested. */
        scrapeInterval: wholeDuration('a scrape interval', 60, 3600, '1m-1h').default('5m'),
        /** Regions the discovery jobs scrape; empty = the stack's region. */
        regions: z.array(regionName).default([]),
        /** Discovery jobs; setting this replaces the whole default list. */
        namespaces: z.array(cloudwatchNamespaceJob).default(() => structuredClone(DEFAULT_COLLECTOR_NAMESPACES)),
        /** CloudWatch Logs read into Loki (tenant `tenants.cloudwatchLogs`); no names and no prefixes = off. */
        logs: collectorLogs.prefault({}),
        /** Mimir tenant of the stack's own metrics; kept out of `tenants.allowed` so no agent can write into it. */
        metaTenant: tenantId.default('lgtm-meta'),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    const allowed = new Set(config.tenants.allowed);
    const mustBeAllowed: Array<[string, string | null]> = [
      ['ec2Default', config.tenants.ec2Default],
      ['cloudwatchMetrics', config.tenants.cloudwatchMetrics],
      ['cloudwatchLogs', config.tenants.cloudwatchLogs],
    ];
    for (const [field, value] of mustBeAllowed) {
      if (value !== null && !allowed.has(value)) {
        ctx.addIssue({
          code: 'custom',
          path: ['tenants', field],
          message: 'must be one of tenants.allowed',
          input: value,
        });
      }
    }
    if (allowed.has(config.collector.metaTenant)) {
      ctx.addIssue({
        code: 'custom',
        path: ['collector', 'metaTenant'],
        message: "must not be one of tenants.allowed: agents could then write into the stack's own metrics",
        input: config.collector.metaTenant,
      });
    }
    const dupes = config.tenants.allowed.filter((t, i, all) => all.indexOf(t) !== i);
    if (dupes.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['tenants', 'allowed'], message: 'tenants are listed twice', input: dupes });
    }
    if (config.grafana.internetFacing && !config.grafana.certificateArn) {
      ctx.addIssue({
        code: 'custom',
        path: ['grafana', 'certificateArn'],
        message: 'an internet-facing Grafana needs a certificate so that it is served over HTTPS only',
        input: config.grafana.certificateArn,
      });
    }
    if (config.grafana.internetFacing && config.grafana.allowedCidrs.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['grafana', 'allowedCidrs'],
        message: 'an internet-facing Grafana needs an explicit list of allowed CIDRs (use 0.0.0.0/0 deliberately)',
        input: config.grafana.allowedCidrs,
      });
    }
    if (config.storage.importBucket && config.storage.bucketName === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['storage', 'bucketName'],
        message: 'storage.importBucket needs the name of the bucket to use',
        input: undefined,
      });
    }
    if (config.tags.tenant === config.tags.optOut) {
      ctx.addIssue({ code: 'custom', path: ['tags', 'optOut'], message: 'must differ from tags.tenant', input: config.tags.optOut });
    }
    const vpc = config.network.vpc;
    if (vpc.mode === 'import' && config.grafana.internetFacing && !vpc.publicSubnetIds) {
      ctx.addIssue({
        code: 'custom',
        path: ['network', 'vpc', 'publicSubnetIds'],
        message: 'an internet-facing Grafana in an imported VPC needs public subnets',
        input: undefined,
      });
    }
    if (vpc.mode === 'import') {
      if (vpc.privateSubnetRouteTableIds && vpc.privateSubnetRouteTableIds.length !== vpc.privateSubnetIds.length) {
        ctx.addIssue({
          code: 'custom',
          path: ['network', 'vpc', 'privateSubnetRouteTableIds'],
          message: 'needs one route table per private subnet',
          input: vpc.privateSubnetRouteTableIds,
        });
      }
      if (vpc.publicSubnetRouteTableIds && vpc.publicSubnetRouteTableIds.length !== (vpc.publicSubnetIds?.length ?? 0)) {
        ctx.addIssue({
          code: 'custom',
          path: ['network', 'vpc', 'publicSubnetRouteTableIds'],
          message: `needs one route table per public subnet (${vpc.publicSubnetIds?.length ?? 0})`,
          input: vpc.publicSubnetRouteTableIds,
        });
      }
      if (vpc.createS3GatewayEndpoint && !vpc.privateSubnetRouteTableIds) {
        ctx.addIssue({
          code: 'custom',
          path: ['network', 'vpc', 'privateSubnetRouteTableIds'],
          message: 'required when createS3GatewayEndpoint is true',
          input: undefined,
        });
      }
    }
  });

/** The configuration as written by a user (every field optional). */
export type LgtmConfigInput = z.input<typeof configSchema>;
/** The validated configuration with every default applied. */
export type LgtmConfig = z.output<typeof configSchema>;
export type TaskSize = Pick<LgtmConfig['services']['mimir'], 'cpu' | 'memoryMiB'>;
export type ServiceName = keyof LgtmConfig['services'];
