import { loadConfig } from '../../lib/config/load';
import { memcachedCommand, memcachedItemMemoryMiB } from '../../lib/render/memcached';

function argsOf(values: Record<string, unknown> = {}) {
  const args = memcachedCommand(loadConfig([{ origin: 'test', values }]));
  const flag = (name: string) => {
    const i = args.indexOf(name);
    expect(i).toBeGreaterThanOrEqual(0);
    return args[i + 1];
  };
  return { args, flag };
}

describe('memcachedCommand', () => {
  test('passes only flags, so the image entrypoint runs memcached with them', () => {
    const { args } = argsOf();
    expect(args[0]).toMatch(/^-/);
    expect(args).not.toContain('memcached');
  });

  test('leaves max(128 MiB, 20 %) of the task memory for connections and overhead', () => {
    // Default task: 1024 MiB → 20 % (205 MiB) is the larger overhead.
    expect(argsOf().flag('-m')).toBe('819');
    // 512 MiB task: 20 % would be 103 MiB, so the 128 MiB floor applies.
    expect(argsOf({ services: { memcached: { cpu: 256, memoryMiB: 512 } } }).flag('-m')).toBe('384');
    // 4096 MiB task: 20 % is 820 MiB.
    expect(argsOf({ services: { memcached: { cpu: 512, memoryMiB: 4096 } } }).flag('-m')).toBe('3276');
  });

  test('never gives memcached more than the task memory minus 128 MiB', () => {
    for (const memory of [512, 1024, 2048, 3072, 8192, 30720]) {
      const items = memcachedItemMemoryMiB(memory);
      expect(items).toBeLessThanOrEqual(memory - 128);
      expect(items).toBeLessThanOrEqual(memory * 0.8);
      expect(items).toBeGreaterThan(0);
    }
  });

  test('accepts items as large as the 5 MB results-cache entries and raises the connection limit', () => {
    const { flag } = argsOf();
    expect(flag('-I')).toBe('5m');
    expect(Number(flag('-c'))).toBeGreaterThanOrEqual(1024);
  });
});
