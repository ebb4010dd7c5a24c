import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AgentConfigs } from '../../lib/agents/agent-configs';
import { logicalIdOf, resourcesOf, testAgentConfigs, testStack } from '../helpers';

describe('agent configs', () => {
  const stack = testStack();
  const agents = testAgentConfigs(stack, ['team-a', 'team-b']);
  const reader = new iam.Role(stack, 'Reader', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  agents.grantRead(reader, 'ReadAgentConfigs');
  const template = Template.fromStack(stack);

  test('one Command document per platform, installing and reloading Alloy with the embedded script', () => {
    const documents = Object.values(resourcesOf(template, 'AWS::SSM::Document')).map((d) => d.Properties);
    expect(documents).toHaveLength(2);
    const plugins = documents.map((d) => (d.Content as { mainSteps: Array<{ action: string }> }).mainSteps[0].action).sort();
    expect(plugins).toEqual(['aws:runPowerShellScript', 'aws:runShellScript']);
    for (const d of documents) expect(d).toMatchObject({ DocumentType: 'Command', DocumentFormat: 'JSON', UpdateMethod: 'NewVersion' });
  });

  test('one advanced parameter per tenant and platform, under <prefix>/agent/, holding that config', () => {
    const parameters = Object.values(resourcesOf(template, 'AWS::SSM::Parameter')).map((p) => p.Properties);
    expect(parameters.map((p) => [p.Name, p.Value, p.Tier])).toEqual(
      ['team-a', 'team-b'].flatMap((tenant) =>
        ['linux', 'windows'].map((platform) => [`/Test/agent/${tenant}/${platform}`, `// ${tenant} on ${platform}`, 'Advanced']),
      ),
    );
    expect(Object.keys(agents.parameters)).toEqual(['team-a/linux', 'team-a/windows', 'team-b/linux', 'team-b/windows']);
    expect(agents.tenants).toEqual(['team-a', 'team-b']);
    expect(agents.parameterPrefix).toBe('/Test');
  });

  test('grantRead allows GetParameters on exactly these parameters, under the statement ID given', () => {
    const statements = Object.values(resourcesOf(template, 'AWS::IAM::Policy')).flatMap(
      (p) => (p.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement,
    );
    expect(statements).toHaveLength(1);
    const parameterIds = Object.keys(resourcesOf(template, 'AWS::SSM::Parameter'));
    expect(statements[0]).toMatchObject({ Sid: 'ReadAgentConfigs', Action: 'ssm:GetParameters', Effect: 'Allow' });
    const resources = JSON.stringify(statements[0].Resource);
    for (const id of parameterIds) expect(resources).toContain(id);
    expect(resources).not.toContain('*');
  });

  test('documentArns name both documents, no wildcard', () => {
    const arns = stack.resolve(agents.documentArns) as unknown[];
    expect(arns).toHaveLength(2);
    const text = JSON.stringify(arns);
    expect(text).toContain(logicalIdOf(template, 'AWS::SSM::Document', 'AgentsLinuxDocument'));
    expect(text).toContain(logicalIdOf(template, 'AWS::SSM::Document', 'AgentsWindowsDocument'));
    expect(text).toContain(':document/');
    expect(text).not.toContain('*');
  });

  test('refuses no tenants and tenant IDs that cannot name a parameter, naming the value', () => {
    const props = (tenants: string[]) => ({
      parameterPrefix: '/Test',
      tenants: tenants.map((tenant) => ({ tenant, configs: { linux: 'x', windows: 'x' } })),
    });
    expect(() => new AgentConfigs(testStack(), 'Agents', props([]))).toThrow('agent configs need at least one tenant');
    expect(() => new AgentConfigs(testStack(), 'Agents', props(['team a']))).toThrow('tenant "team a" cannot have an agent config');
  });
});
