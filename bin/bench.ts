/**
 * `npm run bench`: measures synth time, Lambda bundle size and cold-start load, enrollment bursts
 * and config refresh against a mocked SDK, prints one table with the machine it ran on, and writes the same
 * table to BENCHMARKS.md. Offline: no AWS, no Docker, no network.
 *
 * The figures are information, not assertions: the exit code is 0 whether or not a target is met,
 * and 1 only when a measurement itself failed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { benchBursts, CALLS_PER_INSTANCE_TARGET, MAX_IDS_PER_COMMAND } from './bench/burst';
import {
  benchGateway,
  CONCURRENCY as GATEWAY_CONCURRENCY,
  ROUNDS as GATEWAY_ROUNDS,
  TARGET_WRITES_PER_SECOND as GATEWAY_TARGET_WRITES_PER_SECOND,
  TASK_VCPU as GATEWAY_TASK_VCPU,
  WRITES as GATEWAY_WRITES,
} from './bench/gateway';
import { BUNDLE_TARGET_KB, benchLambdas, LOAD_RUNS, LOAD_TARGET_RATIO } from './bench/lambdas';
import { ADDED_LATENCY_TARGET, benchLatency } from './bench/latency';
import { BURST_UPDATES, benchRefresh, REFRESH_FLEETS, REFRESH_RUNS } from './bench/refresh';
import { benchSynth, SYNTH_RUNS, SYNTH_TARGET_RATIO } from './bench/synth';
import { markdownTable, progress, type Row } from './bench/table';

const REPO = resolve(__dirname, '..');
const SECTIONS = ['synth', 'lambdas', 'burst', 'latency', 'refresh', 'gateway'] as const;
type Section = (typeof SECTIONS)[number];

/**
 * `--only synth,lambdas` runs just those sections (for iterating on one figure); the table then
 * goes to stdout only, and BENCHMARKS.md keeps the last full run.
 */
