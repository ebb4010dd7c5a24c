import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Duration } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { BACKENDS } from '../render/catalog';
import { GATEWAY_HEALTH_PATH, GATEWAY_PORT } from '../render/gateway';
import type { Gateway } from './gateway';
import { restrictedLoadBalancer } from './load-balancer';

/** A service the gateway routes to: one of its container ports becomes a load balancer target. */
export interface IngestBackend {
  /** The target for one container port (an ECS service's own method). */
  loadBalancerTarget(options: ecs.LoadBalancerTargetOptions): ecs.IEcsLoadBalancerTarget;
}

export interface IngestGatewayProps {
  /** The VPC of the (internal) load balancer. */
  readonly vpc: ec2.IVpc;
  /**
   * Subnets of the load balancer.
   * @default the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * CIDRs allowed to push telemetry.
   * @default the VPC's CIDR (an empty list too)
   */
  readonly allowedCidrs?: readonly string[];
  /**
   * Security groups allowed to push telemetry (e.g. the instances' group).
   * @default none
   */
  readonly allowedSecurityGroupIds?: readonly string[];
  /** Mimir's service: Prometheus remote write and OTLP metrics. */
  readonly mimir: IngestBackend;
  /** Loki's service: Loki push and OTLP logs. */
  readonly loki: IngestBackend;
  /** Tempo's service: OTLP/HTTP traces. */
  readonly tempo: IngestBackend;
  /** Receives the load balancer's access logs, under `alb/ingest`. */
  readonly accessLogsBucket: s3.IBucket;
  /**
   * The tenant-binding gateway: every ingest route goes to it, and the backends are no target.
   * @default none: each route goes straight to its backend
   */
  readonly gateway?: Gateway;
}

/** One ingest route: paths on the gateway → a backend port, health-checked on `/ready`. */
interface IngestRoute {
  readonly id: string;
  readonly priority: number;
  readonly paths: string[];
  readonly backend: IngestBackend;
  readonly containerName: string;
  readonly port: number;
  /** Port serving `/ready`, when it differs from the traffic port. */
  readonly healthPort?: number;
}

/** How every target group of the load balancer checks its targets. */
const HEALTH_CHECK_TIMING = {
  healthyHttpCodes: '200',
  interval: Duration.seconds(15),
  healthyThresholdCount: 2,
  unhealthyThresholdCount: 3,
} as const;

/**
 * The stable internal endpoint agents push to: an internal load balancer routing
 * Prometheus remote write to Mimir, Loki push to Loki and OTLP/HTTP traces to Tempo (or every
 * route to the tenant-binding gateway in front of them), reachable only from the configured
 * CIDRs and security groups.
 */
export class IngestGateway extends Construct {
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  public readonly listener: elbv2.ApplicationListener;
  /** Base URL, e.g. `http://internal-….elb.amazonaws.com`. */
  public readonly url: string;
  /** Prometheus remote-write URL (Mimir). */
  public readonly metricsUrl: string;
  /** Loki push URL. */
  public readonly logsUrl: string;
  /** OTLP/HTTP base URL for traces (the exporter appends `/v1/traces`). */
  public readonly tracesUrl: string;
  /** The tenant-binding gateway every route goes to, when there is one. */
  public readonly gateway?: Gateway;

  constructor(scope: Construct, id: string, props: IngestGatewayProps) {
    super(scope, id);
    const port = 80;
    this.loadBalancer = restrictedLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      internetFacing: false,
      allowedCidrs: props.allowedCidrs?.length ? props.allowedCidrs : [props.vpc.vpcCidrBlock],
      allowedSecurityGroupIds: props.allowedSecurityGroupIds,
      ports: [port],
      accessLogsBucket: props.accessLogsBucket,
      accessLogsPrefix: 'alb/ingest',
      description: 'lgtm-fleet telemetry ingest',
    });
    this.listener = this.loadBalancer.addListener('Http', {
      port,
      protocol: elbv2.ApplicationProtocol.HTTP,
      open: false,
      defaultAction: elbv2.ListenerAction.fixedResponse(404, {
        contentType: 'text/plain',
        messageBody: 'lgtm-fleet ingest: unknown path (use /api/v1/push, /loki/api/v1/push or /v1/traces)',
      }),
    });

    const routes: IngestRoute[] = [
      {
        id: 'Mimir',
        priority: 10,
        paths: ['/api/v1/push', '/otlp/v1/metrics'],
        backend: props.mimir,
        containerName: 'mimir',
        port: BACKENDS.mimir.httpPort,
      },
      {
        id: 'Loki',
        priority: 20,
        paths: ['/loki/api/v1/push', '/otlp/v1/logs'],
        backend: props.loki,
        containerName: 'loki',
        port: BACKENDS.loki.httpPort,
      },
      {
        id: 'Tempo',
        priority: 30,
        paths: ['/v1/traces'],
        backend: props.tempo,
        containerName: 'tempo',
        port: BACKENDS.tempo.otlpHttpPort,
        healthPort: BACKENDS.tempo.httpPort,
      },
    ];
    this.gateway = props.gateway;
    if (props.gateway) this.routeToGateway(routes, props.gateway);
    else this.routeToBackends(routes);

    this.url = `http://${this.loadBalancer.loadBalancerDnsName}`;
    this.metricsUrl = `${this.url}/api/v1/push`;
    this.logsUrl = `${this.url}/loki/api/v1/push`;
    this.tracesUrl = this.url;
  }

  /** Each route to its backend's port, health-checked on the backend's `/ready`. */
  private routeToBackends(routes: readonly IngestRoute[]): void {
    for (const route of routes) {
      const target = route.backend.loadBalancerTarget({ containerName: route.containerName, containerPort: route.port });
      this.listener.addTargets(route.id, {
        priority: route.priority,
        conditions: [elbv2.ListenerCondition.pathPatterns(route.paths)],
        port: route.port,
        protocol: elbv2.ApplicationProtocol.HTTP,
        targets: [target],
        deregistrationDelay: Duration.seconds(15),
        healthCheck: {
          path: '/ready',
          port: route.healthPort ? String(route.healthPort) : undefined,
          ...HEALTH_CHECK_TIMING,
        },
      });
      if (route.healthPort) {
        target.connections.allowFrom(this.loadBalancer, ec2.Port.tcp(route.healthPort), 'ingest health check');
      }
    }
  }

  /** Every route, with its priority, to the gateway's one target group; the gateway then accepts the load balancer only. */
  private routeToGateway(routes: readonly IngestRoute[], gateway: Gateway): void {
    const targetGroup = new elbv2.ApplicationTargetGroup(this, 'GatewayGroup', {
      vpc: this.loadBalancer.vpc,
      port: GATEWAY_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [gateway.backend.service.loadBalancerTarget({ containerName: 'gateway', containerPort: GATEWAY_PORT })],
      deregistrationDelay: Duration.seconds(15),
      healthCheck: { path: GATEWAY_HEALTH_PATH, ...HEALTH_CHECK_TIMING },
    });
    for (const route of routes) {
      this.listener.addTargetGroups(route.id, {
        priority: route.priority,
        conditions: [elbv2.ListenerCondition.pathPatterns(route.paths)],
        targetGroups: [targetGroup],
      });
    }
  }
}
