import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { RemovalPolicy } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import type { LgtmConfig } from './config/schema';

export interface NetworkProps {
  /** How to obtain the VPC: create one, or import an existing one by ID (no context lookup). */
  readonly vpc: LgtmConfig['network']['vpc'];
  /** Name of the Cloud Map private DNS namespace every service registers in. */
  readonly namespaceName: string;
}

/**
 * The shared private network: the VPC, the ECS cluster (Container Insights on) and the
 * Cloud Map namespace that replaces the seed's `mimir-net` Docker network.
 */
export class Network extends Construct {
  public readonly vpc: ec2.IVpc;
  /** The VPC's primary CIDR (a token for a created VPC). */
  public readonly vpcCidr: string;
  /** Subnets the tasks and internal load balancers run in. */
  public readonly privateSubnets: ec2.SubnetSelection;
  /** Subnets for an internet-facing load balancer, when the VPC has them. */
  public readonly publicSubnets?: ec2.SubnetSelection;
  public readonly cluster: ecs.Cluster;
  public readonly namespace: servicediscovery.PrivateDnsNamespace;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);

    if (props.vpc.mode === 'create') {
      const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
        retention: props.vpc.flowLogRetentionDays as logs.RetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const vpc = new ec2.Vpc(this, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr(props.vpc.cidr),
        maxAzs: props.vpc.maxAzs,
        natGateways: props.vpc.natGateways,
        subnetConfiguration: [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
          { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        ],
        flowLogs: {
          all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: ec2.FlowLogTrafficType.ALL },
        },
        // S3 traffic (the bulk of the data) stays off the NAT gateway for free.
        gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      });
      if (props.vpc.interfaceEndpoints) {
        const services: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
          EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
          EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
          Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
          SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
          Ssm: ec2.InterfaceVpcEndpointAwsService.SSM,
        };
        for (const [name, service] of Object.entries(services)) {
          vpc.addInterfaceEndpoint(name, { service, subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } });
        }
      }
      this.vpc = vpc;
      this.vpcCidr = vpc.vpcCidrBlock;
      this.privateSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
      this.publicSubnets = { subnetType: ec2.SubnetType.PUBLIC };
    } else {
      const imported = props.vpc;
      const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: imported.vpcId,
        vpcCidrBlock: imported.vpcCidr,
        availabilityZones: imported.availabilityZones,
        privateSubnetIds: imported.privateSubnetIds,
        privateSubnetRouteTableIds: imported.privateSubnetRouteTableIds,
        publicSubnetIds: imported.publicSubnetIds,
        publicSubnetRouteTableIds: imported.publicSubnetRouteTableIds,
      });
      if (imported.createS3GatewayEndpoint) {
        vpc.addGatewayEndpoint('S3', {
          service: ec2.GatewayVpcEndpointAwsService.S3,
          subnets: [{ subnets: vpc.privateSubnets }],
        });
      }
      this.vpc = vpc;
      this.vpcCidr = imported.vpcCidr;
      this.privateSubnets = { subnets: vpc.privateSubnets };
      this.publicSubnets = imported.publicSubnetIds ? { subnets: vpc.publicSubnets } : undefined;
    }

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    this.namespace = new servicediscovery.PrivateDnsNamespace(this, 'Namespace', {
      name: props.namespaceName,
      vpc: this.vpc,
      description: 'Shared private network of the lgtm-fleet services',
    });
  }
}
