import type * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Arn, ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { BackendService } from '../backend-service';
import { acknowledgeWildcardResource } from '../nag';
import { backendParameterName } from '../render/catalog';
import {
  COLLECTOR,
  COLLECTOR_IAM_ACTIONS,
  collectorEntrypoint,
  collectorLogGroupArnPatterns,
  renderCollectorConfig,
} from '../render/collector';
import type { ComponentProps } from './common';

export interface CollectorProps extends ComponentProps {
  /** Keeps the CloudWatch Logs checkpoints across task restarts, so nothing is read twice or skipped. */
  readonly fileSystem: efs.FileSystem;
}

/**
 * The Alloy collector (the seed's "collector mode"): pulls CloudWatch metrics of RDS, ALB, NLB
 * and ElastiCache into Mimir, RDS log groups into Loki, and scrapes the stack's own services
 * into the meta tenant. Its UI/health port is open only to Grafana inside the stack.
 */
export class Collector extends Construct {
  public readonly backend: BackendService;

  constructor(scope: Construct, id: string, props: CollectorProps) {
    super(scope, id);
    const { config } = props;
    this.backend = new BackendService(this, 'Backend', {
      network: props.network,
      serviceName: 'collector',
      image: config.images.alloy,
      registry: props.registry,
      // Sets the logs start time from `collector.logs.lookbackHours`, then execs `alloy run` with the experimental flag.
      entryPoint: collectorEntrypoint(config),
      size: config.services.collector,
      ports: [COLLECTOR.httpPort],
      logRetentionDays: config.retention.containerLogsDays,
      config: [
        {
          directory: COLLECTOR.configDir,
          files: [
            {
              parameterName: backendParameterName(config, 'collector'),
              content: renderCollectorConfig({ config, deploy: props.deploy }),
              fileName: COLLECTOR.configFile,
              // Grows with namespaces, regions and log groups.
              tier: 'advanced',
            },
          ],
        },
      ],
      configInitImage: config.images.configInit,
      data: { kind: 'efs', path: COLLECTOR.dataDir, uid: 10001, fileSystem: props.fileSystem },
      // One reader per checkpoint: the old task stops before the new one starts.
      deployment: 'single-writer',
      stopTimeout: Duration.seconds(30),
    });

    const role = this.backend.taskDefinition.taskRole;
    const stack = Stack.of(this);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'CloudWatchMetrics', actions: [...COLLECTOR_IAM_ACTIONS.metrics], resources: ['*'] }),
    );
    const logGroupArn = (pattern: string) =>
      Arn.format({ service: 'logs', resource: 'log-group', resourceName: pattern, arnFormat: ArnFormat.COLON_RESOURCE_NAME }, stack);
    const patterns = collectorLogGroupArnPatterns(config);
    const policy = role.node.tryFindChild('DefaultPolicy') ?? role;
    if (patterns.length > 0) {
      const readable = patterns.flatMap((p) => (p.endsWith('*') ? [logGroupArn(p)] : [logGroupArn(p), logGroupArn(`${p}:*`)]));
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ sid: 'ReadLogGroups', actions: [...COLLECTOR_IAM_ACTIONS.logsRead], resources: readable }),
      );
      for (const arn of readable.filter((a) => a.includes('*'))) {
        acknowledgeWildcardResource(
          policy,
          arn,
          'The configured log-group prefix (or the streams of a named group) is the narrowest match CloudWatch Logs offers.',
        );
      }
    }
    if (config.collector.logs.logGroupPrefixes.length > 0) {
      const allGroups = logGroupArn('*');
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ sid: 'DiscoverLogGroups', actions: [...COLLECTOR_IAM_ACTIONS.logsDiscover], resources: [allGroups] }),
      );
      acknowledgeWildcardResource(
        policy,
        allGroups,
        'DescribeLogGroups lists groups by prefix; it cannot be limited to the groups it has yet to find.',
      );
    }
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'tag:GetResources and the CloudWatch metric read APIs support no resource-level permissions.',
    });
  }
}
