import type { Template } from 'aws-cdk-lib/assertions';
import { PARAMETER_WRITE_LANES } from '../lib/lgtm-fleet-stack';
import { resourcesOf, synthStack } from './helpers';

/** What CloudFormation would do on an update: which logical IDs exist, and what each parameter is. */
function parameters(template: Template): Map<string, { name: string; tier: string; value: string }> {
  return new Map(
    Object.entries(resourcesOf(template, 'AWS::SSM::Parameter')).map(([id, p]) => [
      id,
      { name: String(p.Properties.Name), tier: String(p.Properties.Tier), value: JSON.stringify(p.Properties.Value) },
    ]),
  );
}

function tenants(allowed: string[]): Record<string, unknown> {
  return { tenants: { allowed, ec2Default: 'team-a', cloudwatchMetrics: 'team-b', cloudwatchLogs: 'team-c' } };
}

describe('an update that reorders tenants moves nothing', () => {
  const before = synthStack(tenants(['team-a', 'team-b', 'team-c'])).template;
  const after = synthStack(tenants(['team-c', 'team-a', 'team-b'])).template;

  test('the same logical IDs, each parameter keeping its name (a moved ID would claim a name the old resource still owns)', () => {
    const a = parameters(before);
    const b = parameters(after);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [id, p] of a) {
      // A deployed copy is named by its content: a new value is a new copy (created before the old one is deleted).
      const copy = p.name.includes('/deployed/') && b.get(id)?.value !== p.value;
      if (!copy) expect([id, b.get(id)?.name]).toEqual([id, p.name]);
    }
    expect([...a.values()].filter((p) => p.name.includes('/deployed/')).length).toBeGreaterThan(0);
  });

  test('no resource of any type appears or disappears', () => {
    const ids = (t: Template) => Object.keys(t.toJSON().Resources).sort();
    expect(ids(after)).toEqual(ids(before));
  });
});

describe('a parameter never changes tier as the configuration grows or shrinks (Parameter Store refuses advanced → standard)', () => {
  const sizes = [1, 3, 20].map((count) => {
    const allowed = ['team-a', 'team-b', 'team-c', ...Array.from({ length: 17 }, (_, i) => `tenant-${i}`)].slice(0, Math.max(count, 1));
    const values =
      count === 1
        ? { tenants: { allowed, ec2Default: 'team-a', cloudwatchMetrics: 'team-a', cloudwatchLogs: 'team-a' } }
        : tenants(allowed);
    return { count, parameters: parameters(synthStack(values).template) };
  });

  test('each parameter name has one tier across 1, 3 and 20 tenants', () => {
    const tierOf = new Map<string, Set<string>>();
    for (const { parameters: ps } of sizes) {
      for (const p of ps.values()) tierOf.set(p.name, (tierOf.get(p.name) ?? new Set()).add(p.tier));
    }
    const changing = [...tierOf].filter(([, tiers]) => tiers.size > 1).map(([name]) => name);
    expect(changing).toEqual([]);
  });

  test('files that grow with the tenants are advanced from the start', () => {
    const one = sizes[0].parameters;
    const twenty = sizes[2].parameters;
    const tierByName = (ps: Map<string, { name: string; tier: string }>) => new Map([...ps.values()].map((p) => [p.name, p.tier]));
    expect(tierByName(twenty).get('/LgtmFleet/config/grafana/federated-loki')).toBe('Advanced');
    expect(tierByName(one).get('/LgtmFleet/config/grafana/alerting')).toBe('Advanced');
    expect(tierByName(one).get('/LgtmFleet/config/mimir')).toBe('Standard');
  });
});

describe('CloudFormation writes parameters a few at a time (PutParameter throughput is low)', () => {
  test.each([1, 20])('with %i tenant(s), at most PARAMETER_WRITE_LANES parameter writes are in flight', (count) => {
    const allowed = ['team-a', 'team-b', 'team-c', ...Array.from({ length: 17 }, (_, i) => `tenant-${i}`)].slice(0, count);
    const values =
      count === 1
        ? { tenants: { allowed, ec2Default: 'team-a', cloudwatchMetrics: 'team-a', cloudwatchLogs: 'team-a' } }
        : tenants(allowed);
    const resources = resourcesOf(synthStack(values).template, 'AWS::SSM::Parameter');
    const ids = new Set(Object.keys(resources));
    const after = new Map([...ids].map((id) => [id, (resources[id].DependsOn ?? []).filter((d) => ids.has(d))]));
    // Chains: each parameter waits for at most one other and is waited for by at most one, so the
    // number of chain heads is the most CloudFormation can write at once.
    const waitedFor = [...after.values()].flat();
    expect(Math.max(...[...after.values()].map((d) => d.length))).toBeLessThanOrEqual(1);
    expect(new Set(waitedFor).size).toBe(waitedFor.length);
    const heads = [...after.values()].filter((d) => d.length === 0).length;
    expect(heads).toBe(Math.min(PARAMETER_WRITE_LANES, ids.size));
    const names = [...ids].map((id) => String(resources[id].Properties.Name));
    const copies = names.filter((name) => name.includes('/deployed/')).length;
    // The configs, with the tenant-binding gateway's nginx.conf: one parameter for 1 tenant, two parts for 20.
    expect(ids.size - copies).toBe(count === 1 ? 20 : 81);
    // One copy of every service config file (agent configs travel in the command, not in a task definition).
    expect(copies).toBe(names.filter((name) => name.includes('/config/')).length);
  });
});
