import { readFileSync } from 'node:fs';
import type { IPolicyValidationContext, IPolicyValidationPlugin, PolicyValidationPluginReport, PolicyViolation } from 'aws-cdk-lib/core';

/** The largest template CloudFormation takes (by URL, as the CDK CLI deploys it), in bytes. */
export const TEMPLATE_SIZE_LIMIT = 1_000_000;

/**
 * The largest task definition ECS registers is 64 KiB. The check measures the definition as the
 * template writes it, where a reference to a secret or a role is shorter than the ARN it becomes,
 * and keeps 4 KiB for that.
 */
export const TASK_DEFINITION_SIZE_LIMIT = 60 * 1024;

/**
 * Fails synth when a template is larger than CloudFormation takes, or a task definition larger
 * than ECS registers, rather than leave it to the deploy. The template grows with the tenants (each adds its agent configs, Grafana data sources,
 * and with the tenant-binding gateway its credentials): the message says by how much.
 */
export class TemplateSizeLimit implements IPolicyValidationPlugin {
  public readonly name = 'lgtm-fleet-template-size';
  public readonly ruleIds = ['template-size', 'task-definition-size'];

  constructor(
    private readonly limit: number = TEMPLATE_SIZE_LIMIT,
    private readonly taskDefinitionLimit: number = TASK_DEFINITION_SIZE_LIMIT,
  ) {}

  public validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    const violations: PolicyViolation[] = context.templatePaths.flatMap((templatePath) => {
      const template = readFileSync(templatePath);
      return [
        ...this.templateTooLarge(templatePath, template.length),
        ...this.taskDefinitionsTooLarge(templatePath, template.toString('utf8')),
      ];
    });
    return { success: violations.length === 0, violations };
  }

  private taskDefinitionsTooLarge(templatePath: string, text: string): PolicyViolation[] {
    const template = JSON.parse(text) as {
      Resources?: Record<string, { Type?: string; Properties?: unknown }>;
    };
    return Object.entries(template.Resources ?? {}).flatMap(([logicalId, resource]) => {
      if (resource.Type !== 'AWS::ECS::TaskDefinition') return [];
      const size = JSON.stringify(resource.Properties ?? {}).length;
      if (size <= this.taskDefinitionLimit) return [];
      return [
        {
          ruleName: 'task-definition-size',
          severity: 'error',
          description:
            `task definition ${logicalId} is ${size.toLocaleString('en-US')} bytes in the template, over the ` +
            `${this.taskDefinitionLimit.toLocaleString('en-US')} that leave room for its references to become ARNs within ECS's 64 KiB. ` +
            "The gateway's grows by about 1 KB per tenant: split the tenants over several stacks",
          violatingResources: [{ resourceLogicalId: logicalId, templatePath, locations: ['Properties'] }],
        },
      ];
    });
  }

  private templateTooLarge(templatePath: string, size: number): PolicyViolation[] {
    if (size <= this.limit) return [];
    return [
      {
        ruleName: 'template-size',
        severity: 'error',
        description:
          `the template is ${size.toLocaleString('en-US')} bytes, over the ${this.limit.toLocaleString('en-US')} CloudFormation takes. ` +
          "Each tenant in tenants.allowed adds about 17 KB (about 3.5 KB of it the tenant-binding gateway's credentials): " +
          'split the tenants over several stacks (docs/configuration.md, "How many tenants")',
        violatingResources: [{ templatePath, locations: [] }],
      },
    ];
  }
}
