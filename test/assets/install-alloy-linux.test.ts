import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shellcheckTest } from '../support/shellcheck';

/**
 * Runs assets/agent/install-alloy.sh for real under bash, against shims (test/assets/fixtures/
 * linux-shims) for the package managers, systemctl, curl (IMDS and Alloy's HTTP API), user
 * and group tools and the alloy binary. Every shim appends its command line to a log, which
 * is what most assertions read.
 */

const AGENT_DIR = join(__dirname, '..', '..', 'assets', 'agent');
const SCRIPT = join(AGENT_DIR, 'install-alloy.sh');
const FIXTURES = join(__dirname, 'fixtures');
const SHIMS = join(FIXTURES, 'linux-shims');

const IMDS_URL = 'http://imds.test';
const ALLOY_URL = 'http://alloy.test:12345';
const READY_TIMEOUT = 3;

const CONFIG_V1 = 'prometheus.exporter.unix "host" { }\n';
const CONFIG_V2 = 'prometheus.exporter.unix "host" {\n  set_collectors = ["cpu"]\n}\n';

interface Inputs {
  AgentConfig?: string;
  Tenant: string;
  AlloyVersion: string;
  ConfigVersion: string;
  Action: string;
  StopLegacyAgents: string;
}

const DEFAULT_INPUTS: Inputs = {
  AgentConfig: CONFIG_V1,
  Tenant: 'aws-rag-ec2',
  AlloyVersion: '1.21.0',
  ConfigVersion: '3',
  Action: 'install',
  StopLegacyAgents: 'true',
};

interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Commands the shims saw during this run, one per line. */
  calls: string[];
}

