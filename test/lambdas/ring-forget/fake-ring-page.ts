import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { processEvent, type RingForgetDependencies, type RingForgetResult } from '../../../lambdas/ring-forget/process-event';
import { loadRingForgetSettings } from '../../../lambdas/ring-forget/settings';
import type { RingForgetEnvironment } from '../../../lambdas/shared/contract';
import { loadSampleEvent } from '../fixtures';
import { FakeAccount } from '../harness/fake-account';

/** The environment the CDK construct gives Mimir's ring-forget function (the default namespace). */
export const TEST_ENV = { RING_PAGE_URL: 'http://mimir.lgtm.internal:8080/ingester/ring' } satisfies RingForgetEnvironment;

/** The ring page of each backend whose stopped tasks are forgotten, on its HTTP port's path. */
export const RING_PAGES = { Mimir: '/ingester/ring', Loki: '/ring' } as const;

/** The sample event: a Fargate Mimir task killed for its memory, with its network interface. */
export const STOPPED_TASK = loadSampleEvent('ecs-task-stopped.json');
export const TASK_ADDRESS = '10.0.3.142';

/** The sample event with `detail` changed: fields set on top, or left out where `undefined`. */
export function stoppedTask(detail: Record<string, unknown> = {}): Record<string, unknown> {
  const merged = { ...(STOPPED_TASK.detail as Record<string, unknown>), ...detail };
  return { ...STOPPED_TASK, detail: Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined)) };
}

/** One request the ring page received. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: string;
}

/**
 * A ring page (Mimir's or Loki's: the same dskit handler) on 127.0.0.1 (a free port): records
 * every request, whatever its path, and answers as the test says: the Forget action's redirect by
 * default, any other status, or nothing at all.
 */
export class FakeRingPage {
  readonly requests: ReceivedRequest[] = [];
  private answer: number | 'never' = 302;

  private constructor(private readonly server: Server) {}

  /** Listens on `port`, by default one the system picks. */
  static async start(port = 0): Promise<FakeRingPage> {
    const server = createServer();
    const page = new FakeRingPage(server);
    server.on('request', (request, response) => page.receive(request, response));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return page;
  }

  /** The URL of `path` on this server, as RING_PAGE_URL gives it. */
  url(path: string = RING_PAGES.Mimir): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  /** The next requests get `status` (a 302 points at the page itself, as the backends' does), or no answer. */
  answerWith(status: number | 'never'): void {
    this.answer = status;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private receive(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      this.requests.push({
        method: request.method ?? '',
        path: request.url ?? '',
        contentType: request.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      });
      if (this.answer === 'never') return;
      if (this.answer === 302) response.writeHead(302, { location: '#' }).end();
      else response.writeHead(this.answer, { 'content-type': 'text/plain' }).end(`answered ${this.answer}`);
    });
  }
}

/** A ring page URL nothing listens on: a port the system gave out and that is closed again (free for a moment). */
export async function unusedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}${RING_PAGES.Mimir}`;
}

/** The silent logger and recorded metrics of the handler's dependencies (no AWS client: it calls the ring page only). */
export class RingForgetAccount extends FakeAccount {
  constructor() {
    super('lgtm-fleet-ring-forget');
  }

  protected mockedClients(): [] {
    return [];
  }

  /** Runs the handler's logic on `event` against the ring page at `ringPageUrl`. */
  process(event: unknown, ringPageUrl: string, deps: Partial<RingForgetDependencies> = {}): Promise<RingForgetResult> {
    return processEvent(event, {
      settings: loadRingForgetSettings({ RING_PAGE_URL: ringPageUrl }),
      logger: this.logger,
      metrics: this.metrics,
      ...deps,
    });
  }
}
