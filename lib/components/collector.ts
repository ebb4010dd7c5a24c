import type * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Arn, ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { serviceParameterName } from '../../lambdas/shared/contract';
import { BackendService } from '../backend-service';
import { acknowledgeWildcardResource } from '../nag';
import { COLLECTOR, COLLECTOR_IAM_ACTIONS } from '../render/collector';
import { type ConfiguredComponentProps, serviceBasics } from './common';

export interface CollectorProps extends ConfiguredComponentProps {
  /** The rendered `config.alloy` (see lib/render/collector.ts). */
  readonly configFile: string;
  /** The container's entry point, which starts Alloy (see `collectorEntrypoint`). */
  readonly entryPoint: string[];
  /**
   * Log groups the collector reads: a name, or a prefix ending in `*` (see
   * `collectorLogGroupArnPatterns`). A prefix also lets it list log groups, to find those it matches.
   * @default none: no CloudWatch Logs access
   */
  readonly logGroupPatterns?: readonly string[];
  /** Keeps the CloudWatch Logs checkpoints across task restarts, so nothing is read twice or skipped. */
  readonly fileSystem: efs.IFileSystem;
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
    this.backend = new BackendService(this, 'Backend', {
      ...serviceBasics(props),
      serviceName: 'collector',
      entryPoint: props.entryPoint,
      ports: [COLLECTOR.httpPort],
      config: [
        {
          directory: COLLECTOR.configDir,
          files: [
            {
              parameterName: serviceParameterName(props.parameterPrefix, 'collector'),
              content: props.configFile,
              fileName: COLLECTOR.configFile,
              // Grows with namespaces, regions and log groups.
              tier: 'advanced',
            },
          ],
        },
      ],
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
    const patterns = props.logGroupPatterns ?? [];
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
    if (patterns.some((pattern) => pattern.endsWith('*'))) {
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