class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'lgtm-alloy-'));
  readonly root = join(this.dir, 'root');
  private readonly state = join(this.dir, 'state');
  private readonly shims = join(this.dir, 'shims');
  private readonly installedBin = join(this.dir, 'installed-bin');
  private readonly callLog = join(this.dir, 'calls.log');

  constructor(
    osRelease: string,
    private readonly machine: string,
  ) {
    mkdirSync(join(this.root, 'etc'), { recursive: true });
    mkdirSync(join(this.state, 'units'), { recursive: true });
    mkdirSync(this.shims);
    for (const shim of readdirSync(SHIMS)) {
      copyFileSync(join(SHIMS, shim), join(this.shims, shim));
      chmodSync(join(this.shims, shim), 0o755);
    }
    copyFileSync(join(FIXTURES, 'os-release', osRelease), join(this.root, 'etc', 'os-release'));
    writeFileSync(this.callLog, '');
  }

  run(inputs: Partial<Inputs> = {}, extraEnv: Record<string, string> = {}): RunResult {
    const merged = { ...DEFAULT_INPUTS, ...inputs };
    const ssmEnv: Record<string, string> = {};
    for (const [name, value] of Object.entries(merged)) {
      if (value !== undefined) ssmEnv[`SSM_${name}`] = value;
    }
    writeFileSync(this.callLog, '');
    const result = spawnSync('bash', [SCRIPT], {
      encoding: 'utf8',
      timeout: 15_000,
      env: {
        PATH: `${this.shims}:${this.installedBin}:/usr/sbin:/usr/bin:/sbin:/bin`,
        HOME: this.dir,
        LANG: 'C',
        LGTM_ROOT: this.root,
        LGTM_IMDS_URL: IMDS_URL,
        LGTM_ALLOY_URL: ALLOY_URL,
        LGTM_READY_TIMEOUT: String(READY_TIMEOUT),
        FAKE_STATE: this.state,
        FAKE_CALLS: this.callLog,
        FAKE_BIN: this.shims,
        FAKE_INSTALLED_BIN: this.installedBin,
        FAKE_FIXTURES: FIXTURES,
        FAKE_MACHINE: this.machine,
        ...ssmEnv,
        ...extraEnv,
      },
    });
    const calls = readFileSync(this.callLog, 'utf8').split('\n').filter(Boolean);
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
  }

  file(path: string): string {
    return readFileSync(join(this.root, path), 'utf8');
  }

  exists(path: string): boolean {
    return existsSync(join(this.root, path));
  }

  /** Declares a systemd unit in the fake systemctl's state. */
  unit(name: string, state: { active?: boolean; enabled?: boolean }): void {
    const base = join(this.state, 'units', name);
    writeFileSync(`${base}.loaded`, '');
    if (state.active) writeFileSync(`${base}.active`, '');
    if (state.enabled) writeFileSync(`${base}.enabled`, '');
  }

  unitState(name: string): { active: boolean; enabled: boolean } {
    const base = join(this.state, 'units', name);
    return { active: existsSync(`${base}.active`), enabled: existsSync(`${base}.enabled`) };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const sandboxes: Sandbox[] = [];
function sandbox(osRelease = 'debian-12', machine = 'x86_64'): Sandbox {
  const box = new Sandbox(osRelease, machine);
  sandboxes.push(box);
  return box;
}
afterAll(() => {
  for (const box of sandboxes) box.dispose();
});

const matching = (calls: string[], pattern: RegExp) => calls.filter((c) => pattern.test(c));
const PACKAGE_CHANGES = /^(apt-get (install|update)|dnf|yum|rpm)\b/;
const RESTARTS = /^systemctl (restart|start) alloy$/;

function expectSuccess(result: RunResult): void {
  if (result.status !== 0) {
    throw new Error(`install-alloy.sh exited ${result.status}\n--- stderr\n${result.stderr}\n--- stdout\n${result.stdout}`);
  }
}

describe.each([
  {
    osRelease: 'debian-12',
    machine: 'x86_64',
    arch: 'amd64',
    envFile: '/etc/default/alloy',
    install: /^apt-get install -y -q .*--force-confold .*--allow-downgrades alloy=1\.21\.0-1$/,
  },
  {
    osRelease: 'ubuntu-24.04',
    machine: 'aarch64',
    arch: 'arm64',
    envFile: '/etc/default/alloy',
    install: /^apt-get install -y -q .*--allow-downgrades alloy=1\.21\.0-1$/,
  },
  {
    osRelease: 'amzn-2023',
    machine: 'aarch64',
    arch: 'arm64',
    envFile: '/etc/sysconfig/alloy',
    install: /^dnf -y --refresh install alloy-1\.21\.0$/,
  },
  { osRelease: 'amzn-2', machine: 'x86_64', arch: 'amd64', envFile: '/etc/sysconfig/alloy', install: /^yum -y install alloy-1\.21\.0$/ },
  {
    osRelease: 'rhel-9',
    machine: 'x86_64',
    arch: 'amd64',
    envFile: '/etc/sysconfig/alloy',
    install: /^dnf -y --refresh install alloy-1\.21\.0$/,
  },
])('install on $osRelease ($arch)', ({ osRelease, machine, arch, envFile, install }) => {
  const box = sandbox(osRelease, machine);
  let first: RunResult;
  let second: RunResult;

  beforeAll(() => {
    first = box.run();
    second = box.run();
  });

  test('installs the pinned version once, from the Grafana repository', () => {
    expectSuccess(first);
    expect(first.stdout).toContain(`, ${arch}, package manager`);
    expect(matching(first.calls, install)).toHaveLength(1);
    expect(matching(first.calls, /^(apt-get install|dnf .*install|yum .*install)/)).toHaveLength(1);
    if (envFile === '/etc/default/alloy') {
      expect(box.file('/etc/apt/sources.list.d/grafana.list')).toBe(
        'deb [signed-by=/etc/apt/keyrings/grafana.asc] https://apt.grafana.com stable main\n',
      );
      expect(box.file('/etc/apt/keyrings/grafana.asc')).toContain('BEGIN PGP PUBLIC KEY BLOCK');
      expect(first.calls).toContain('apt-get -q -o DPkg::Lock::Timeout=300 update');
    } else {
      const repo = box.file('/etc/yum.repos.d/grafana.repo');
      expect(repo).toContain('baseurl=https://rpm.grafana.com\n');
      expect(repo).toContain('gpgcheck=1\n');
      expect(repo).toContain('gpgkey=https://rpm.grafana.com/gpg.key\n');
      expect(first.calls).toContain('rpm --import https://rpm.grafana.com/gpg.key');
    }
  });

  test('writes the config, the environment and the journal groups, then starts Alloy once', () => {
    expectSuccess(first);
    expect(box.file('/etc/alloy/config.alloy')).toBe(CONFIG_V1);
    expect(first.calls).toContainEqual(expect.stringMatching(/^chown root:alloy .*\/etc\/alloy\/\.config\.alloy\./));

    const env = box.file(envFile);
    expect(env).toContain('CONFIG_FILE="/etc/alloy/config.alloy"\n');
    expect(env).toContain('CUSTOM_ARGS="--stability.level=public-preview --server.http.listen-addr=127.0.0.1:12345 --disable-reporting"\n');
    // The package's other settings survive.
    expect(env).toContain('RESTART_ON_UPGRADE=true\n');
    expect(env).toContain('CUSTOM_OTEL_ARGS=""\n');
    expect(env).toContain(
      [
        'LGTM_TENANT="aws-rag-ec2"',
        'LGTM_INSTANCE_ID="i-0123456789abcdef0"',
        'LGTM_AVAILABILITY_ZONE="eu-west-1a"',
        'LGTM_REGION="eu-west-1"',
        'LGTM_INSTANCE_TYPE="t3.micro"',
        'LGTM_HOSTNAME="ip-10-0-0-1.eu-west-1.compute.internal"',
        'LGTM_CONFIG_VERSION="3"',
      ].join('\n'),
    );
    expect(env.match(/^CONFIG_FILE=/gm)).toHaveLength(1);
    expect(env.match(/^CUSTOM_ARGS=/gm)).toHaveLength(1);

    expect(first.calls).toContain('usermod -a -G systemd-journal alloy');
    expect(first.calls).toContain('usermod -a -G adm alloy');
    // The config is validated with the run's stability level before it goes live.
    expect(first.calls).toContainEqual(expect.stringMatching(/^alloy validate --stability\.level=public-preview .*\.config\.alloy\./));
    expect(first.calls).toContain('systemctl enable alloy');
    expect(matching(first.calls, RESTARTS)).toEqual(['systemctl restart alloy']);
    expect(first.calls).toContain(`curl -fsS -o /dev/null --max-time 2 ${ALLOY_URL}/-/ready`);
    expect(first.stdout).toContain('Alloy 1.21.0 is ready');
  });

  test('a second run with the same inputs installs nothing and does not restart', () => {
    expectSuccess(second);
    expect(matching(second.calls, PACKAGE_CHANGES)).toEqual([]);
    expect(matching(second.calls, /^curl .*gpg/)).toEqual([]);
    expect(matching(second.calls, RESTARTS)).toEqual([]);
    expect(matching(second.calls, /^(usermod|systemctl enable)/)).toEqual([]);
    expect(second.stdout).toContain('installed=0, restarted=0');
  });
});

describe('version changes', () => {
  test('a new pinned version installs exactly once and restarts once', () => {
    const box = sandbox('debian-12');
    expectSuccess(box.run());
    const upgrade = box.run({ AlloyVersion: '1.22.0' });
    expectSuccess(upgrade);
    expect(matching(upgrade.calls, /^apt-get install/)).toEqual([expect.stringMatching(/ --allow-downgrades alloy=1\.22\.0-1$/)]);
    expect(matching(upgrade.calls, RESTARTS)).toHaveLength(1);
    expect(upgrade.stdout).toContain('installing Alloy 1.22.0 (installed: 1.21.0)');
    expect(upgrade.stdout).toContain('Alloy 1.22.0 is ready');
  });

  test('an older pinned version is a downgrade on dnf', () => {
    const box = sandbox('amzn-2023', 'aarch64');
    expectSuccess(box.run({ AlloyVersion: '1.22.0' }));
    const downgrade = box.run({ AlloyVersion: '1.21.0' });
    expectSuccess(downgrade);
    expect(matching(downgrade.calls, /^dnf/)).toEqual(['dnf -y --refresh downgrade alloy-1.21.0']);
    // The repository was set up by the first run.
    expect(matching(downgrade.calls, /^rpm/)).toEqual([]);
  });

  test('a version the repository does not have fails with the package manager named', () => {
    const box = sandbox('debian-12');
    const result = box.run({ AlloyVersion: '9.9.9' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('lgtm-fleet: Alloy 9.9.9 is not available from https://apt.grafana.com');
    expect(matching(result.calls, RESTARTS)).toEqual([]);
  });

  test('a changed config alone restarts once without touching packages', () => {
    const box = sandbox('amzn-2');
    expectSuccess(box.run());
    const changed = box.run({ AgentConfig: CONFIG_V2, ConfigVersion: '4' });
    expectSuccess(changed);
    expect(box.file('/etc/alloy/config.alloy')).toBe(CONFIG_V2);
    expect(box.file('/etc/sysconfig/alloy')).toContain('LGTM_CONFIG_VERSION="4"\n');
    expect(matching(changed.calls, PACKAGE_CHANGES)).toEqual([]);
    expect(matching(changed.calls, RESTARTS)).toHaveLength(1);
  });
});

describe('legacy agents', () => {
  test('a running node_exporter and ADOT collector are stopped and disabled', () => {
    const box = sandbox('ubuntu-24.04');
    box.unit('node_exporter', { active: true, enabled: true });
    box.unit('aws-otel-collector', { active: true, enabled: true });
    const result = box.run();
    expectSuccess(result);
    for (const unit of ['node_exporter', 'aws-otel-collector']) {
      expect(result.calls).toContain(`systemctl stop ${unit}`);
      expect(result.calls).toContain(`systemctl disable ${unit}`);
      expect(box.unitState(unit)).toEqual({ active: false, enabled: false });
    }
    // Absent units are left alone.
    expect(matching(result.calls, /^systemctl (stop|disable) prometheus-node-exporter/)).toEqual([]);
  });

  test('StopLegacyAgents=false leaves them running', () => {
    const box = sandbox('ubuntu-24.04');
    box.unit('node_exporter', { active: true, enabled: true });
    const result = box.run({ StopLegacyAgents: 'false' });
    expectSuccess(result);
    expect(matching(result.calls, /^systemctl (stop|disable) node_exporter/)).toEqual([]);
    expect(box.unitState('node_exporter')).toEqual({ active: true, enabled: true });
  });
});

describe('failures', () => {
  test('Alloy never ready: exits non-zero with the message and the journal', () => {
    const box = sandbox('debian-12');
    const result = box.run({}, { FAKE_NEVER_READY: '1' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`lgtm-fleet: Alloy did not become ready at ${ALLOY_URL}/-/ready within ${READY_TIMEOUT}s`);
    expect(result.stderr).toContain('fake journal: failed to start');
    expect(result.calls).toContain('journalctl -u alloy -n 50 --no-pager');
    expect(matching(result.calls, /\/-\/ready$/)).toHaveLength(READY_TIMEOUT);
  });

  test('a failing restart prints the journal', () => {
    const box = sandbox('debian-12');
    const result = box.run({}, { FAKE_RESTART_FAILS: '1' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('lgtm-fleet: systemctl restart alloy failed');
    expect(result.stderr).toContain('fake journal: failed to start');
  });

  test('a failing package install stops before any config is written', () => {
    const box = sandbox('rhel-9');
    const result = box.run({}, { FAKE_INSTALL_FAILS: '1' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('lgtm-fleet: dnf could not install alloy-1.21.0');
    expect(box.exists('/etc/alloy/config.alloy')).toBe(false);
  });

  test('IMDS unreachable: exits before installing anything', () => {
    const box = sandbox('debian-12');
    const result = box.run({}, { FAKE_IMDS_DOWN: '1' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`lgtm-fleet: instance metadata (IMDSv2) is unreachable at ${IMDS_URL}`);
    expect(matching(result.calls, PACKAGE_CHANGES)).toEqual([]);
  });

  test('an unresolved Parameter Store reference is refused', () => {
    const box = sandbox('debian-12');
    const result = box.run({ AgentConfig: '{{ssm:/LgtmFleet/agent/aws-rag-ec2/linux}}' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^lgtm-fleet: AgentConfig reached the instance as an unresolved Parameter Store reference/m);
    expect(result.calls).toEqual([]);
  });

  test('an SSM Agent without environment-variable parameters is named', () => {
    const box = sandbox('debian-12');
    const result = box.run({ AgentConfig: undefined });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('lgtm-fleet: SSM_AgentConfig is not set: environment-variable parameters need SSM Agent 3.3.2746.0');
  });

  test.each([
    [{ Tenant: 'bad tenant' }, "Tenant must be 1-128 letters, digits, '-', '_' or '.', got 'bad tenant'"],
    [{ Tenant: '..' }, 'Tenant must be'],
    [{ AlloyVersion: 'v1.21.0' }, "AlloyVersion must look like 1.21.0, got 'v1.21.0'"],
    [{ ConfigVersion: '3; reboot' }, 'ConfigVersion must be a Parameter Store version number'],
    [{ Action: 'uninstall' }, "Action must be install or reload, got 'uninstall'"],
    [{ StopLegacyAgents: 'yes' }, 'StopLegacyAgents must be true or false'],
  ])('invalid input %p is refused before anything runs', (inputs, message) => {
    const box = sandbox('debian-12');
    const result = box.run(inputs);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`lgtm-fleet: ${message}`);
    expect(result.calls).toEqual([]);
  });

  test('an unsupported architecture is refused', () => {
    const box = sandbox('debian-12', 's390x');
    const result = box.run();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('lgtm-fleet: unsupported architecture s390x: Alloy packages exist for amd64 and arm64 only');
  });

  test('an unsupported distribution is refused', () => {
    const box = sandbox('sles-15');
    const result = box.run();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('lgtm-fleet: unsupported distribution: SUSE Linux Enterprise Server 15 SP5');
  });

  test('install with a config Alloy rejects keeps the running config and environment', () => {
    const box = sandbox('debian-12');
    expectSuccess(box.run());
    const env = box.file('/etc/default/alloy');
    const result = box.run({ AgentConfig: 'INVALID_SYNTAX {\n', ConfigVersion: '4' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('lgtm-fleet: Alloy rejected the new configuration (config version 4); the current one is unchanged');
    expect(result.stderr).toContain('expected block or attribute');
    expect(box.file('/etc/alloy/config.alloy')).toBe(CONFIG_V1);
    expect(box.file('/etc/default/alloy')).toBe(env);
    expect(matching(result.calls, RESTARTS)).toEqual([]);
    expect(readdirSync(join(box.root, 'etc', 'alloy'))).toEqual(['config.alloy']);
  });
});

describe('reload action', () => {
  function installed(osRelease = 'debian-12'): Sandbox {
    const box = sandbox(osRelease);
    expectSuccess(box.run());
    return box;
  }
  const RELOAD_CALL = `curl -sS --max-time 30 -X POST -w \\n%{http_code} ${ALLOY_URL}/-/reload`;

  test('swaps the config and reloads Alloy without a restart', () => {
    const box = installed();
    const result = box.run({ Action: 'reload', AgentConfig: CONFIG_V2, ConfigVersion: '4' });
    expectSuccess(result);
    expect(box.file('/etc/alloy/config.alloy')).toBe(CONFIG_V2);
    expect(result.calls).toContain(RELOAD_CALL);
    expect(matching(result.calls, RESTARTS)).toEqual([]);
    expect(matching(result.calls, PACKAGE_CHANGES)).toEqual([]);
    expect(box.file('/etc/default/alloy')).toContain('LGTM_CONFIG_VERSION="4"\n');
    expect(result.stdout).toContain('reloaded /etc/alloy/config.alloy (config version 4) without a restart');
  });

  test('a config that fails validation is never put in place', () => {
    const box = installed();
    const result = box.run({ Action: 'reload', AgentConfig: 'INVALID_SYNTAX {\n', ConfigVersion: '4' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('lgtm-fleet: Alloy rejected the new configuration (config version 4); the current one is unchanged');
    expect(box.file('/etc/alloy/config.alloy')).toBe(CONFIG_V1);
    expect(box.file('/etc/default/alloy')).toContain('LGTM_CONFIG_VERSION="3"\n');
    expect(result.calls).not.toContain(RELOAD_CALL);
    expect(matching(result.calls, RESTARTS)).toEqual([]);
  });

  test('a config Alloy refuses to load is rolled back, the old one keeps running', () => {
    const box = installed();
    const result = box.run({ Action: 'reload', AgentConfig: `${CONFIG_V2}// REJECT_ON_LOAD\n`, ConfigVersion: '4' });
    expect(result.status).toBe(1);
    expect(result.calls).toContain(RELOAD_CALL);
    expect(result.stderr).toContain('lgtm-fleet: Alloy refused to reload config version 4 (HTTP 400); the previous file is restored');
    expect(result.stderr).toContain('Failed to build component: REJECT_ON_LOAD');
    expect(box.file('/etc/alloy/config.alloy')).toBe(CONFIG_V1);
    expect(box.file('/etc/default/alloy')).toContain('LGTM_CONFIG_VERSION="3"\n');
    expect(readdirSync(join(box.root, 'etc', 'alloy'))).toEqual(['config.alloy']);
    expect(matching(result.calls, RESTARTS)).toEqual([]);
  });

  test('an unchanged config needs no reload', () => {
    const box = installed();
    const result = box.run({ Action: 'reload' });
    expectSuccess(result);
    expect(result.calls).not.toContain(RELOAD_CALL);
    expect(matching(result.calls, RESTARTS)).toEqual([]);
  });

  test('a tenant change restarts instead, so the new environment takes effect', () => {
    const box = installed();
    const result = box.run({ Action: 'reload', Tenant: 'team-b', AgentConfig: CONFIG_V2, ConfigVersion: '4' });
    expectSuccess(result);
    expect(result.calls).not.toContain(RELOAD_CALL);
    expect(matching(result.calls, RESTARTS)).toEqual(['systemctl restart alloy']);
    expect(box.file('/etc/default/alloy')).toContain('LGTM_TENANT="team-b"\n');
    expect(box.file('/etc/alloy/config.alloy')).toBe(CONFIG_V2);
  });

  test('reload on an instance without Alloy asks for an install', () => {
    const box = sandbox('debian-12');
    const result = box.run({ Action: 'reload' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('lgtm-fleet: Alloy is not installed on this instance: run the document with Action=install');
    expect(matching(result.calls, PACKAGE_CHANGES)).toEqual([]);
  });
});

describe('shellcheck', () => {
  shellcheckTest('the agent scripts and the test shims pass shellcheck', () => {
    const scripts = readdirSync(AGENT_DIR)
      .filter((f) => f.endsWith('.sh'))
      .map((f) => join(AGENT_DIR, f));
    const shims = readdirSync(SHIMS).map((f) => join(SHIMS, f));
    expect(scripts).toContain(SCRIPT);
    const result = spawnSync('shellcheck', ['--shell=bash', '--severity=style', ...scripts, ...shims], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
