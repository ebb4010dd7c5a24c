import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { CREDENTIAL_KEYS, credentialSecretPrefixOf, NO_PREVIOUS_CREDENTIAL, serviceParameterName } from '../../lambdas/shared/contract';
import { BackendService, type ConfigValue } from '../backend-service';
import { METRICS_NAMESPACE } from '../lgtm-function';
import {
  CREDENTIAL_KINDS,
  CREDENTIAL_LENGTH,
  type CredentialKind,
  credentialEscapes,
  credentialPlaceholder,
  GATEWAY_HEALTH_PATH,
  GATEWAY_PORT,
  GATEWAY_SERVICE_NAME,
  GATEWAY_TASK_FILES,
  LOAD_BALANCER_CIDR_PLACEHOLDER,
} from '../render/gateway';
import { type ConfiguredComponentProps, serviceBasics } from './common';

/** Where the gateway's nginx.conf appears in its container. */
export const GATEWAY_CONFIG_DIR = '/etc/lgtm-gateway';
/**
 * The gateway's CloudWatch metrics (namespace `LgtmFleet`, dimension `service`), counted from its
 * access log: writes refused for want of a known credential, and writes bound by their header
 * (`migrate` mode; by tenant), which must reach zero before `enforce`.
 */
export const GATEWAY_METRICS = { refused: 'IngestWritesRefused', unbound: 'IngestWritesUnbound' } as const;

export interface GatewayProps extends ConfiguredComponentProps {
  /** The tenants, in the order the config's credential placeholders follow: tenant `i` replaces `credentialPlaceholder(i, kind)`. */
  readonly tenants: readonly string[];
  /** The rendered nginx.conf (see lib/render/gateway.ts), with the load balancer's CIDR as `LOAD_BALANCER_CIDR_PLACEHOLDER`. */
  readonly configFile: string;
  /** Where the load balancer's requests come from (the VPC's CIDR; a deploy-time value), written in at task start. */
  readonly loadBalancerCidr: string;
  /**
   * Gateway tasks, replaced one at a time.
   * @default 2
   */
  readonly replicas?: number;
}

/** The Secrets Manager name of a tenant's `kind` credential, e.g. `LgtmFleet/write-credential/team-a`. */
export function credentialName(stackName: string, tenant: string, kind: CredentialKind = 'write'): string {
  return `${credentialSecretPrefixOf(stackName, kind)}${tenant}`;
}

const CREDENTIAL_USE: Record<CredentialKind, string> = {
  write: 'send it as "Authorization: Bearer <value>" to the ingest endpoint',
  agent: 'the enrolled instances of the tenant receive it with the install command',
};

/**
 * The ingest gateway (nginx, lib/render/gateway.ts) on Fargate: it decides the tenant of every
 * write from the sender's credential. Each tenant's write credential is
 * generated into Secrets Manager and written into the config by the init container when a task
 * starts; rotating one means a new value and a new deployment of the gateway.
 */
export class Gateway extends Construct {
  public readonly backend: BackendService;
  /** Each tenant's write credential (other senders), by tenant. */
  public readonly credentials: ReadonlyMap<string, secretsmanager.Secret>;
  /** Each tenant's agent credential (its enrolled instances), by tenant. */
  public readonly agentCredentials: ReadonlyMap<string, secretsmanager.Secret>;

  constructor(scope: Construct, id: string, props: GatewayProps) {
    super(scope, id);
    this.credentials = this.createCredentials(props.tenants, 'write');
    this.agentCredentials = this.createCredentials(props.tenants, 'agent');
    this.backend = this.createBackend(props);
    this.addTempVolume();
    this.addMetrics();
  }

  /** {@link GATEWAY_METRICS} from the access log's JSON lines (nginx's own messages are not JSON and never match). */
  private addMetrics(): void {
    const service = '$.service';
    new logs.MetricFilter(this, 'WritesRefused', {
      logGroup: this.backend.logGroup,
      filterPattern: logs.FilterPattern.all(
        logs.FilterPattern.stringValue(service, '=', GATEWAY_SERVICE_NAME),
        logs.FilterPattern.numberValue('$.status', '=', 401),
      ),
      metricNamespace: METRICS_NAMESPACE,
      metricName: GATEWAY_METRICS.refused,
      metricValue: '1',
      dimensions: { service },
    });
    new logs.MetricFilter(this, 'WritesUnbound', {
      logGroup: this.backend.logGroup,
      filterPattern: logs.FilterPattern.all(
        logs.FilterPattern.stringValue(service, '=', GATEWAY_SERVICE_NAME),
        logs.FilterPattern.stringValue('$.binding', '=', 'header'),
        logs.FilterPattern.numberValue('$.status', '!=', 401),
      ),
      metricNamespace: METRICS_NAMESPACE,
      metricName: GATEWAY_METRICS.unbound,
      metricValue: '1',
      // One of tenants.allowed: the gateway passes no other tenant unbound.
      dimensions: { service, tenant: '$.bound_tenant' },
    });
  }

