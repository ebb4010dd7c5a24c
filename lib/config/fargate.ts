/**
 * Valid Fargate CPU/memory pairings (Linux, ARM64 and x86_64 alike).
 * cpu → [min MiB, max MiB, step MiB].
 */
const FARGATE_MEMORY: Record<number, [number, number, number] | number[]> = {
  256: [512, 1024, 2048],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

/** The memory sizes Fargate accepts for `cpu`, or an empty list for an unknown CPU value. */
export function fargateMemoryOptions(cpu: number): number[] {
  const spec = FARGATE_MEMORY[cpu];
  if (!spec) return [];
  if (cpu === 256) return [...spec];
  const [min, max, step] = spec;
  const options: number[] = [];
  for (let m = min; m <= max; m += step) options.push(m);
  return options;
}

/** A sentence describing why (cpu, memory) is not a Fargate size, or undefined when it is one. */
export function fargateSizeProblem(cpu: number, memoryMiB: number): string | undefined {
  const options = fargateMemoryOptions(cpu);
  if (options.length === 0) {
    return `cpu ${cpu} is not a Fargate size (use one of ${Object.keys(FARGATE_MEMORY).join(', ')})`;
  }
  if (!options.includes(memoryMiB)) {
    const range = cpu === 256 ? options.join(', ') : `${options[0]}-${options[options.length - 1]} in steps of ${options[1] - options[0]}`;
    return `memoryMiB ${memoryMiB} does not pair with cpu ${cpu} on Fargate (allowed: ${range})`;
  }
  return undefined;
}
