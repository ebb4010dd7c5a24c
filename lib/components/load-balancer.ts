import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Duration, Stack, Token, Validations } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';
import type { Network } from '../network';

export interface LoadBalancerProps {
  readonly network: Network;
  /** Public subnets and an internet-facing scheme instead of private subnets. */
  readonly internetFacing: boolean;
  /** CIDRs allowed to reach the listener ports. */
  readonly allowedCidrs: readonly string[];
  /** Security groups allowed to reach the listener ports. */
  readonly allowedSecurityGroupIds?: readonly string[];
  readonly ports: readonly number[];
  readonly accessLogsBucket: s3.IBucket;
  readonly accessLogsPrefix: string;
  readonly description: string;
}

/**
 * An application load balancer reachable only from the given CIDRs and security groups,
 * dropping malformed headers and logging every request.
 */
export function restrictedLoadBalancer(scope: Construct, id: string, props: LoadBalancerProps): elbv2.ApplicationLoadBalancer {
  const securityGroup = new ec2.SecurityGroup(scope, `${id}SecurityGroup`, {
    vpc: props.network.vpc,
    description: props.description,
    allowAllOutbound: false,
  });
  for (const port of props.ports) {
    for (const cidr of props.allowedCidrs) {
      securityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), `${props.description} from ${cidr}`);
    }
    for (const [index, groupId] of (props.allowedSecurityGroupIds ?? []).entries()) {
      const peer = ec2.SecurityGroup.fromSecurityGroupId(scope, `${id}Allowed${index}Port${port}`, groupId, { mutable: false });
      securityGroup.addIngressRule(peer, ec2.Port.tcp(port), `${props.description} from ${groupId}`);
    }
  }
  if (props.allowedCidrs.some((cidr) => Token.isUnresolved(cidr))) {
    Validations.of(securityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: "Ingress is limited to the VPC's own CIDR, which is only known at deploy time (the rule cannot evaluate the token).",
    });
  } else if (props.allowedCidrs.includes('0.0.0.0/0')) {
    Validations.of(securityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: 'The configuration explicitly allows 0.0.0.0/0 for this internet-facing, HTTPS-only listener.',
    });
  }
  const loadBalancer = new elbv2.ApplicationLoadBalancer(scope, id, {
    vpc: props.network.vpc,
    internetFacing: props.internetFacing,
    vpcSubnets: props.internetFacing ? props.network.publicSubnets : props.network.privateSubnets,
    securityGroup,
    dropInvalidHeaderFields: true,
    idleTimeout: Duration.seconds(120),
  });
  if (Token.isUnresolved(Stack.of(scope).region)) {
    Validations.of(loadBalancer).acknowledge({
      id: 'AwsSolutions-ELB2',
      reason:
        'The stack is environment-agnostic (no env.region in the config), so the regional log-delivery principal of ELB cannot be resolved at synth time; set env.region to turn access logs on.',
    });
  } else {
    loadBalancer.logAccessLogs(props.accessLogsBucket, props.accessLogsPrefix);
  }
  return loadBalancer;
}
