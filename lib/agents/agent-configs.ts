import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Arn, Stack } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { agentParameterName, PLATFORMS, type Platform } from '../../lambdas/shared/contract';
import { parameterTierFor } from '../backend-service';
import { tenantIdProblem } from '../config/schema';
import { linuxAgentDocument, windowsAgentDocument } from './agent-documents';

/** One tenant's agent configuration, rendered for each platform. */
export interface TenantAgentConfig {
  /** Tenant ID (`X-Scope-OrgID`), also part of the parameter names. */
  readonly tenant: string;
  /** The Alloy configuration of each platform (see lib/render/agent.ts). */
  readonly configs: Readonly<Record<Platform, string>>;
}

export interface AgentConfigsProps {
  /**
   * The project's Parameter Store prefix (`/<stack name>`): a tenant's config for a platform is
   * stored at `<prefix>/agent/<tenant>/<platform>`, where the enroll and refresh functions look.
   */
  readonly parameterPrefix: string;
  /** Every tenant the fleet accepts, in order: an instance asking for another tenant is refused. */
  readonly tenants: readonly TenantAgentConfig[];
}

/**
 * What an enrolled instance runs: the Linux and Windows SSM Command documents that install and
 * reload Alloy, and one Parameter Store parameter per tenant and platform holding the agent's
 * config. Enrollment sends the documents with a tenant's config; config refresh sends them again
 * when a config changes.
 */
export class AgentConfigs extends Construct {
  public readonly linuxDocument: ssm.CfnDocument;
  public readonly windowsDocument: ssm.CfnDocument;
  /** The agent config parameters by `<tenant>/<platform>`. */
  public readonly parameters: Readonly<Record<string, ssm.StringParameter>>;
  /** The Parameter Store prefix the parameters are named under. */
  public readonly parameterPrefix: string;
  /** The tenants that have a config, in the order given. */
  public readonly tenants: readonly string[];

  constructor(scope: Construct, id: string, props: AgentConfigsProps) {
    super(scope, id);
    if (props.tenants.length === 0) throw new Error('agent configs need at least one tenant, got none');
    for (const { tenant } of props.tenants) {
      const problem = tenantIdProblem(tenant);
      if (problem) throw new Error(`tenant "${tenant}" cannot have an agent config: ${problem}`);
    }
    this.parameterPrefix = props.parameterPrefix;
    this.tenants = props.tenants.map(({ tenant }) => tenant);

    const parameters: Record<string, ssm.StringParameter> = {};
    for (const { tenant, configs } of props.tenants) {
      for (const platform of PLATFORMS) {
        const name = agentParameterName(props.parameterPrefix, tenant, platform);
        const content = configs[platform];
        parameters[`${tenant}/${platform}`] = new ssm.StringParameter(this, `Agent-${tenant}-${platform}`, {
          parameterName: name,
          stringValue: content,
          // Agent configs grow with many settings (journal units, labels, endpoints): advanced, so the tier never has to go back.
          tier: parameterTierFor(name, content, 'advanced'),
          description: `Alloy agent config for tenant ${tenant} on ${platform}; a change reloads those agents`,
        });
      }
    }
    this.parameters = parameters;

    this.linuxDocument = new ssm.CfnDocument(this, 'LinuxDocument', {
      documentType: 'Command',
      documentFormat: 'JSON',
      content: linuxAgentDocument(),
      updateMethod: 'NewVersion',
    });
    this.windowsDocument = new ssm.CfnDocument(this, 'WindowsDocument', {
      documentType: 'Command',
      documentFormat: 'JSON',
      content: windowsAgentDocument(),
      updateMethod: 'NewVersion',
    });
  }

  /** ARNs of both documents, for `ssm:SendCommand`. */
  public get documentArns(): string[] {
    const stack = Stack.of(this);
    return [this.linuxDocument, this.windowsDocument].map((document) =>
      Arn.format({ service: 'ssm', resource: 'document', resourceName: document.ref }, stack),
    );
  }

  /**
   * Lets `grantee` read the agent configs, at a version if it asks for one (`ssm:GetParameters`
   * on these parameters, no others).
   * @param sid the statement's ID in the grantee's policy
   */
  public grantRead(grantee: iam.IGrantable, sid?: string): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid,
        actions: ['ssm:GetParameters'],
        resources: Object.values(this.parameters).map((parameter) => parameter.parameterArn),
      }),
    );
  }
}
