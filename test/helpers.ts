import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { AgentConfigs } from '../lib/agents/agent-configs';
import type { ComponentProps } from '../lib/components/common';
import { loadConfig } from '../lib/config/load';
import type { LgtmConfig, LgtmConfigInput } from '../lib/config/schema';
import { LgtmFleetStack } from '../lib/lgtm-fleet-stack';
import { TemplateSizeLimit } from '../lib/template-size';

/** The feature flags in cdk.json, so tests synthesize exactly what `cdk synth` does. */
const CDK_CONTEXT = (JSON.parse(readFileSync(join(__dirname, '..', 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

/**
 * A new App with cdk.json's feature flags, made for template tests:
 * - handler bundling is skipped (CDK's `bundlingStacks` context, a placeholder asset instead)
 *   unless `bundle` is set: a template test looks at a function's settings, not at its code
 *   (test/lgtm-function.test.ts looks at the bundles);
 * - CDK's built-in template validation is off: building its engine is about 4 s of every test
 *   file's first synth. `cdk synth` runs it (lib/synth-speed/template-validation.ts), and so do
 *   the slow checks CI runs: test/synth-speed/template-validation.test.ts and test/cfn-lint.test.ts.
 */
export function newApp(outdir?: string, { bundle = false }: { bundle?: boolean } = {}): App {
  return new App({
    context: { ...CDK_CONTEXT, ...(bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
    outdir,
    builtinCloudFormationValidation: false,
  });
}

/** An empty stack named `Test` (environment-agnostic, as the default config), for one construct's tests. */
export function testStack(): Stack {
  return new Stack(newApp(), 'Test');
}

/** The least a service needs to run: a VPC (two AZs, no NAT gateway), an ECS cluster and a Cloud Map namespace. */
export function testNetwork(stack: Stack): { vpc: ec2.Vpc; cluster: ecs.Cluster; namespace: servicediscovery.PrivateDnsNamespace } {
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
  const namespace = new servicediscovery.PrivateDnsNamespace(stack, 'Namespace', { name: 'test.internal', vpc });
  return { vpc, cluster, namespace };
}

/** The props every component takes, on {@link testNetwork}: a component test adds its image, size and own props. */
export function componentBasics(stack: Stack): Omit<ComponentProps, 'image' | 'size'> {
  const { cluster, namespace } = testNetwork(stack);
  return { cluster, namespace, configInitImage: 'public.ecr.aws/docker/library/busybox:1.37.0', logRetentionDays: 7 };
}

/** Agent configs under `/Test` for `tenants`, each platform's config a one-line placeholder. */
export function testAgentConfigs(stack: Stack, tenants: readonly string[] = ['team-a', 'team-b']): AgentConfigs {
  return new AgentConfigs(stack, 'Agents', {
    parameterPrefix: '/Test',
    tenants: tenants.map((tenant) => ({ tenant, configs: { linux: `// ${tenant} on linux`, windows: `// ${tenant} on windows` } })),
  });
}

/** A validated config from partial overrides, as `bin/` would produce it. */
export function testConfig(values: LgtmConfigInput | Record<string, unknown> = {}): LgtmConfig {
  return loadConfig([{ origin: 'test', values }]);
}

/** The stack and its template for a config (no cdk-nag: see {@link nagViolations}). */
export function synthStack(
  values: LgtmConfigInput | Record<string, unknown> = {},
  { bundle = false }: { bundle?: boolean } = {},
): { stack: LgtmFleetStack; template: Template } {
  const app = newApp(undefined, { bundle });
  const config = testConfig(values);
  const stack = new LgtmFleetStack(app, config.stackName, { config, env: config.env });
  return { stack, template: Template.fromStack(stack) };
}

/** Synthesizes with cdk-nag's AwsSolutions and Serverless packs and returns every unacknowledged error as `rule at path`. */
export function nagViolations(values: LgtmConfigInput | Record<string, unknown> = {}): string[] {
  const outdir = mkdtempSync(join(tmpdir(), 'lgtm-nag-'));
  const app = newApp(outdir);
  // As bin/lgtm-fleet.ts: cdk-nag's packs and the template size check.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app), new TemplateSizeLimit());
  const config = testConfig(values);
  new LgtmFleetStack(app, config.stackName, { config, env: config.env });
  try {
    app.synth();
  } catch (error) {
    if (!/Validation ?failed/i.test((error as Error).message)) throw error;
  }
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: Array<{
      violations: Array<{ ruleName: string; severity: string; violatingConstructs: Array<{ constructPath: string }> }>;
    }>;
  };
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations
      .filter((v) => v.severity === 'error')
      .flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} at ${c.constructPath}`)),
  );
}

type Resources = Record<
  string,
  { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string; DependsOn?: string[] }
>;

/** The logical ID of the single resource of `type` whose logical ID starts with `prefix`. */
export function logicalIdOf(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0];
}

export function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

/** Container definitions of the task definition whose logical ID starts with `prefix` (e.g. `MimirBackendTask`). */
export function containersOf(template: Template, prefix: string): Array<Record<string, unknown>> {
  const id = logicalIdOf(template, 'AWS::ECS::TaskDefinition', prefix);
  return resourcesOf(template, 'AWS::ECS::TaskDefinition')[id].Properties.ContainerDefinitions as Array<Record<string, unknown>>;
}

/** The container called `name` in the task definition whose logical ID starts with `prefix`. */
export function containerNamed(template: Template, prefix: string, name: string): Record<string, unknown> {
  const container = containersOf(template, prefix).find((c) => c.Name === name);
  if (!container) throw new Error(`no container ${name} in ${prefix}`);
  return container;
}

/** All IAM statements attached to the role whose logical ID starts with `rolePrefix`. */
export function statementsOfRole(template: Template, rolePrefix: string): Array<Record<string, unknown>> {
  const roleId = logicalIdOf(template, 'AWS::IAM::Role', rolePrefix);
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement);
}
