import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as efs from 'aws-cdk-lib/aws-efs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Duration, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { BackendService, type ConfigFilesProps, type ConfigValue } from '../backend-service';
import { BACKENDS, backendParameterName } from '../render/catalog';
import { renderGrafanaDatasourceFiles } from '../render/grafana';
import {
  alertContactUrlSecret,
  deadLetterQueuePlaceholder,
  GRAFANA_SINGLE_QUOTED_ESCAPES,
  renderGrafanaAlertFiles,
} from '../render/grafana-alerts';
import { GRAFANA_DIRECTORIES, type GrafanaFile, renderGrafanaDashboardFiles } from '../render/grafana-dashboards';
import type { ComponentProps } from './common';
import { restrictedLoadBalancer } from './load-balancer';

export interface GrafanaProps extends ComponentProps {
  readonly accessLogsBucket: s3.IBucket;
  /**
   * File system for Grafana's SQLite database.
   * @default none: users and UI-made changes are lost when the task is replaced (provisioned content is not)
   */
  readonly fileSystem?: efs.FileSystem;
  /** Dead-letter queues the default alert watches (names may be tokens). */
  readonly deadLetterQueueNames?: readonly string[];
}

/** Grafana's files grouped by directory, each file its own parameter under `/<stack>/config/grafana/`. */
function grafanaConfigDirectories(
  config: ComponentProps['config'],
  files: readonly GrafanaFile[],
  values: readonly ConfigValue[],
): ConfigFilesProps[] {
  const directories = [...new Set(files.map((file) => file.directory))];
  return directories.map((directory) => ({
    directory,
    files: files
      .filter((file) => file.directory === directory)
      .map((file) => ({
        parameterName: `${backendParameterName(config, 'grafana')}/${file.key}`,
        content: file.content,
        fileName: file.fileName,
        tier: file.tier,
        values: values.filter((value) => file.content.includes(value.placeholder)),
      })),
  }));
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
    const { config } = props;
    const spec = BACKENDS.grafana;
    const https = config.grafana.certificateArn !== undefined;

    this.adminSecret = new secretsmanager.Secret(this, 'AdminPassword', {
      description: 'lgtm-fleet Grafana admin password (user "admin")',
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    Validations.of(this.adminSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Grafana reads GF_SECURITY_ADMIN_PASSWORD only when it first creates the admin user; a rotated secret would no longer match the real password.',
    });

    this.loadBalancer = restrictedLoadBalancer(this, 'LoadBalancer', {
      network: props.network,
      internetFacing: config.grafana.internetFacing,
      allowedCidrs: config.grafana.allowedCidrs.length > 0 ? config.grafana.allowedCidrs : [props.network.vpcCidr],
      ports: https ? [443, 80] : [80],
      accessLogsBucket: props.accessLogsBucket,
      accessLogsPrefix: 'alb/grafana',
      description: 'lgtm-fleet Grafana',
    });
    const host = config.grafana.domainName ?? this.loadBalancer.loadBalancerDnsName;
    this.url = `${https ? 'https' : 'http'}://${host}`;

    const contactSecret = alertContactUrlSecret(config);
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
    this.backend = new BackendService(this, 'Backend', {
      network: props.network,
      serviceName: 'grafana',
      image: config.images.grafana,
      registry: props.registry,
      size: config.services.grafana,
      ports: [spec.httpPort],
      logRetentionDays: config.retention.containerLogsDays,
      config: grafanaConfigDirectories(
        config,
        [
          ...renderGrafanaDatasourceFiles({ config, deploy: props.deploy }).map((file) => ({
            ...file,
            directory: GRAFANA_DIRECTORIES.datasources,
          })),
          ...renderGrafanaDashboardFiles({ config, deploy: props.deploy }),
          ...renderGrafanaAlertFiles({
            config,
            deploy: { ...props.deploy, deadLetterQueueNames: queueNames.map((_, index) => deadLetterQueuePlaceholder(index)) },
          }),
        ],
        values,
      ),
      configInitImage: config.images.configInit,
      data: props.fileSystem ? { kind: 'efs', path: spec.dataDir, uid: spec.uid, fileSystem: props.fileSystem } : undefined,
      // SQLite allows one writer.
      deployment: 'single-writer',
      stopTimeout: Duration.seconds(30),
      healthCheckGracePeriod: Duration.minutes(2),
      environment: {
        GF_SECURITY_ADMIN_USER: 'admin',
        GF_SERVER_ROOT_URL: this.url,
        GF_SECURITY_COOKIE_SECURE: String(https),
        GF_USERS_ALLOW_SIGN_UP: 'false',
        GF_AUTH_ANONYMOUS_ENABLED: 'false',
        GF_ANALYTICS_REPORTING_ENABLED: 'false',
        GF_ANALYTICS_CHECK_FOR_UPDATES: 'false',
        GF_LOG_MODE: 'console',
      },
      secrets: {
        GF_SECURITY_ADMIN_PASSWORD: ecs.Secret.fromSecretsManager(this.adminSecret),
      },
    });

    // The pipeline dashboard and the dead-letter alert read CloudWatch through the task role.
    const role = this.backend.taskDefinition.taskRole;
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

    const target = this.backend.service.loadBalancerTarget({ containerName: 'grafana', containerPort: spec.httpPort });
    const healthCheck: elbv2.HealthCheck = {
      path: spec.healthPath,
      healthyHttpCodes: '200',
      interval: Duration.seconds(15),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 3,
    };
    if (https) {
      const listener = this.loadBalancer.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(config.grafana.certificateArn as string)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: false,
      });
      listener.addTargets('Grafana', { port: spec.httpPort, protocol: elbv2.ApplicationProtocol.HTTP, targets: [target], healthCheck });
      this.loadBalancer.addRedirect({ sourcePort: 80, targetPort: 443, open: false });
    } else {
      const listener = this.loadBalancer.addListener('Http', { port: 80, protocol: elbv2.ApplicationProtocol.HTTP, open: false });
      listener.addTargets('Grafana', { port: spec.httpPort, protocol: elbv2.ApplicationProtocol.HTTP, targets: [target], healthCheck });
    }
  }
}
