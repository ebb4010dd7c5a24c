import { App } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { nagPacks } from '../../bin/nag-packs';

test('the app gets cdk-nag’s AwsSolutions and Serverless packs as validation plugins', () => {
  const packs = nagPacks(new App());
  expect(packs).toHaveLength(2);
  expect(packs[0]).toBeInstanceOf(AwsSolutionsChecks);
  expect(packs[1]).toBeInstanceOf(ServerlessChecks);
  for (const pack of packs) expect(typeof pack.validate).toBe('function');
});
