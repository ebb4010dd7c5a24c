import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Token } from 'aws-cdk-lib/core';
import { TENANT_ID_PATTERN } from '../config/schema';

/**
 * Content of the two SSM Command documents that install and reload the Alloy agent. The
 * scripts live in `assets/agent/` and are embedded at synth time; the AgentConfigs construct
 * (agent-configs.ts) turns this content into `AWS::SSM::Document` resources.
 *
 * Every parameter uses `interpolationType: ENV_VAR`: SSM Agent hands the value to the script
 * as the environment variable `SSM_<name>` and nothing is spliced into script text, so a
 * parameter value cannot inject commands. The enroll and refresh handlers send `AgentConfig`
 * inline (the value they read with its version), so the documents need SSM Agent 3.3.2746.0 or
 * later (ENV_VAR parameters); the scripts fail with a clear message on older agents. A
 * `{{ssm:…}}` reference passed by hand also works, from SSM Agent 3.3.3572.0 on.
 */

export const AGENT_ASSET_DIR = join(__dirname, '..', '..', 'assets', 'agent');
export const LINUX_INSTALL_SCRIPT = join(AGENT_ASSET_DIR, 'install-alloy.sh');
export const WINDOWS_INSTALL_SCRIPT = join(AGENT_ASSET_DIR, 'install-alloy.ps1');

/** Parameter names of both agent documents (the enroll and refresh handlers send these). */
export const AGENT_DOCUMENT_PARAMETERS = {
  agentConfig: 'AgentConfig',
  tenant: 'Tenant',
  alloyVersion: 'AlloyVersion',
  configVersion: 'ConfigVersion',
  action: 'Action',
  stopLegacyAgents: 'StopLegacyAgents',
} as const;

export type AgentDocumentParameterName = (typeof AGENT_DOCUMENT_PARAMETERS)[keyof typeof AGENT_DOCUMENT_PARAMETERS];

/** `install`: install or change the Alloy version, write config and environment, restart on change. `reload`: swap the config and POST /-/reload. */
export const AGENT_ACTIONS = ['install', 'reload'] as const;
export type AgentAction = (typeof AGENT_ACTIONS)[number];

/** A released Alloy version as the package repositories and GitHub releases name it (no `v`). */
export const ALLOY_VERSION_PATTERN = '^[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}$';
/** A Parameter Store parameter version. */
export const CONFIG_VERSION_PATTERN = '^[0-9]{1,19}$';

/**
 * Content limit of an SSM document (`MaxDocumentSizeExceeded`), which also covers the
 * parameter values sent at run time: the agent config travels inline (at most one advanced
 * parameter, 8 KB) with a few short values.
 */
export const MAX_DOCUMENT_BYTES = 64 * 1024;
const RUNTIME_PARAMETER_RESERVE_BYTES = 9 * 1024;

/** Run Command's own ceiling for one step (48 hours). */
const MAX_EXECUTION_TIMEOUT_SECONDS = 172_800;

export interface AgentDocumentOptions {
  /**
   * Alloy version a command gets when it passes no `AlloyVersion`.
   * @default no default: every command must pass AlloyVersion
   */
  readonly defaultAlloyVersion?: string;
  /**
   * Seconds the install step may run before Run Command stops it (package download, install
   * and the readiness wait).
   * @default 900
   */
  readonly executionTimeoutSeconds?: number;
}

export interface CommandDocumentParameter {
  readonly type: 'String';
  readonly description: string;
  readonly default?: string;
  readonly allowedPattern?: string;
  readonly allowedValues?: readonly string[];
  readonly interpolationType: 'ENV_VAR';
}

export interface CommandDocumentStep {
  readonly action: 'aws:runShellScript' | 'aws:runPowerShellScript';
  readonly name: string;
  readonly inputs: {
    readonly timeoutSeconds: string;
    /** The script, one line per element (SSM Agent joins them with newlines). */
    readonly runCommand: readonly string[];
  };
}

/** Content of an SSM Command document, schema 2.2. */
export interface CommandDocumentContent {
  readonly schemaVersion: '2.2';
  readonly description: string;
  readonly parameters: Readonly<Record<AgentDocumentParameterName, CommandDocumentParameter>>;
  readonly mainSteps: readonly CommandDocumentStep[];
}

/** Document running `assets/agent/install-alloy.sh` with bash (`aws:runShellScript`). */
export function linuxAgentDocument(opts: AgentDocumentOptions = {}): CommandDocumentContent {
  return agentDocument({
    platform: 'Linux',
    action: 'aws:runShellScript',
    stepName: 'InstallAlloyLinux',
    scriptPath: LINUX_INSTALL_SCRIPT,
    opts,
  });
}

/** Document running `assets/agent/install-alloy.ps1` with Windows PowerShell (`aws:runPowerShellScript`). */
export function windowsAgentDocument(opts: AgentDocumentOptions = {}): CommandDocumentContent {
  return agentDocument({
    platform: 'Windows',
    action: 'aws:runPowerShellScript',
    stepName: 'InstallAlloyWindows',
    scriptPath: WINDOWS_INSTALL_SCRIPT,
    opts,
  });
}

