import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as efs from 'aws-cdk-lib/aws-efs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Duration, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { serviceParameterName } from '../../lambdas/shared/contract';
import { BackendService, type ConfigFilesProps, type ConfigValue } from '../backend-service';
import { BACKENDS } from '../render/catalog';
import { deadLetterQueuePlaceholder, GRAFANA_SINGLE_QUOTED_ESCAPES } from '../render/grafana-alerts';
import type { GrafanaFile } from '../render/grafana-dashboards';
import { type ConfiguredComponentProps, serviceBasics } from './common';
import { restrictedLoadBalancer } from './load-balancer';

/** A Secrets Manager secret whose value the init container writes into a file in place of a placeholder. */
export interface SecretPlaceholder {
  /** Text of the file the value replaces. */
  readonly placeholder: string;
  /** Full ARN of the secret (with its random suffix). */
  readonly secretArn: string;
}

export interface GrafanaProps extends ConfiguredComponentProps {
  /**
   * The provisioning files: data sources, dashboards and alerting (see lib/render/grafana*.ts),
   * each stored as its own parameter under `<prefix>/config/grafana/`.
   */
  readonly files: readonly GrafanaFile[];
  /**
   * Names of the dead-letter queues the default alert watches (deploy-time values allowed):
   * name `i` replaces `deadLetterQueuePlaceholder(i)` in the files.
   * @default none
   */
  readonly deadLetterQueueNames?: readonly string[];
  /**
   * The secret holding the alert contact point URL, and its placeholder in the alerting file.
   * @default none: the files hold no secret
   */
  readonly alertContactUrlSecret?: SecretPlaceholder;
  /**
   * Put the load balancer on public subnets with an internet-facing scheme; needs `certificateArn`.
   * @default false
   */
  readonly internetFacing?: boolean;
  /**
   * Subnets of the load balancer.
   * @default the VPC's public subnets when internet-facing, its private subnets otherwise
   */
  readonly loadBalancerSubnets?: ec2.SubnetSelection;
  /**
   * ACM certificate: HTTPS on port 443, with port 80 redirected to it.
   * @default none: HTTP on port 80
   */
  readonly certificateArn?: string;
  /**
   * The DNS name users reach Grafana at (its root URL).
   * @default the load balancer's DNS name
   */
  readonly domainName?: string;
  /**
   * CIDRs allowed to reach the load balancer.
   * @default the VPC's CIDR (an empty list too)
   */
  readonly allowedCidrs?: readonly string[];
  /** Receives the load balancer's access logs, under `alb/grafana`. */
  readonly accessLogsBucket: s3.IBucket;
  /**
   * File system for Grafana's SQLite database.
   * @default none: users and UI-made changes are lost when the task is replaced (provisioned content is not)
   */
  readonly fileSystem?: efs.IFileSystem;
}

/** Grafana's files grouped by directory, each file its own parameter under `<prefix>/config/grafana/`. */
function grafanaConfigDirectories(
  parameterPrefix: string,
  files: readonly GrafanaFile[],
  values: readonly ConfigValue[],
): ConfigFilesProps[] {
  const directories = [...new Set(files.map((file) => file.directory))];
  return directories.map((directory) => ({
    directory,
    files: files
      .filter((file) => file.directory === directory)
      .map((file) => ({
        parameterName: serviceParameterName(parameterPrefix, 'grafana', file.key),
        content: file.content,
        fileName: file.fileName,
        tier: file.tier,
        values: values.filter((value) => file.content.includes(value.placeholder)),
      })),
  }));
}

/** Grafana's environment: a single admin user, no sign-up, no anonymous access, no phoning home. */
function grafanaEnvironment(url: string, https: boolean): Record<string, string> {
  return {
    GF_SECURITY_ADMIN_USER: 'admin',
    GF_SERVER_ROOT_URL: url,
    GF_SECURITY_COOKIE_SECURE: String(https),
    GF_USERS_ALLOW_SIGN_UP: 'false',
    GF_AUTH_ANONYMOUS_ENABLED: 'false',
    GF_ANALYTICS_REPORTING_ENABLED: 'false',
    GF_ANALYTICS_CHECK_FOR_UPDATES: 'false',
    GF_LOG_MODE: 'console',
  };
}

/** The pipeline dashboard and the dead-letter alert read CloudWatch through the task role. */
function allowCloudWatchReads(role: iam.IRole): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ReadCloudWatchMetrics',
      actions: ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics'],
      resources: ['*'],
    }),
  );
  Validations.of(role.node.tryFindChild('DefaultPolicy') ?? role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'cloudwatch:GetMetricData and cloudwatch:ListMetrics support no resource-level permissions.',
  });
}

/**
 * Grafana with one data source per tenant, an admin password generated into Secrets
 * Manager, behind a load balancer: internal by default, internet-facing with HTTPS
 * when a certificate is configured.
 */
