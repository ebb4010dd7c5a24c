import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LgtmFleetStack } from '../lib/lgtm-fleet-stack';
import { newApp, testConfig } from './helpers';

/**
 * cfn-lint (AWS's CloudFormation linter) over the synthesized templates of the default and a
 * non-default configuration: no error, and no warning but those named here with their reason.
 * Skipped with a notice where cfn-lint is not installed; `.ci/run` sets the variable that makes it
 * mandatory.
 */
const REQUIRE_CFN_LINT_ENV = 'LGTM_REQUIRE_CFN_LINT';

const IGNORED: Record<string, string> = {
  // CDK writes DependsOn on a role's default policy (and on a target group for its service) that a
  // Ref/GetAtt already implies; harmless, and not ours to remove.
  W3005: 'redundant DependsOn written by aws-cdk-lib',
};

const available = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' }).status === 0;
const required = process.env[REQUIRE_CFN_LINT_ENV] === '1';
// Straight to stderr: Jest shows no console output for a file whose every test is skipped.
if (!available && !required)
  process.stderr.write('NOTICE: cfn-lint is not installed; skipped the cfn-lint tests (pip install cfn-lint to run them)\n');
const lintTest = available || required ? test : test.skip;

const CONFIGURATIONS: Array<[string, Record<string, unknown>]> = [
  ['default', {}],
  [
    'efs, three tenants, internet-facing Grafana with a contact point secret, named bucket',
    {
      storage: { durability: 'efs', bucketName: 'rag-mimir-pos-s3' },
      tenants: { allowed: ['team-a', 'team-b', 'team-c'], ec2Default: 'team-a', cloudwatchMetrics: 'team-b', cloudwatchLogs: 'team-c' },
      grafana: {
        internetFacing: true,
        certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0b0d3f9c-1a2b-4c5d-8e9f-0123456789ab',
        allowedCidrs: ['203.0.113.0/24'],
        alertContactPoint: { type: 'webhook', urlSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:alert-AbCdEf' },
      },
    },
  ],
  // Clusters: replicas, their peer rules, the ring-forget function in the VPC with its rule and queue.
  // No tenant-binding gateway: each ingest route straight to its backend's target group.
  ['no tenant-binding gateway', { ingest: { tenantBinding: 'off' } }],
  [
    'Mimir, Loki and memcached with 3 replicas',
    { services: { mimir: { replicas: 3 }, loki: { replicas: 3 }, memcached: { replicas: 3 } } },
  ],
];

describe.each(CONFIGURATIONS)('cfn-lint: %s', (_, values) => {
  lintTest('no error and no unexplained warning', () => {
    if (!available) throw new Error(`cfn-lint is not installed but ${REQUIRE_CFN_LINT_ENV}=1`);
    const outdir = mkdtempSync(join(tmpdir(), 'lgtm-cfn-lint-'));
    const app = newApp(outdir);
    const config = testConfig(values);
    new LgtmFleetStack(app, config.stackName, { config, env: config.env });
    app.synth();
    const result = spawnSync(
      'cfn-lint',
      ['--format', 'parseable', '--ignore-checks', ...Object.keys(IGNORED), '--', join(outdir, `${config.stackName}.template.json`)],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(result.stdout.trim().split('\n').filter(Boolean)).toEqual([]);
    expect(result.status).toBe(0);
  });
});
