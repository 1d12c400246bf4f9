import type { LightMyRequestResponse } from 'fastify';
import { makeProvince, type TestProvince } from './province.js';
import { startBroker, type RunningBroker } from './broker.js';
import { ConsoleServer } from '../../provisioning/console/server.js';
import type { IngestService, TtsService } from '../../provisioning/console/context.js';
import { silentLogger, type Logger } from '../../lib/log.js';

// A province with its broker and a running console (HTTP on a free loopback
// port), and a way to act as any of its accounts through fastify's inject.

export const CONSOLE_ACCOUNTS: [string, string, string?][] = [
  ['console', 'console'],
  ['dispatch', 'dispatch'],
  ['dispatch-dak-ha', 'dispatch', 'qn/dak-ha'],
  ['viewer-son-tay', 'viewer', 'qn/son-tay'],
  ['admin', 'admin'],
  ['editor', 'editor'],
  ['editor-dak-ha', 'editor', 'qn/dak-ha'],
  ['approver', 'approver'],
  ['approver-2', 'approver'],
];

export interface ConsoleFixture {
  p: TestProvince;
  broker: RunningBroker;
  /** The running console (a new one after restart()). */
  readonly server: ConsoleServer;
  as(name: string): Promise<Session>;
  /** Stops the console and starts a new ConsoleServer on the same data directory and broker; sessions survive (they live in the registry). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface Session {
  cookie: string;
  csrf: string;
  get(url: string): Promise<LightMyRequestResponse>;
  post(url: string, payload?: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  put(url: string, payload?: unknown): Promise<LightMyRequestResponse>;
  del(url: string): Promise<LightMyRequestResponse>;
}

export async function consoleFixture(opts: { tts?: TtsService; ingest?: IngestService; log?: Logger; capAreas?: ConstructorParameters<typeof ConsoleServer>[0]['capAreas']; approvalModes?: ('exercise' | 'test')[]; trustProxy?: string[]; now?: () => number } = {}): Promise<ConsoleFixture> {
  const p = await makeProvince({ accounts: CONSOLE_ACCOUNTS });
  const broker = await startBroker(p.registry, p.dir);
  const make = () => new ConsoleServer({
    registry: p.registry,
    log: opts.log ?? silentLogger(),
    broker: { url: broker.url, console: { username: 'console', password: p.accounts.console!.secret }, dispatch: { username: 'dispatch', password: p.accounts.dispatch!.secret } },
    http: { host: '127.0.0.1', port: 0 },
    ...(opts.tts ? { tts: opts.tts } : {}),
    ...(opts.ingest ? { ingest: opts.ingest } : {}),
    ...(opts.capAreas ? { capAreas: opts.capAreas } : {}),
    ...(opts.approvalModes ? { approvalModes: opts.approvalModes } : {}),
    ...(opts.trustProxy ? { trustProxy: opts.trustProxy } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    beaconMs: 60_000,
  });
  let server = make();
  await server.start();
  const as = async (name: string): Promise<Session> => {
    const r = await server.app.inject({ method: 'POST', url: '/api/login', payload: { name, password: p.accounts[name]!.secret } });
    if (r.statusCode !== 200) throw new Error(`login ${name}: ${r.statusCode} ${r.body}`);
    const cookie = String(r.headers['set-cookie']).split(';')[0]!;
    const csrf = (r.json() as { csrf: string }).csrf;
    const send = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
      server.app.inject({ method, url, headers: { cookie, 'x-csrf-token': csrf, ...headers }, ...(payload !== undefined ? { payload: payload as string } : {}) });
    return { cookie, csrf, get: (u) => send('GET', u), post: (u, b, h) => send('POST', u, b ?? {}, h), put: (u, b) => send('PUT', u, b ?? {}), del: (u) => send('DELETE', u) };
  };
  return {
    p,
    broker,
    get server() {
      return server;
    },
    as,
    restart: async () => {
      await server.stop();
      server = make();
      await server.start();
    },
    stop: async () => {
      await server.stop();
      await broker.stop();
      p.registry.close();
    },
  };
}
