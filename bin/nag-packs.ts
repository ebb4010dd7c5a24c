import type { App, IPolicyValidationPluginBeta1 } from 'aws-cdk-lib/core';

/**
 * cdk-nag's rule packs, loaded without cdk-nag's type declarations. Those import the root of
 * aws-cdk-lib, whose declarations cover every AWS service: reading them alone would more than
 * double the type-check that runs with every synth (3,000 more declaration files; the app imports
 * `aws-cdk-lib/core` and the service modules it uses). The packs are used only as validation
 * plugins, which is all this type says; the tests use cdk-nag with its own types.
 */
type NagPack = new (app: App) => IPolicyValidationPluginBeta1;

// A require, not an import: it keeps cdk-nag's declarations out of the program (see above).
const cdkNag = require('cdk-nag') as { AwsSolutionsChecks: NagPack; ServerlessChecks: NagPack };

/** AwsSolutions for the whole stack, plus the Serverless pack for the Lambdas. */
export function nagPacks(app: App): IPolicyValidationPluginBeta1[] {
  return [new cdkNag.AwsSolutionsChecks(app), new cdkNag.ServerlessChecks(app)];
}