interface AgentDocumentSpec {
  readonly platform: 'Linux' | 'Windows';
  readonly action: CommandDocumentStep['action'];
  readonly stepName: string;
  readonly scriptPath: string;
  readonly opts: AgentDocumentOptions;
}

function agentDocument(spec: AgentDocumentSpec): CommandDocumentContent {
  const { opts } = spec;
  validateOptions(opts);
  const script = readScript(spec.scriptPath);
  const content: CommandDocumentContent = {
    schemaVersion: '2.2',
    description: `lgtm-fleet: install, upgrade or reload the Grafana Alloy agent on ${spec.platform} with the tenant's configuration.`,
    parameters: agentParameters(opts),
    mainSteps: [
      {
        action: spec.action,
        name: spec.stepName,
        inputs: {
          timeoutSeconds: String(opts.executionTimeoutSeconds ?? 900),
          runCommand: scriptLines(script),
        },
      },
    ],
  };
  const size = Buffer.byteLength(JSON.stringify(content), 'utf8');
  if (size > MAX_DOCUMENT_BYTES - RUNTIME_PARAMETER_RESERVE_BYTES) {
    throw new Error(
      `${spec.platform} agent document is ${size} bytes; SSM documents and their run-time parameters must fit in ${MAX_DOCUMENT_BYTES} bytes`,
    );
  }
  return content;
}

function agentParameters(opts: AgentDocumentOptions): Record<AgentDocumentParameterName, CommandDocumentParameter> {
  return {
    AgentConfig: {
      type: 'String',
      description:
        'Alloy configuration text, sent inline by lgtm-fleet (the value of /<stack>/agent/<tenant>/<platform> at ConfigVersion). Checked with `alloy validate` before use.',
      interpolationType: 'ENV_VAR',
    },
    Tenant: {
      type: 'String',
      description: 'Tenant ID (X-Scope-OrgID), exported to Alloy as LGTM_TENANT.',
      allowedPattern: TENANT_ID_PATTERN.source,
      interpolationType: 'ENV_VAR',
    },
    AlloyVersion: {
      type: 'String',
      description: 'Alloy version to run, e.g. 1.21.0. A different installed version is upgraded or downgraded to it.',
      allowedPattern: ALLOY_VERSION_PATTERN,
      ...(opts.defaultAlloyVersion === undefined ? {} : { default: opts.defaultAlloyVersion }),
      interpolationType: 'ENV_VAR',
    },
    ConfigVersion: {
      type: 'String',
      description: 'Parameter Store version of AgentConfig, exported to Alloy as LGTM_CONFIG_VERSION.',
      allowedPattern: CONFIG_VERSION_PATTERN,
      interpolationType: 'ENV_VAR',
    },
    Action: {
      type: 'String',
      description:
        'install: install or change the Alloy version, write config and environment, restart only on change. reload: validate and swap the config, then reload Alloy without a restart (a rejected config is rolled back).',
      allowedValues: AGENT_ACTIONS,
      default: 'install',
      interpolationType: 'ENV_VAR',
    },
    StopLegacyAgents: {
      type: 'String',
      description: 'Stop and disable an ADOT collector and node_exporter found on the instance.',
      allowedValues: ['true', 'false'],
      default: 'true',
      interpolationType: 'ENV_VAR',
    },
  };
}

function validateOptions(opts: AgentDocumentOptions): void {
  const version = opts.defaultAlloyVersion;
  if (version !== undefined && !Token.isUnresolved(version) && !new RegExp(ALLOY_VERSION_PATTERN).test(version)) {
    throw new Error(`defaultAlloyVersion must look like 1.21.0 (no "v" prefix), got "${version}"`);
  }
  const timeout = opts.executionTimeoutSeconds;
  if (
    timeout !== undefined &&
    !Token.isUnresolved(timeout) &&
    (!Number.isInteger(timeout) || timeout < 60 || timeout > MAX_EXECUTION_TIMEOUT_SECONDS)
  ) {
    throw new Error(`executionTimeoutSeconds must be a whole number from 60 to ${MAX_EXECUTION_TIMEOUT_SECONDS}, got ${timeout}`);
  }
}

function readScript(path: string): string {
  const script = readFileSync(path, 'utf8').replace(/\r\n/g, '\n');
  // Run Command substitutes {{name}} and {{ssm:name}} in document content; the scripts must
  // never contain the sequence, or text could be spliced into them after all.
  const line = script.split('\n').findIndex((l) => l.includes('{{'));
  if (line >= 0) {
    throw new Error(`${path}:${line + 1} contains "{{", which Run Command would treat as a parameter reference`);
  }
  return script;
}

function scriptLines(script: string): string[] {
  const lines = script.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}
