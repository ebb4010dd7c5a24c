#!/usr/bin/env node
import { App, CloudFormationValidatePlugin, Validations } from 'aws-cdk-lib/core';
import { LgtmFleetStack } from '../lib/lgtm-fleet-stack';
import { BackgroundTemplateValidation } from '../lib/synth-speed/template-validation';
import { TemplateSizeLimit } from '../lib/template-size';
import { CONFIG_CONTEXT_KEY, CONFIG_FILE_CONTEXT_KEY, resolveConfig } from './config-source';
import { nagPacks } from './nag-packs';

const app = new App();
// CDK's own template validation, its engine built in a worker while the app constructs (first, to
// start it early). CDK_VALIDATION=false turns CDK's validation off, and this with it.
// LGTM_VALIDATION=main-thread runs CDK's plugin as CDK ships it, for `npm run bench` to compare.
if (process.env.CDK_VALIDATION !== 'false') {
  Validations.of(app).addPlugins(
    process.env.LGTM_VALIDATION === 'main-thread' ? new CloudFormationValidatePlugin() : new BackgroundTemplateValidation(),
  );
}

let config: ReturnType<typeof resolveConfig>;
try {
  config = resolveConfig({
    inline: app.node.tryGetContext(CONFIG_CONTEXT_KEY),
    file: app.node.tryGetContext(CONFIG_FILE_CONTEXT_KEY),
  });
} catch (error) {
  // A configuration mistake is the user's to fix: show the message, not a stack trace.
  console.error((error as Error).message);
  process.exit(1);
}

Validations.of(app).addPlugins(...nagPacks(app), new TemplateSizeLimit());

new LgtmFleetStack(app, config.stackName, {
  config,
  env: config.env,
  description: 'lgtm-fleet: self-hosted Grafana LGTM stack with automatic Alloy agent enrollment',
});
