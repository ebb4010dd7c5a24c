/**
 * Alloy: the Linux agent's and the collector's rendered configs are in `alloy fmt` form and pass
 * `alloy validate` with the stability flags they run with.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LgtmConfig } from '../../lib/config/schema';
import { renderAgentConfig } from '../../lib/render/agent';
import type { RenderInput } from '../../lib/render/catalog';
import { COLLECTOR_RUN_FLAGS, renderCollectorConfig } from '../../lib/render/collector';
import { runCheck } from './process';
import { Checks, oneLine } from './report';

/** Stability flags the agent install script leaves on the package's command line (none beyond Alloy's default). */
const AGENT_VALIDATE_FLAGS: readonly string[] = [];

export function smokeAlloy(binary: string, config: LgtmConfig, workDir: string): Checks {
  const checks = new Checks('alloy', '—');
  const input: RenderInput = {
    config,
    deploy: { region: 'us-east-1', bucketName: 'lgtm-smoke', urlSuffix: 'amazonaws.com', availabilityZones: 2 },
  };
  const tenant = config.tenants.ec2Default ?? config.tenants.allowed[0];
  const endpoints = {
    metricsUrl: 'http://127.0.0.1:8080/api/v1/push',
    logsUrl: 'http://127.0.0.1:3100/loki/api/v1/push',
    tracesUrl: 'http://127.0.0.1:4318',
  };
  const files = [
    { name: 'agent (linux)', text: renderAgentConfig({ config, tenant, platform: 'linux', endpoints }), flags: AGENT_VALIDATE_FLAGS },
    ...(config.collector.enabled
      ? [
          {
            name: 'collector',
            text: renderCollectorConfig(input),
            flags: COLLECTOR_RUN_FLAGS.filter((f) => f.startsWith('--stability.level')),
          },
        ]
      : []),
  ];
  for (const file of files) {
    const path = join(workDir, `${file.name.replace(/\W+/g, '-')}.alloy`);
    writeFileSync(path, file.text);
    const fmt = runCheck(binary, ['fmt', path]);
    checks.add(
      `${file.name}: in alloy fmt form`,
      fmt.ok && fmt.output === file.text,
      fmt.ok ? (fmt.output === file.text ? 'unchanged by alloy fmt' : 'alloy fmt would change it') : oneLine(fmt.output),
    );
    const validate = runCheck(binary, ['validate', ...file.flags, path]);
    checks.add(
      `${file.name}: alloy validate ${file.flags.join(' ')}`.trim(),
      validate.ok,
      validate.ok ? 'valid' : oneLine(validate.output),
    );
  }
  return checks;
}
