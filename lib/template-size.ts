import { statSync } from 'node:fs';
import type { IPolicyValidationContext, IPolicyValidationPlugin, PolicyValidationPluginReport, PolicyViolation } from 'aws-cdk-lib/core';

/** The largest template CloudFormation takes (by URL, as the CDK CLI deploys it), in bytes. */
export const TEMPLATE_SIZE_LIMIT = 1_000_000;

/**
 * Fails synth when a template is larger than CloudFormation takes, rather than leave it to the
 * deploy. The template grows with the tenants (each adds its agent configs, Grafana data sources,
 * and with the tenant-binding gateway its credentials): the message says by how much.
 */
export class TemplateSizeLimit implements IPolicyValidationPlugin {
  public readonly name = 'lgtm-fleet-template-size';
  public readonly ruleIds = ['template-size'];

  constructor(private readonly limit: number = TEMPLATE_SIZE_LIMIT) {}

  public validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    const violations: PolicyViolation[] = context.templatePaths.flatMap((templatePath) => {
      const size = statSync(templatePath).size;
      if (size <= this.limit) return [];
      return [
        {
          ruleName: 'template-size',
          severity: 'error',
          description:
            `the template is ${size.toLocaleString('en-US')} bytes, over the ${this.limit.toLocaleString('en-US')} CloudFormation takes. ` +
            "Each tenant in tenants.allowed adds about 20 KB (about 6 KB of it the tenant-binding gateway's credentials): " +
            'split the tenants over several stacks (docs/configuration.md, "How many tenants")',
          violatingResources: [{ templatePath, locations: [] }],
        },
      ];
    });
    return { success: violations.length === 0, violations };
  }
}
