/**
 * How config files map onto Parameter Store parameters, shared by the stack (which writes them)
 * and the refresh handler (which checks them before a rollout):
 * - a file is one parameter; a file that holds JSON (Grafana dashboards) has a name ending `.json`;
 * - a file larger than one parameter is split into parameters `<name>/part-<n>` (n from 1),
 *   concatenated in order by the init container.
 */
export const CONFIG_PART_PATTERN = /\/part-([1-9][0-9]*)$/;

/** Name of the `index`-th part (from 1) of the file stored under `name`. */
export function configPartName(name: string, index: number): string {
  return `${name}/part-${index}`;
}

/** Whether `name` is one part of a split file (checked only as text: a part alone is not valid JSON). */
export function isConfigPart(name: string): boolean {
  return CONFIG_PART_PATTERN.test(name);
}

/** Whether `name` is a whole JSON file. */
export function isJsonConfig(name: string): boolean {
  return name.endsWith('.json');
}
