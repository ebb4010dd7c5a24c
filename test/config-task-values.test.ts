import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readTaskValueCommands, substitutionCommand } from '../lib/config-delivery';
import { TASK_PLACEHOLDERS, type TaskValue } from '../lib/render/cluster';

/**
 * The init container reads the task's address and zone from the ECS task metadata endpoint with
 * busybox (the config-init image): run the commands with busybox's own tools against a local
 * stand-in for the endpoint serving a Fargate task's metadata.
 */
const run = promisify(execFile);
const METADATA = readFileSync(join(__dirname, 'fixtures', 'ecs', 'task-metadata-v4.json'), 'utf8');
const haveBusybox = spawnSync('busybox', ['true']).status === 0;

function busyboxPath(): string {
  const bin = join(mkdtempSync(join(tmpdir(), 'busybox-')), 'bin');
  mkdirSync(bin);
  const busybox = spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim();
  for (const tool of ['sh', 'wget', 'tr', 'sed', 'head', 'grep', 'awk', 'mv']) symlinkSync(busybox, join(bin, tool));
  return bin;
}

let server: Server;
let body = METADATA;
let base = '';

beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/v4/task-id/task') response.end(body);
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v4/task-id`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Writes `template` into a file, runs the commands that fill in `value`, returns the file or the error. */
async function fill(path: string, value: TaskValue, template: string): Promise<{ file?: string; error?: string }> {
  const file = join(mkdtempSync(join(tmpdir(), 'task-value-')), 'loki.yaml');
  writeFileSync(file, template);
  const placeholder = TASK_PLACEHOLDERS[value];
  const commands = [
    ...readTaskValueCommands('VALUE_0', value, `task ${value}`),
    substitutionCommand(file, 'VALUE_0', { placeholder, source: { task: value }, escapes: {}, description: `task ${value}` }),
  ];
  try {
    await run('sh', ['-c', ['set -e', ...commands].join(' && ')], { env: { PATH: path, ECS_CONTAINER_METADATA_URI_V4: base } });
    return { file: readFileSync(file, 'utf8') };
  } catch (error) {
    return { error: (error as { stderr: string }).stderr };
  }
}

const describeBusybox = haveBusybox ? describe : describe.skip;

describeBusybox('the init container writes the task values (busybox)', () => {
  const path = haveBusybox ? busyboxPath() : '';

  test('the task address, everywhere its placeholder is', async () => {
    body = METADATA;
    const template = `common:\n  instance_addr: ${TASK_PLACEHOLDERS.address}\nmemberlist:\n  advertise_addr: ${TASK_PLACEHOLDERS.address}\n`;
    expect(await fill(path, 'address', template)).toEqual({
      file: 'common:\n  instance_addr: 10.40.3.117\nmemberlist:\n  advertise_addr: 10.40.3.117\n',
    });
  });

  test('the availability zone', async () => {
    body = METADATA;
    expect(await fill(path, 'availabilityZone', `zone: ${TASK_PLACEHOLDERS.availabilityZone}\n`)).toEqual({ file: 'zone: eu-west-1b\n' });
  });

  test('the same values from compact JSON (no blanks at all)', async () => {
    body = JSON.stringify(JSON.parse(METADATA));
    expect(await fill(path, 'address', `a: ${TASK_PLACEHOLDERS.address}\n`)).toEqual({ file: 'a: 10.40.3.117\n' });
    expect(await fill(path, 'availabilityZone', `z: ${TASK_PLACEHOLDERS.availabilityZone}\n`)).toEqual({ file: 'z: eu-west-1b\n' });
  });

  test.each([
    ['no address in the metadata', 'address', METADATA.replaceAll('"IPv4Addresses"', '"IPv6Addresses"')],
    ['a malformed address', 'address', METADATA.replaceAll('10.40.3.117', '10.40.3')],
    ['no zone in the metadata', 'availabilityZone', METADATA.replace('"AvailabilityZone"', '"Zone"')],
    ['an endpoint that answers nothing', 'address', ''],
  ] as const)('stops the task with a message naming the value: %s', async (_, value, metadata) => {
    body = metadata;
    const result = await fill(path, value, `x: ${TASK_PLACEHOLDERS[value]}\n`);
    expect(result.file).toBeUndefined();
    expect(result.error).toContain(`lgtm-fleet: no valid task ${value} in the task metadata`);
  });
});

test('busybox runs these checks in CI', () => {
  if (process.env.CI) expect(haveBusybox).toBe(true);
});
