import { percentile, random, simulateBurst, ssmOnlineDelaySeconds } from '../../bin/bench/latency';

describe('enrollment latency simulation (npm run bench, section latency)', () => {
  test('the burst is the same on every run: a seeded generator', () => {
    const a = random(42);
    const b = random(42);
    const first = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(first);
    for (const value of first) expect(value).toBeGreaterThanOrEqual(0);
    for (const value of first) expect(value).toBeLessThan(1);
  });

  test('SSM registration delays stay within 20 s … 10 min, Windows slower than Linux', () => {
    const next = random(1);
    const linux = Array.from({ length: 2000 }, () => ssmOnlineDelaySeconds('linux', next)).sort((x, y) => x - y);
    const windows = Array.from({ length: 2000 }, () => ssmOnlineDelaySeconds('windows', next)).sort((x, y) => x - y);
    for (const delays of [linux, windows]) {
      expect(delays[0]).toBeGreaterThanOrEqual(20);
      expect(delays[delays.length - 1]).toBeLessThanOrEqual(600);
    }
    expect(percentile(linux, 50)).toBeGreaterThan(35);
    expect(percentile(linux, 50)).toBeLessThan(55);
    expect(percentile(windows, 50)).toBeGreaterThan(percentile(linux, 50) * 2);
    // A long tail: some take minutes.
    expect(percentile(linux, 99)).toBeGreaterThan(150);
  });

  test('percentile takes the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
  });

  test('every launch of a burst is enrolled, never before SSM reports it online', async () => {
    const figures = await simulateBurst(200);
    expect(figures.addedSeconds).toHaveLength(200);
    expect(figures.addedSeconds[0]).toBeGreaterThanOrEqual(0);
    expect(figures.calls).toBeGreaterThan(0);
  });
});
