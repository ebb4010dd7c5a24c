#!/usr/bin/env node
/**
 * Prints every rendered configuration for a person to read:
 *   npm run render                       # default config (cdk.json context included)
 *   npm run render -- --config prod.json # with a config file, as `cdk synth -c config=prod.json`
 *   npm run render -- --only mimir       # one file
 *   npm run render -- --only collector-cost --resources AWS/RDS=2,AWS/ApplicationELB=4
 * Deploy-time values (region, bucket, ingest endpoint) appear as <placeholders> unless the config sets them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LgtmConfig } from '../lib/config/schema';
import { backendParameterName, type RenderInput } from '../lib/render/catalog';
import { renderCollectorConfig } from '../lib/render/collector';
import {
  type CostAssumptions,
  DEFAULT_COST_ASSUMPTIONS,
  estimateCloudWatchApiCalls,
  formatCostEstimate,
  parseResourceCounts,
} from '../lib/render/collector-cost';
import { renderGrafanaDatasourceFiles } from '../lib/render/grafana';
import { renderLokiConfig } from '../lib/render/loki';
import { memcachedCommand } from '../lib/render/memcached';
import { renderMimirConfig } from '../lib/render/mimir';
import { renderTempoConfig } from '../lib/render/tempo';
import { CONFIG_CONTEXT_KEY, resolveConfig } from './config-source';

/** One printable document: a title, the parameter it is stored in, and its text. */
export interface RenderedDocument {
  readonly name: string;
  readonly parameter?: string;
  readonly content: string;
}

/**
 * Every rendered document of the stack for `config`, with deploy-time values as placeholders,
 * plus the collector's CloudWatch API cost estimate under `costAssumptions`.
 */
export function renderAll(config: LgtmConfig, costAssumptions: CostAssumptions = DEFAULT_COST_ASSUMPTIONS): RenderedDocument[] {
  const input: RenderInput = {
    config,
    deploy: {
      region: config.env?.region ?? '<region>',
      bucketName: config.storage.bucketName ?? '<data-bucket>',
      urlSuffix: 'amazonaws.com',
    },
  };
  return [
    { name: 'mimir', parameter: backendParameterName(config, 'mimir'), content: renderMimirConfig(input) },
    { name: 'loki', parameter: backendParameterName(config, 'loki'), content: renderLokiConfig(input) },
    { name: 'tempo', parameter: backendParameterName(config, 'tempo'), content: renderTempoConfig(input) },
    ...renderGrafanaDatasourceFiles(input).map((file) => ({
      name: `grafana/${file.key}`,
      parameter: `${backendParameterName(config, 'grafana')}/${file.key}`,
      content: file.content,
    })),
    { name: 'memcached', content: `memcached ${memcachedCommand(config).join(' ')}\n` },
    ...(config.collector.enabled
      ? [
          { name: 'collector', parameter: backendParameterName(config, 'collector'), content: renderCollectorConfig(input) },
          { name: 'collector-cost', content: formatCostEstimate(estimateCloudWatchApiCalls(config, costAssumptions, input.deploy.region)) },
        ]
      : []),
  ];
}

function main(): void {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      only: { type: 'string' },
      resources: { type: 'string' },
      'log-groups': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'usage: npm run render -- [--config <file.json>] [--only <name>] [--resources <n | AWS/RDS=n,…>] [--log-groups <n per prefix>]',
    );
    return;
  }
  const cdkJson = JSON.parse(readFileSync(join(__dirname, '..', 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  const config = resolveConfig({ inline: cdkJson.context?.[CONFIG_CONTEXT_KEY], file: values.config });
  const logGroups = values['log-groups'];
  if (logGroups !== undefined && !/^\d+$/.test(logGroups)) throw new Error(`--log-groups needs a whole number, got "${logGroups}"`);
  const documents = renderAll(config, {
    ...DEFAULT_COST_ASSUMPTIONS,
    ...(values.resources === undefined ? {} : { resourcesPerNamespace: parseResourceCounts(values.resources) }),
    ...(logGroups === undefined ? {} : { logGroupsPerPrefix: Number(logGroups) }),
  });
  const only = values.only;
  const selected = only ? documents.filter((d) => d.name === only || d.name.startsWith(`${only}/`)) : documents;
  if (selected.length === 0) {
    throw new Error(`--only ${values.only}: no such document (choose from ${documents.map((d) => d.name).join(', ')})`);
  }
  for (const doc of selected) {
    const where = doc.parameter ? ` (Parameter Store: ${doc.parameter}, ${Buffer.byteLength(doc.content)} bytes)` : '';
    console.log(`# ---- ${doc.name}${where}`);
    console.log(doc.content.trimEnd());
    console.log();
  }
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
