#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { LgtmFleetStack } from '../lib/lgtm-fleet-stack';
import { CONFIG_CONTEXT_KEY, CONFIG_FILE_CONTEXT_KEY, resolveConfig } from './config-source';

const app = new App();

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

Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));

new LgtmFleetStack(app, config.stackName, {
  config,
  env: config.env,
  description: 'lgtm-fleet: self-hosted Grafana LGTM stack with automatic Alloy agent enrollment',
});
