import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { handlerCode } from './synth-speed/bundling';

/** Namespace of every metric the handlers emit through Powertools. */
export const METRICS_NAMESPACE = 'LgtmFleet';

export interface LgtmFunctionProps {
  /** Folder under `lambdas/` holding `index.ts` with the exported `handler`. */
  readonly handlerFolder: string;
  readonly description: string;
  /** Powertools service name (log field and metric dimension). */
  readonly serviceName: string;
  readonly environment: Record<string, string>;
  /** Retention of the function's log group. */
  readonly logRetentionDays: number;
  /**
   * @default 1 minute
   */
  readonly timeout?: Duration;
  /**
   * @default 512 MiB
   */
  readonly memorySize?: number;
  /**
   * Retries of a failed asynchronous invocation.
   * @default 2 (the Lambda default)
   */
  readonly retryAttempts?: number;
  /**
   * Where a failed asynchronous invocation goes after its retries.
   * @default none
   */
  readonly onFailure?: lambda.IDestination;
  /**
   * The VPC to run in, for a function that calls something only reachable there. Its role may then
   * manage the function's network interfaces (AWSLambdaVPCAccessExecutionRole, which CDK attaches to
   * the roles it creates itself for VPC functions).
   * @default none: the function runs outside any VPC
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Subnets of `vpc` the function's network interfaces are in.
   * @default the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security groups of the function's network interfaces, in `vpc`.
   * @default one CDK creates, all outbound traffic allowed
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
}

/** The AWS managed policy CDK gives a VPC function's role: creating, describing and deleting its network interfaces. */
export const VPC_ACCESS_POLICY = 'service-role/AWSLambdaVPCAccessExecutionRole';

/**
 * A handler from `lambdas/` with the project's defaults: Node.js 24 on ARM64, bundled by the
 * local esbuild (lib/synth-speed/bundling.ts), JSON logs into its own
 * log group, and a role that may write to that log group (and, in a VPC, manage the function's
 * network interfaces) and nothing else until granted more.
 */
export class LgtmFunction extends Construct {
  public readonly function: lambda.Function;
  public readonly role: iam.Role;
  /** The folder under `lambdas/` this function runs. */
  public readonly handlerFolder: string;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: LgtmFunctionProps) {
    super(scope, id);
    this.handlerFolder = props.handlerFolder;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // No AWSLambdaBasicExecutionRole: that policy allows writing to every log group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    if (props.vpc) this.allowVpcAccess();
    this.function = new lambda.Function(this, 'Function', {
      description: props.description,
      code: handlerCode(props.handlerFolder),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      retryAttempts: props.retryAttempts,
      onFailure: props.onFailure,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      timeout: props.timeout ?? Duration.minutes(1),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
    });
    // Failed asynchronous invocations go to the on-failure destination (a Lambda destination
    // carries the error and the event, a classic DLQ only the event); queue-triggered functions
    // rely on their queue's redrive policy instead.
    Validations.of(this.function).acknowledge({
      id: 'Serverless-LambdaTracing',
      reason:
        'Each handler logs one structured line per decision and emits Powertools metrics per outcome; X-Ray would add a wildcard xray:Put* grant and per-trace cost to short batch jobs.',
    });
    Validations.of(this.function).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: props.onFailure
        ? 'Failed asynchronous invocations go to an on-failure destination, which records the error as well as the event.'
        : 'Invoked through an SQS event source: failed messages reach the dead-letter queue by the queue redrive policy.',
    });
  }

  /** What Lambda needs of the role to attach the function to the VPC: CDK's choice for the roles it creates. */
  private allowVpcAccess(): void {
    const policy = iam.ManagedPolicy.fromAwsManagedPolicyName(VPC_ACCESS_POLICY);
    this.role.addManagedPolicy(policy);
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${VPC_ACCESS_POLICY}]`,
      reason:
        'Lambda creates and deletes the network interfaces of a VPC function with its role; their IDs are not known in advance, and DescribeNetworkInterfaces has no resource-level permissions.',
    });
  }
}