  /** One generated `kind` credential per tenant, named `<stack>/<kind>-credential/<tenant>`. */
  private createCredentials(tenants: readonly string[], kind: CredentialKind): Map<string, secretsmanager.Secret> {
    const scope = new Construct(this, kind === 'write' ? 'WriteCredentials' : 'AgentCredentials');
    const stackName = Stack.of(this).stackName;
    const credentials = new Map<string, secretsmanager.Secret>();
    for (const tenant of tenants) {
      const secret = new secretsmanager.Secret(scope, tenant, {
        secretName: credentialName(stackName, tenant, kind),
        description: `lgtm-fleet ${kind} credential of tenant ${tenant}: ${CREDENTIAL_USE[kind]}`,
        // JSON: the credential in use, and the one it replaced (none yet), which the gateway accepts
        // too while senders move to a new one (docs/security.md). Lowercase letters and digits:
        // nginx matches its map keys without regard to case, so uppercase would add nothing (64
        // characters of 36 are over 330 bits).
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ previous: NO_PREVIOUS_CREDENTIAL }),
          generateStringKey: 'current',
          passwordLength: CREDENTIAL_LENGTH,
          excludePunctuation: true,
          excludeUppercase: true,
          includeSpace: false,
        },
        // Removing a tenant revokes its credential: the gateway no longer accepts it, and the secret
        // goes too (recoverable for Secrets Manager's recovery window) rather than lingering valid-looking.
        removalPolicy: RemovalPolicy.DESTROY,
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotated by hand: the senders holding the credential must receive the new value, which no rotation Lambda can hand them; put a new value, roll the gateway (docs/security.md).',
      });
      credentials.set(tenant, secret);
    }
    return credentials;
  }

  /** The nginx service: its config from Parameter Store, each tenant's credential written in by the init container. */
  private createBackend(props: GatewayProps): BackendService {
    const secrets: Record<CredentialKind, ReadonlyMap<string, secretsmanager.Secret>> = {
      write: this.credentials,
      agent: this.agentCredentials,
    };
    const credentialValues: ConfigValue[] = props.tenants.flatMap((tenant, index) =>
      CREDENTIAL_KINDS.flatMap((kind) =>
        CREDENTIAL_KEYS.map((key) => ({
          placeholder: credentialPlaceholder(index, kind, key),
          source: { secret: ecs.Secret.fromSecretsManager(secrets[kind].get(tenant) as secretsmanager.Secret, key) },
          escapes: credentialEscapes(key),
          description: `the ${key} ${kind} credential of tenant ${tenant}`,
        })),
      ),
    );
    const values: ConfigValue[] = [
      ...credentialValues,
      {
        placeholder: LOAD_BALANCER_CIDR_PLACEHOLDER,
        source: { value: props.loadBalancerCidr },
        // Digits, dots and a slash: nothing to escape.
        escapes: {},
        description: "the load balancer's CIDR",
      },
    ];
    return new BackendService(this, 'Backend', {
      ...serviceBasics(props),
      serviceName: 'gateway',
      // nginx with its own config straight away: the image's entry point would first run its
      // templates and edits of /etc/nginx/conf.d, which this config does not use.
      entryPoint: ['nginx', '-c', `${GATEWAY_CONFIG_DIR}/nginx.conf`, '-g', 'daemon off;'],
      ports: [GATEWAY_PORT],
      config: [
        {
          directory: GATEWAY_CONFIG_DIR,
          files: [
            {
              parameterName: serviceParameterName(props.parameterPrefix, 'gateway'),
              content: props.configFile,
              fileName: 'nginx.conf',
              values,
              // One line per tenant: the file grows with the configuration.
              tier: 'advanced',
            },
          ],
        },
      ],
      replicas: props.replicas ?? 2,
      // Stateless: a new task starts before an old one stops, the others serve throughout.
      deployment: 'rolling',
      stopTimeout: Duration.seconds(30),
      healthCheckGracePeriod: Duration.minutes(1),
      // Alpine's busybox wget: the health path is answered by nginx itself.
      healthCheck: {
        command: ['CMD-SHELL', `wget -q -O /dev/null http://127.0.0.1:${GATEWAY_PORT}${GATEWAY_HEALTH_PATH} || exit 1`],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(10),
      },
    });
  }

  /** An empty task volume as nginx's temp directory: nginx creates its sub-directories, not the directory itself. */
  private addTempVolume(): void {
    this.backend.taskDefinition.addVolume({ name: 'nginx-temp' });
    this.backend.container.addMountPoints({ sourceVolume: 'nginx-temp', containerPath: GATEWAY_TASK_FILES.tempDir, readOnly: false });
  }
}
