import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Grafana, type GrafanaProps } from '../../lib/components/grafana';
import { componentBasics, logicalIdOf, resourcesOf, testStack } from '../helpers';

/** Grafana alone, with one data source file and the props given. */
function grafana(props: Partial<GrafanaProps> = {}): Template {
  const stack = testStack();
  new Grafana(stack, 'Grafana', {
    ...componentBasics(stack),
    parameterPrefix: '/Test',
    image: 'grafana/grafana:13.2.1',
    size: { cpu: 512, memoryMiB: 1024 },
    files: [
      {
        key: 'mimir',
        directory: '/etc/grafana/provisioning/datasources',
        fileName: 'mimir.yaml',
        content: 'apiVersion: 1\n',
        tier: 'standard',
      },
    ],
    accessLogsBucket: new s3.Bucket(stack, 'AccessLogs'),
    ...props,
  });
  return Template.fromStack(stack);
}

/** CIDR sources of the load balancer's security group. */
function allowedSources(template: Template): unknown[] {
  const id = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'GrafanaLoadBalancerSecurityGroup');
  return (resourcesOf(template, 'AWS::EC2::SecurityGroup')[id].Properties.SecurityGroupIngress as Array<{ CidrIp: unknown }>).map(
    (rule) => rule.CidrIp,
  );
}

describe('grafana', () => {
  test('each file is a parameter under <prefix>/config/grafana/', () => {
    grafana().hasResourceProperties('AWS::SSM::Parameter', { Name: '/Test/config/grafana/mimir', Value: 'apiVersion: 1\n' });
  });

  test("only the VPC's CIDR reaches it unless CIDRs are given (an empty list too)", () => {
    const vpcCidr = { 'Fn::GetAtt': [expect.stringMatching(/^Vpc/), 'CidrBlock'] };
    expect(allowedSources(grafana())).toEqual([vpcCidr]);
    expect(allowedSources(grafana({ allowedCidrs: [] }))).toEqual([vpcCidr]);
    expect(allowedSources(grafana({ allowedCidrs: ['10.9.0.0/24'] }))).toEqual(['10.9.0.0/24']);
  });

  test('internet-facing without a certificate is refused: it would serve passwords over HTTP', () => {
    expect(() => grafana({ internetFacing: true })).toThrow('an internet-facing grafana needs certificateArn');
  });
});
