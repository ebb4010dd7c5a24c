import { Arn, ArnFormat, Stack } from 'aws-cdk-lib/core';
import type { IConstruct } from 'constructs';

/** Every EC2 instance of the stack's account and region: enrollment targets are not known in advance. */
export function anyInstanceArn(scope: IConstruct): string {
  return Arn.format({ service: 'ec2', resource: 'instance', resourceName: '*' }, Stack.of(scope));
}

/** Every Auto Scaling group of the stack's account and region: any group may opt into lifecycle-hook enrollment. */
export function anyAutoScalingGroupArn(scope: IConstruct): string {
  return Arn.format(
    {
      service: 'autoscaling',
      resource: 'autoScalingGroup',
      resourceName: '*:autoScalingGroupName/*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    },
    Stack.of(scope),
  );
}
