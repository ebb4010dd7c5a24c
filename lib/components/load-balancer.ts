import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Duration, Stack, Token, Validations } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';

export interface LoadBalancerProps {
  /** The VPC of the load balancer and its security group. */
  readonly vpc: ec2.IVpc;
  /**
   * Subnets of the load balancer.
   * @default the VPC's public subnets when internet-facing, its private subnets otherwise
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** An internet-facing scheme instead of an internal one. */
  readonly internetFacing: boolean;
  /** CIDRs allowed to reach the listener ports. */
  readonly allowedCidrs: readonly string[];
  /**
   * Security groups allowed to reach the listener ports.
   * @default none
   */
  readonly allowedSecurityGroupIds?: readonly string[];
  /** Ports the listeners will use: the only ones the security group opens. */
  readonly ports: readonly number[];
  /** Receives the access logs (when the stack's region is known at synth time). */
  readonly accessLogsBucket: s3.IBucket;
  /** Key prefix of the access logs in `accessLogsBucket`. */
  readonly accessLogsPrefix: string;
  /** Description of the security group, and of each of its rules. */
  readonly description: string;
}

/**
 * An application load balancer reachable only from the given CIDRs and security groups,
 * dropping malformed headers and logging every request.
 */
export function restrictedLoadBalancer(scope: Construct, id: string, props: LoadBalancerProps): elbv2.ApplicationLoadBalancer {
  const securityGroup = new ec2.SecurityGroup(scope, `${id}SecurityGroup`, {
    vpc: props.vpc,
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
    vpc: props.vpc,
    internetFacing: props.internetFacing,
    vpcSubnets: props.vpcSubnets,
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
