import { readFileSync } from 'node:fs';
import {
  AGENT_DOCUMENT_PARAMETERS,
  type CommandDocumentContent,
  LINUX_INSTALL_SCRIPT,
  linuxAgentDocument,
  MAX_DOCUMENT_BYTES,
  WINDOWS_INSTALL_SCRIPT,
  windowsAgentDocument,
} from '../../lib/agents/agent-documents';

const PARAMETER_NAMES = ['AgentConfig', 'Tenant', 'AlloyVersion', 'ConfigVersion', 'Action', 'StopLegacyAgents'];

describe.each([
  { platform: 'Linux', build: linuxAgentDocument, plugin: 'aws:runShellScript', scriptPath: LINUX_INSTALL_SCRIPT },
  { platform: 'Windows', build: windowsAgentDocument, plugin: 'aws:runPowerShellScript', scriptPath: WINDOWS_INSTALL_SCRIPT },
])('$platform agent document', ({ build, plugin, scriptPath }) => {
  const doc: CommandDocumentContent = build();
  const script = readFileSync(scriptPath, 'utf8');

  test('is a schema 2.2 Command document with one step running the embedded script', () => {
    expect(doc.schemaVersion).toBe('2.2');
    expect(doc.mainSteps).toHaveLength(1);
    const [step] = doc.mainSteps;
    expect(step.action).toBe(plugin);
    expect(step.inputs.timeoutSeconds).toBe('900');
    expect(`${step.inputs.runCommand.join('\n')}\n`).toBe(script.replace(/\r\n/g, '\n'));
  });

  test('declares the contract parameters, every one passed as an environment variable', () => {
    expect(Object.keys(doc.parameters).sort()).toEqual([...PARAMETER_NAMES].sort());
    expect(Object.values(AGENT_DOCUMENT_PARAMETERS).sort()).toEqual([...PARAMETER_NAMES].sort());
    for (const parameter of Object.values(doc.parameters)) {
      expect(parameter.type).toBe('String');
      expect(parameter.interpolationType).toBe('ENV_VAR');
      expect(parameter.description.length).toBeGreaterThan(10);
    }
  });

  test('constrains each parameter', () => {
    const p = doc.parameters;
    expect(p.Tenant.allowedPattern).toBe('^[A-Za-z0-9_.-]{1,128}$');
    expect(p.AlloyVersion.allowedPattern).toBe('^[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}$');
    expect(p.ConfigVersion.allowedPattern).toBe('^[0-9]{1,19}$');
    expect(p.Action).toMatchObject({ allowedValues: ['install', 'reload'], default: 'install' });
    expect(p.StopLegacyAgents).toMatchObject({ allowedValues: ['true', 'false'], default: 'true' });
    // The config is multi-line text checked by `alloy validate` on the instance; required.
    expect(p.AgentConfig.allowedPattern).toBeUndefined();
    expect(p.AgentConfig.default).toBeUndefined();
    expect(p.AlloyVersion.default).toBeUndefined();
  });

  test('patterns accept good values and refuse injection attempts', () => {
    const p = doc.parameters;
    const accepts = (pattern: string | undefined, value: string) => new RegExp(pattern ?? '').test(value);
    expect(accepts(p.Tenant.allowedPattern, 'aws-rag-ec2')).toBe(true);
    expect(accepts(p.Tenant.allowedPattern, 'a;reboot')).toBe(false);
    expect(accepts(p.Tenant.allowedPattern, 'a'.repeat(129))).toBe(false);
    expect(accepts(p.AlloyVersion.allowedPattern, '1.21.0')).toBe(true);
    expect(accepts(p.AlloyVersion.allowedPattern, 'v1.21.0')).toBe(false);
    expect(accepts(p.AlloyVersion.allowedPattern, '1.21.0 && curl x')).toBe(false);
    expect(accepts(p.ConfigVersion.allowedPattern, '17')).toBe(true);
    expect(accepts(p.ConfigVersion.allowedPattern, '17$(id)')).toBe(false);
  });

  test('never lets Run Command splice text into the script', () => {
    // Any {{...}} in the content would be substituted by Run Command: the scripts read
    // SSM_<name> environment variables instead.
    expect(JSON.stringify(doc)).not.toContain('{{');
    for (const name of PARAMETER_NAMES) expect(script).toContain(`SSM_${name}`);
  });

  test('is ASCII and fits the SSM document size limit with room for parameters', () => {
    // Windows PowerShell 5.1 reads a BOM-less script as ANSI.
    expect([...script].filter((ch) => ch.charCodeAt(0) > 0x7e)).toEqual([]);
    expect(Buffer.byteLength(JSON.stringify(doc))).toBeLessThan(MAX_DOCUMENT_BYTES - 4096);
  });
});

describe('options', () => {
  test('a default Alloy version and an execution timeout', () => {
    const doc = linuxAgentDocument({ defaultAlloyVersion: '1.21.0', executionTimeoutSeconds: 1800 });
    expect(doc.parameters.AlloyVersion.default).toBe('1.21.0');
    expect(doc.mainSteps[0].inputs.timeoutSeconds).toBe('1800');
  });

  test.each([
    [{ defaultAlloyVersion: 'v1.21.0' }, 'defaultAlloyVersion must look like 1.21.0 (no "v" prefix), got "v1.21.0"'],
    [{ defaultAlloyVersion: 'latest' }, 'defaultAlloyVersion must look like 1.21.0'],
    [{ executionTimeoutSeconds: 30 }, 'executionTimeoutSeconds must be a whole number from 60 to 172800, got 30'],
    [{ executionTimeoutSeconds: 90.5 }, 'executionTimeoutSeconds must be a whole number'],
  ])('%p is refused', (opts, message) => {
    expect(() => linuxAgentDocument(opts)).toThrow(message);
    expect(() => windowsAgentDocument(opts)).toThrow(message);
  });
});

describe('platform specifics in the scripts', () => {
  const linux = readFileSync(LINUX_INSTALL_SCRIPT, 'utf8');
  const windows = readFileSync(WINDOWS_INSTALL_SCRIPT, 'utf8');

  test('the Linux script runs under bash with strict error handling', () => {
    expect(linux.startsWith('#!/bin/bash\n')).toBe(true);
    expect(linux).toContain('set -Eeuo pipefail');
  });

  test('the Windows script stops on errors, uses IMDSv2 and refuses non-amd64', () => {
    expect(windows).toContain("$ErrorActionPreference = 'Stop'");
    expect(windows).toContain("'X-aws-ec2-metadata-token-ttl-seconds' = '300'");
    expect(windows).toContain("if ($arch -ne 'AMD64')");
    expect(windows).toContain('alloy-installer-windows-amd64.exe.zip');
    // NSIS: /S is case-sensitive and /D= must be last and unquoted.
    expect(windows).toMatch(/"\/S \/CONFIG=`"\$ConfigPath`" \/DISABLEREPORTING=yes \/D=\$InstallDir"/);
    expect(windows).toContain("'SOFTWARE\\GrafanaLabs\\Alloy'");
    expect(windows).toContain("'S-1-5-32-573', # Event Log Readers");
    expect(windows).toContain("'S-1-5-32-558'  # Performance Monitor Users");
  });
});