function sectionsToRun(args: readonly string[]): ReadonlySet<Section> {
  const usage = `usage: npm run bench [-- --only ${SECTIONS.join(',')}]`;
  if (args.length === 0) return new Set(SECTIONS);
  const [flag, inlineList] = args[0].split('=', 2);
  const list = inlineList ?? args[1];
  if (flag !== '--only' || list === undefined || args.length > (inlineList === undefined ? 2 : 1)) {
    throw new Error(`unexpected arguments ${JSON.stringify(args)}; ${usage}`);
  }
  const names = list.split(',').filter(Boolean);
  const unknown = names.filter((name) => !(SECTIONS as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) throw new Error(`--only: unknown section(s) ${JSON.stringify(unknown)}; ${usage}`);
  return new Set(names as Section[]);
}

async function main(): Promise<number> {
  const sections = sectionsToRun(process.argv.slice(2));
  const complete = sections.size === SECTIONS.length;
  const started = performance.now();
  const loadAtStart = os.loadavg()[0];
  const work = mkdtempSync(join(os.tmpdir(), 'lgtm-bench-'));
  const rows: Row[] = [];
  try {
    // The later sections read the Lambdas' environment from the synthesized template when there is one.
    const synth = sections.has('synth') ? benchSynth(REPO, work) : { rows: [], assemblyDir: undefined };
    rows.push(...synth.rows);
    if (sections.has('lambdas')) rows.push(...(await benchLambdas(REPO, work, synth.assemblyDir)));
    if (sections.has('burst')) rows.push(...(await benchBursts()));
    if (sections.has('latency')) rows.push(...(await benchLatency()));
    if (sections.has('refresh')) rows.push(...(await benchRefresh(REPO, synth.assemblyDir)));
    if (sections.has('gateway')) rows.push(...(await benchGateway()));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const table = markdownTable(rows);
  const machine = describeMachine();
  // Other work on the machine inflates the times: the 1-minute load average says how busy it was.
  const runTime = `${((performance.now() - started) / 1000).toFixed(0)} s (1-minute load average ${loadAtStart.toFixed(1)} at start, ${os.loadavg()[0].toFixed(1)} at end)`;
  const written = complete ? 'written to BENCHMARKS.md' : `sections ${[...sections].join(', ')} only, BENCHMARKS.md left as it was`;
  process.stdout.write(`${machine}\n\n${table}\n\nbench run time ${runTime}; ${written}\n`);
  if (complete) writeFileSync(join(REPO, 'BENCHMARKS.md'), benchmarksPage(table, machine, runTime));
  const failed = rows.filter((r) => r.result === 'error').length;
  if (failed > 0) progress(`${failed} measurement(s) failed`);
  return failed > 0 ? 1 : 0;
}

function describeMachine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const memory = (os.totalmem() / 1024 ** 3).toFixed(1);
  return `${cpu}, ${os.availableParallelism()} cores, ${memory} GiB RAM, ${os.type()} ${os.release()} ${os.arch()}, Node ${process.version}`;
}

function benchmarksPage(table: string, machine: string, runTime: string): string {
  return `# Benchmarks

Written by \`npm run bench\` (\`bin/bench.ts\`) and overwritten on every run. The figures are
information, not assertions: the command exits 0 whether or not a target is met, and non-zero only
when a measurement itself failed.

- **Date**: ${new Date().toISOString()}
- **Machine**: ${machine}
- **Bench run time**: ${runTime}

${table}

## Reproduce

\`\`\`bash
npm ci
npm run bench
\`\`\`

It runs offline: no AWS credentials, no Docker, no network. Allow a few minutes on 2 cores.

## Targets and method

- **Synth** (target ≤ ${SYNTH_TARGET_RATIO}×): \`node_modules/.bin/cdk synth --quiet -o <tmp>\` of this app, exactly as
  \`cdk.json\` runs it (the \`tsc -b bin\` type-check beside the app run with \`tsx\`; cdk-nag, CDK's
  template validation and the local esbuild bundling included), next to an empty app generated in
  the same run with \`cdk init app --language typescript --generate-only\` from the same
  project-pinned CLI, using this repository's \`node_modules\`. The app is timed twice per run: as
  a synth usually runs, sources unchanged since the last type-check (which \`tsc -b\` then finds
  up to date: the ratio the target applies to), and as the first synth after a source change
  (its type-check build info deleted first, so the whole program is checked again). Runs
  alternate between the apps; each figure is the median of ${SYNTH_RUNS} wall-clock runs, after one
  untimed warm-up of each. Both use \`--no-notices\` and telemetry off so the CLI makes no
  network call. The synth-speed rows time each piece of \`lib/synth-speed/\` against CDK's plain
  way in the same runs: CDK's validation plugin in the main thread (\`LGTM_VALIDATION=main-thread\`),
  and the type-check run before the app instead of beside it (after a source change); and, with
  the Lambda bundles, all handlers in one in-process esbuild run against one esbuild process per
  handler with the same options, as \`NodejsFunction\` spawns it (median of 9, alternating).
- **Lambda bundles** (no target; ${BUNDLE_TARGET_KB} KB shown for reference, 1 KB = 1,024 bytes): every \`lambdas/<name>/index.ts\`, bundled
  with esbuild's API and the options \`lib/synth-speed/bundling.ts\` gives the construct (minify, CJS,
  platform node, target node24, source map, \`@aws-sdk/*\` external); the size is \`index.js\`.
- **Module load** (target ≤ ${LOAD_TARGET_RATIO}×): a fresh Node process (\`bin/bench/load-probe.cjs\`) first
  \`require\`s the \`@aws-sdk/*\` packages esbuild's metafile lists as the bundle's external imports,
  then creates one client of each with default settings and lets one event-loop turn pass (timed:
  the SDK clients the handler uses; creating the first client compiles most of the SDK's shared
  client code, whoever asks for it). Then it requires the bundle, whose SDK imports are already
  loaded, and lets one event-loop turn pass so that the deferred middy chain counts (timed: the
  handler's own code, creating its own clients with the project's retry settings included). The
  probe fails if the bundle does not create a client of every package it imports. The ratio is
  the sum over the SDK clients' time; the row below it divides by the packages' require time
  alone, which counts the SDK's client creation as the handler's. All parts come from the same
  process, so other work on the machine moves them together rather than skewing the ratio. Median
  of ${LOAD_RUNS} runs, after one untimed warm-up. The handler's environment comes from the
  synthesized template (references become dummy strings, \`NODE_OPTIONS\` left out), or, for a
  function the app does not contain yet, from the \`TEST_ENV\` its handler tests export. The SDK's
  warning for Node versions before 22, which Lambda's Node 24 never builds, is turned off
  (\`AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED\`).
- **Enrollment bursts** (targets ≤ ${CALLS_PER_INSTANCE_TARGET} AWS calls per instance, ≤ ${MAX_IDS_PER_COMMAND} instance IDs per
  \`SendCommand\`): launch events (\`test/fixtures/events/ec2-instance-running.json\`) in SQS batches of 100
  through the enroll handler's \`processBatch\`, against the mocked SDK of the handler tests
  (\`test/lambdas/enroll/fake-aws.ts\`, settings \`testSettings()\` with the deployed queue visibility timeout), one tenant, Linux. "late": every
  instance is not yet SSM-managed on the first delivery, and online when the failed records are
  delivered again after the queue's visibility timeout; calls and time cover both deliveries.
  "Auto Scaling launches": after the running events, one lifecycle event per instance
  (\`test/fixtures/events/autoscaling-launch-lifecycle-action.json\`) arrives while the installs are in flight
  (the fake's instances carry the tags the handler wrote); the status handler then records each
  success and releases each launch, and the lifecycle records come back once: calls cover all three
  deliveries, and every record must be settled at the end. Time per event is
  \`processBatch\` wall time (mocks included) divided by the launches, median of 3 runs, after one
  unreported warm-up burst.
- **Enrollment latency** (targets: the latency we add after SSM reports an instance online, p50 ≤
  ${ADDED_LATENCY_TARGET.p50Seconds} s and p99 ≤ ${ADDED_LATENCY_TARGET.p99Seconds} s, and ≤ ${CALLS_PER_INSTANCE_TARGET} calls per instance): on a virtual clock, bursts of launches arriving
  within 60 s, 30 % Windows, each instance's SSM agent registering after a log-normal delay (median
  45 s Linux, 150 s Windows, clipped to 20 s … 10 min; a fixed seed, so every run draws the same
  burst). A simulated queue delivers them to the enroll handler's \`processBatch\` (fake AWS as
  above) as the event source mapping would: up to 100 records, after a 5 s batching window; a
  failed record comes back after the delay the handler set, or the queue's visibility timeout.
  Added latency is the install command's time minus the instance's SSM-online time; calls include
  every delivery.
- **Config refresh** (targets: a constant number of AWS API calls per refresh whatever the fleet
  size, and 1 rollout per refresh): for fleets of ${REFRESH_FLEETS.map((size) => size.toLocaleString('en-US')).join(' / ')} enrolled agents (instances
  tagged for one tenant, the first allowed one, and Linux in the fake), one \`Parameter Store Change\`
  Update of that tenant's agent parameter and one of \`<prefix>/config/mimir\`, each in its own SQS
  batch through the refresh handler's \`processBatch\`, against the mocked SDK of its tests
  (\`test/lambdas/refresh/fake-aws.ts\`), which resolves a command's tag targets against the fleet as
  Run Command would. The handler targets agents by tag, so it never looks at instances: only the
  fake's tag matching grows with the fleet, and its share of the time is shown. Burst: ${BURST_UPDATES}
  Updates of the same parameter, 2 s apart, in one batch; rollouts are SendCommand plus
  UpdateService calls. Calls count every call to the five mocked clients (SSM, ECS, EventBridge,
  SQS, and Secrets Manager for the tenant's agent credential, seeded where the template's prefix
  says). Settings: the refresh function's environment in the template synthesized above (literal
  values as the stack sets them; CloudFormation references become the test harness's names and
  ARNs, the stack's service names kept), and the parameters the stack creates rendered from the same
  config; when no template is available, \`testSettings()\` and the fake's own parameters (the row
  says which). Time is \`processBatch\` wall time (mocks included), median of ${REFRESH_RUNS} runs each on a
  fresh fake, after one unreported warm-up.
- **Ingest gateway** (target: one gateway task, ${GATEWAY_TASK_VCPU} vCPU, carries ≥ ${GATEWAY_TARGET_WRITES_PER_SECOND} writes/s, what 1,000 agents
  writing metrics, logs and traces every 15 s send, so that either of the two tasks carries the
  fleet while the other restarts): the real nginx (from \`PATH\` or /usr/sbin; skipped without it) with
  one worker runs the rendered gateway config (three tenants, credentials written in, access log to
  a file) and, side by side, a plain reverse proxy with the same log line and proxy settings but no
  binding, each in front of an nginx answering 204. The client (this process, ${GATEWAY_CONCURRENCY} keep-alive
  connections) sends ${GATEWAY_WRITES.toLocaleString('en-US')} writes of 8 KiB with a credential per round, ${GATEWAY_ROUNDS} rounds per config, alternating;
  the figure is the CPU time of nginx's worker (utime + stime from /proc) per write, median of the
  rounds. A task's capacity is its vCPU share divided by that. Requests per second on this machine
  are shown but share its two cores with the client and the backend.
`;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