export class Grafana extends Construct {
  public readonly backend: BackendService;
  public readonly adminSecret: secretsmanager.Secret;
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** The URL users open. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: GrafanaProps) {
    super(scope, id);
    const https = props.certificateArn !== undefined;
    if (props.internetFacing && !https) {
      throw new Error('an internet-facing grafana needs certificateArn, so that it is served over HTTPS only');
    }
    this.adminSecret = this.createAdminSecret();
    this.loadBalancer = this.createLoadBalancer(props, https);
    const host = props.domainName ?? this.loadBalancer.loadBalancerDnsName;
    this.url = `${https ? 'https' : 'http'}://${host}`;
    this.backend = this.createBackend(props, this.deployTimeValues(props), https);
    allowCloudWatchReads(this.backend.taskDefinition.taskRole);
    this.addListeners(props.certificateArn);
  }

  /** The admin password, generated once and never rotated. */
  private createAdminSecret(): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, 'AdminPassword', {
      description: 'lgtm-fleet Grafana admin password (user "admin")',
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Grafana reads GF_SECURITY_ADMIN_PASSWORD only when it first creates the admin user; a rotated secret would no longer match the real password.',
    });
    return secret;
  }

  /** The load balancer, open only on the ports its listeners will use. */
  private createLoadBalancer(props: GrafanaProps, https: boolean): elbv2.ApplicationLoadBalancer {
    const vpc = props.cluster.vpc;
    return restrictedLoadBalancer(this, 'LoadBalancer', {
      vpc,
      vpcSubnets: props.loadBalancerSubnets,
      internetFacing: props.internetFacing ?? false,
      allowedCidrs: props.allowedCidrs?.length ? props.allowedCidrs : [vpc.vpcCidrBlock],
      ports: https ? [443, 80] : [80],
      accessLogsBucket: props.accessLogsBucket,
      accessLogsPrefix: 'alb/grafana',
      description: 'lgtm-fleet Grafana',
    });
  }

  /**
   * The values the init container writes into the files: the dead-letter queue names and the
   * alert contact point URL secret.
   */
  private deployTimeValues(props: GrafanaProps): ConfigValue[] {
    const contactSecret = props.alertContactUrlSecret;
    // The queue names are deploy-time values: the alerting file (it holds `{{`, so it is stored
    // encoded) carries placeholders, and the init container writes the names in.
    const queueNames = props.deadLetterQueueNames ?? [];
    const values: ConfigValue[] = queueNames.map((name, index) => ({
      placeholder: deadLetterQueuePlaceholder(index),
      source: { value: name },
      // SQS queue names are letters, digits, `-` and `_`: nothing to escape.
      escapes: {},
      description: `the name of dead-letter queue ${index + 1}`,
    }));
    if (contactSecret) {
      values.push({
        placeholder: contactSecret.placeholder,
        source: {
          secret: ecs.Secret.fromSecretsManager(
            secretsmanager.Secret.fromSecretCompleteArn(this, 'AlertContactUrl', contactSecret.secretArn),
          ),
        },
        escapes: GRAFANA_SINGLE_QUOTED_ESCAPES,
        description: 'the alert contact point URL secret (grafana.alertContactPoint.urlSecretArn)',
      });
    }
    return values;
  }

  /** The service: one task at a time, its provisioning files, its data on the file system if any. */
  private createBackend(props: GrafanaProps, values: readonly ConfigValue[], https: boolean): BackendService {
    const spec = BACKENDS.grafana;
    return new BackendService(this, 'Backend', {
      ...serviceBasics(props),
      serviceName: 'grafana',
      ports: [spec.httpPort],
      config: grafanaConfigDirectories(props.parameterPrefix, props.files, values),
      data: props.fileSystem ? { kind: 'efs', path: spec.dataDir, uid: spec.uid, fileSystem: props.fileSystem } : undefined,
      // SQLite allows one writer.
      deployment: 'single-writer',
      stopTimeout: Duration.seconds(30),
      healthCheckGracePeriod: Duration.minutes(2),
      environment: grafanaEnvironment(this.url, https),
      secrets: {
        GF_SECURITY_ADMIN_PASSWORD: ecs.Secret.fromSecretsManager(this.adminSecret),
      },
    });
  }

  /** HTTPS on 443 with 80 redirected to it when a certificate is given, HTTP on 80 otherwise. */
  private addListeners(certificateArn: string | undefined): void {
    const spec = BACKENDS.grafana;
    const target = this.backend.service.loadBalancerTarget({ containerName: 'grafana', containerPort: spec.httpPort });
    const healthCheck: elbv2.HealthCheck = {
      path: spec.healthPath,
      healthyHttpCodes: '200',
      interval: Duration.seconds(15),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 3,
    };
    const listener =
      certificateArn === undefined
        ? this.loadBalancer.addListener('Http', { port: 80, protocol: elbv2.ApplicationProtocol.HTTP, open: false })
        : this.loadBalancer.addListener('Https', {
            port: 443,
            protocol: elbv2.ApplicationProtocol.HTTPS,
            certificates: [elbv2.ListenerCertificate.fromArn(certificateArn)],
            sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
            open: false,
          });
    listener.addTargets('Grafana', { port: spec.httpPort, protocol: elbv2.ApplicationProtocol.HTTP, targets: [target], healthCheck });
    if (certificateArn !== undefined) {
      this.loadBalancer.addRedirect({ sourcePort: 80, targetPort: 443, open: false });
    }
  }
}
