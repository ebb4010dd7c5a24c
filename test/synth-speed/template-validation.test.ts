import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnResource, CloudFormationValidatePlugin, type IPolicyValidationContext, Stack, Validations } from 'aws-cdk-lib';
import { BackgroundTemplateValidation, EXPECTED_RESOURCE_TYPES } from '../../lib/synth-speed/template-validation';
import { synthStack } from '../helpers';

/** A template with two schema errors and one warning, so that a report has something to compare. */
const FAULTY_TEMPLATE = {
  Resources: {
    Bucket: {
      Type: 'AWS::S3::Bucket',
      Properties: { NotAProperty: true, VersioningConfiguration: { Status: 'Sometimes' } },
    },
    Queue: { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 'abc' } },
  },
};

/** Temp folders the tests made, removed after them. */
const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function faultyContext(): IPolicyValidationContext {
  const templatePath = join(tempDir('lgtm-validate-test-'), 'Faulty.template.json');
  writeFileSync(templatePath, JSON.stringify(FAULTY_TEMPLATE));
  const stackTemplates = [{ stackConstructPath: 'Faulty', templatePath, accountId: undefined, region: undefined }];
  return { appConstruct: new App(), stackTemplates, templatePaths: [templatePath] };
}

/** What CDK's own plugin reports for the same context, in this thread. */
const builtIn = (context: IPolicyValidationContext) => new CloudFormationValidatePlugin().validate(context);

describe('template validation in a worker thread', () => {
  test('reports exactly what CDK’s own plugin reports', () => {
    const context = faultyContext();
    const expected = builtIn(context);
    expect(expected.success).toBe(false);
    expect(expected.violations.map((v) => v.ruleName).sort()).toEqual(['F3002', 'F3012', 'W3030']);
    expect(new BackgroundTemplateValidation().validate(context)).toEqual(expected);
  });

  test('is a CloudFormationValidatePlugin with CDK’s plugin name, so it replaces the default instead of running beside it', () => {
    const plugin = new BackgroundTemplateValidation({ resourceTypes: [] });
    expect(plugin).toBeInstanceOf(CloudFormationValidatePlugin);
    expect(plugin.name).toBe(CloudFormationValidatePlugin.PLUGIN_NAME);
  });

  test('registered on an App, it validates the synthesized templates once, as CDK would', () => {
    const outdir = tempDir('lgtm-validate-app-');
    const app = new App({ outdir, context: { '@aws-cdk/core:validateAgainstDefaultRules': true } });
    Validations.of(app).addPlugins(new BackgroundTemplateValidation({ resourceTypes: ['AWS::SQS::Queue'] }));
    const stack = new Stack(app, 'Faulty');
    new CfnResource(stack, 'Queue', { type: 'AWS::SQS::Queue', properties: { VisibilityTimeout: 'abc' } });
    expect(() => app.synth()).toThrow(/F3012|VisibilityTimeout/);
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string }[];
    };
    expect(report.pluginReports.map((r) => r.pluginName)).toEqual([CloudFormationValidatePlugin.PLUGIN_NAME]);
  });

  test('a worker that cannot load the plugin: the main thread validates, with a notice', () => {
    const context = faultyContext();
    const notice = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const report = new BackgroundTemplateValidation({ pluginModule: '/nonexistent/aws-cdk-lib' }).validate(context);
      expect(report).toEqual(builtIn(context));
      expect(notice).toHaveBeenCalledWith(expect.stringMatching(/worker failed to start: .*nonexistent.*validating in the main thread/));
    } finally {
      notice.mockRestore();
    }
  });

  test('a worker that exits without answering: the main thread validates at once, with a notice', () => {
    const context = faultyContext();
    const exiting = join(tempDir('lgtm-validate-exit-'), 'exiting-plugin.js');
    writeFileSync(exiting, 'process.exit(7);\n');
    const notice = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const started = Date.now();
      const report = new BackgroundTemplateValidation({ pluginModule: exiting, timeoutMs: 60_000 }).validate(context);
      // Far below the timeout: the worker's exit answered.
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(report).toEqual(builtIn(context));
      expect(notice).toHaveBeenCalledWith(expect.stringMatching(/worker exited with code 7/));
    } finally {
      notice.mockRestore();
    }
  });

  test('no prewarm template is left behind', () => {
    const prewarmDirs = () => readdirSync(tmpdir()).filter((name) => /^lgtm-validate-[A-Za-z0-9]+$/.test(name));
    const before = new Set(prewarmDirs());
    new BackgroundTemplateValidation().validate(faultyContext());
    expect(prewarmDirs().filter((name) => !before.has(name))).toEqual([]);
  });

  test('a worker that does not answer in time: the main thread validates, with a notice', () => {
    const context = faultyContext();
    const notice = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      // The engine takes far longer than 1 ms to build.
      const report = new BackgroundTemplateValidation({ timeoutMs: 1 }).validate(context);
      expect(report).toEqual(builtIn(context));
      expect(notice).toHaveBeenCalledWith(expect.stringMatching(/no answer within 0\.001 s/));
    } finally {
      notice.mockRestore();
    }
  });

  test('a second request is validated in the main thread (the worker answers one)', () => {
    const context = faultyContext();
    const plugin = new BackgroundTemplateValidation({ resourceTypes: [] });
    const first = plugin.validate(context);
    expect(plugin.validate(context)).toEqual(first);
  });
});

describe('resource types the engine is built for ahead of synth', () => {
  const typesOf = (values: Parameters<typeof synthStack>[0]) =>
    new Set(Object.values(synthStack(values).template.toJSON().Resources as Record<string, { Type: string }>).map((r) => r.Type));

  test.each([
    ['the default configuration', {}],
    ['EFS durability', { storage: { durability: 'efs' } }],
    ['an explicit region and account (ELB access logs)', { env: { account: '123456789012', region: 'ap-northeast-2' } }],
    [
      'a webhook contact point',
      {
        grafana: {
          alertContactPoint: {
            type: 'webhook',
            urlSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lgtm/alert-webhook-AbCdEf',
          },
        },
      },
    ],
  ])('cover every resource type of %s', (_name, values) => {
    const missing = [...typesOf(values)].filter((type) => !EXPECTED_RESOURCE_TYPES.includes(type));
    // A type missing here only slows synth down (the engine is built again), but keep the list complete.
    expect(missing).toEqual([]);
  });
});
