import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { NetworkInterfaceInfo } from 'node:os';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import multipart from '@fastify/multipart';
import { z } from 'zod';
import type { Logger } from '../../lib/log.js';
import { ROOT_DIR } from '../../lib/paths.js';
import { loaVersion } from '../../lib/version.js';
import { panelPasswordInput, verifySecret } from '../../lib/secrets.js';
import { csrfMatches, LoginThrottle } from '../../lib/http-auth.js';
import { receiveUpload } from '../../lib/upload.js';
import { uiRoutes } from '../../lib/ui-routes.js';
import { LoaError } from '../../protocol/errors.js';
import { installErrorHandler } from '../../lib/http-errors.js';
import { parseWith } from '../../protocol/codec.js';
import { LocalDate, Text } from '../../protocol/payloads.js';
import { Sha256Hex } from '../../protocol/ids.js';
import { localDate } from '../../schedules/time.js';
import { outcomeFields, planOutcomes } from '../../schedules/plan-outcome.js';
import { sessionTag, type Operator } from '../operator-desk.js';
import type { PanelDesk, PanelPort } from '../panel-port.js';
import { resolveBind } from './bind.js';

// The local panel: a small HTTP server in the agent for the commune radio
// operator on the LAN (docs/panel.md). One password (the bundle's, or the
// province's newer one from the target state); sessions in memory, idle and
// absolute expiry, ended when the password changes; CSRF token on every
// change; back-off after failed logins per address and overall. It works
// with the province unreachable: everything it does is local, and what must
// reach the province goes through the outbox.

export const PANEL_COOKIE = 'loa_panel';
export const PANEL_UI_DIR = join(ROOT_DIR, 'device', 'panel', 'ui');

export interface PanelOptions {
  agent: PanelPort;
  log: Logger;
  sessionIdleMs: number;
  sessionMaxMs: number;
  maxUploadBytes: number;
  now?: () => number;
}

interface Session {
  csrf: string;
  tag: string;
  createdAt: number;
  lastSeen: number;
  /** The password hash it logged in with: a rotated password ends it. */
  passwordHash: string;
}


declare module 'fastify' {
  interface FastifyRequest {
    panelSession: (Session & { id: string }) | null;
  }
}

const hashId = (id: string) => createHash('sha256').update(id).digest('hex');

export async function buildPanelApp(o: PanelOptions): Promise<FastifyInstance> {
  const now = o.now ?? Date.now;
  const { agent } = o;
  const log = o.log.child({ mod: 'panel' });
  const sessions = new Map<string, Session>();
  // One password for the whole cluster: 5 free attempts per address, 20 overall.
  const perAddress = new LoginThrottle(5, 15 * 60_000, now);
  const overall = new LoginThrottle(20, 15 * 60_000, now);

  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  await app.register(cookie);
  await app.register(multipart, { limits: { fileSize: o.maxUploadBytes, files: 1, fields: 4 } });
  app.decorateRequest('panelSession', null);

  const lookup = (id: string | undefined): (Session & { id: string }) | null => {
    if (!id || id.length > 100) return null;
    const key = hashId(id);
    const s = sessions.get(key);
    if (!s) return null;
    const t = now();
    if (t - s.lastSeen > o.sessionIdleMs || t - s.createdAt >= o.sessionMaxMs || s.passwordHash !== agent.panelPasswordHash) {
      sessions.delete(key);
      return null;
    }
    s.lastSeen = t;
    return { ...s, id };
  };

  app.addHook('onRequest', async (req) => {
    const s = lookup(req.cookies[PANEL_COOKIE]);
    req.panelSession = s;
    if (s && req.method !== 'GET' && req.method !== 'HEAD' && !csrfMatches(s.csrf, req.headers['x-csrf-token'] as string | undefined)) throw new LoaError('LOA_E_CSRF');
  });

  installErrorHandler(app, { log, what: 'panel request', status: { LOA_E_CONFIG_INVALID: 501, LOA_E_TTS_FAILED: 502 }, expose: ['rule', 'reason'] });

  const who = (req: FastifyRequest): Operator => {
    const s = req.panelSession;
    if (!s) throw new LoaError('LOA_E_UNAUTHENTICATED', 'not logged in, or the session has expired');
    return { session: s.tag, address: req.ip };
  };
  const desk = (): PanelDesk => {
    const d = agent.operator;
    if (!d) throw new LoaError('LOA_E_INTERNAL', 'the agent is still starting');
    return d;
  };

  const Login = z.strictObject({ password: z.string().min(1).max(200) });
  app.post('/api/login', async (req, reply) => {
    const { password } = parseWith(Login, req.body ?? {}, 'login');
    const keys: [LoginThrottle, string][] = [
      [perAddress, req.ip],
      [overall, '*'],
    ];
    const wait = Math.max(...keys.map(([t, k]) => t.waitMs(k)));
    if (wait > 0) {
      reply.header('retry-after', Math.ceil(wait / 1000));
      throw new LoaError('LOA_E_LOGIN_THROTTLED', `too many failed logins: try again in ${Math.ceil(wait / 1000)} s`);
    }
    const hash = agent.panelPasswordHash;
    if (!(await verifySecret(panelPasswordInput(password), hash))) {
      for (const [t, k] of keys) t.failed(k);
      agent.record('operator', { action: 'login.failed', session: 'panel:-', detail: { address: req.ip } });
      throw new LoaError('LOA_E_UNAUTHENTICATED', 'wrong panel password');
    }
    for (const [t, k] of keys) t.succeeded(k);
    const id = randomBytes(32).toString('base64url');
    const t = now();
    const s: Session = { csrf: randomBytes(24).toString('base64url'), tag: sessionTag(id), createdAt: t, lastSeen: t, passwordHash: hash };
    sessions.set(hashId(id), s);
    for (const [k, x] of sessions) if (t - x.lastSeen > o.sessionIdleMs || t - x.createdAt > o.sessionMaxMs) sessions.delete(k);
    agent.record('operator', { action: 'login', session: s.tag, detail: { address: req.ip } });
    const expiresAt = new Date(t + o.sessionMaxMs).toISOString();
    reply.setCookie(PANEL_COOKIE, id, { path: '/', httpOnly: true, sameSite: 'strict', expires: new Date(t + o.sessionMaxMs) });
    return { csrf: s.csrf, expiresAt };
  });

  app.post('/api/logout', async (req, reply) => {
    const w = who(req);
    sessions.delete(hashId(req.panelSession!.id));
    agent.record('operator', { action: 'logout', session: w.session, detail: { address: w.address } });
    reply.clearCookie(PANEL_COOKIE, { path: '/' });
    return { ok: true };
  });

  app.get('/api/me', async (req) => {
    who(req);
    const s = req.panelSession!;
    return { csrf: s.csrf, expiresAt: new Date(s.createdAt + o.sessionMaxMs).toISOString() };
  });

  app.get('/api/status', async (req) => {
    who(req);
    const d = desk();
    const s = agent.panelStatus();
    const t = s.telemetry;
    const st = s.state;
    return {
      device: { id: agent.device.id, zone: agent.device.zone },
      agent: loaVersion(),
      now: new Date(agent.now()).toISOString(),
      link: s.link,
      clock: t.clock,
      amplifier: t.amplifier,
      volume: d.volumeNow(),
      disk: t.disk,
      store: t.store ?? { state: 'ok', since: null, held: 0 },
      target: { applied: st.appliedVersion, received: st.receivedVersion, sync: st.sync, lastSyncAt: s.lastSyncAt, missingAssets: st.missingAssets },
      playing: s.playing ? { id: s.playing.request.id, ...s.playing.now, volume: s.playing.volume, ...d.stoppable(s.playing.request) } : null,
      outbox: { pending: s.outboxPending },
      tts: d.ttsAvailable,
      limits: { maxUploadBytes: o.maxUploadBytes, maxAnnouncementMs: s.maxAnnouncementMs },
    };
  });

  /** Play records read to tell what became of a day's items: far more than one day's plays. */
  const PLAN_JOURNAL = 1000;
  const PlanQuery = z.strictObject({ date: LocalDate.optional() });
  app.get('/api/plan', async (req) => {
    who(req);
    const { date = localDate(agent.now()) } = parseWith(PlanQuery, req.query, 'plan query');
    const items = agent.planFor(date) ?? [];
    const d = desk();
    const iso = (x: number) => new Date(x).toISOString();
    // Items already past: what the cluster's own journal says became of them (nothing there: missed).
    const journal = agent.journal(PLAN_JOURNAL, 'play').flatMap((r) => (r.kind === 'play' ? [r.data] : []));
    const outcomes = planOutcomes(items, journal, agent.now());
    return {
      date,
      now: iso(agent.now()),
      items: items.map((i, n) => ({ key: i.key, start: iso(i.start), end: iso(i.end), title: i.title, level: i.level, programme: i.programme, status: i.status === 'planned' ? 'ok' : i.status, volume: d.plannedVolume(i), ...(i.rule ? { rule: i.rule } : {}), ...(i.reason ? { reason: i.reason } : {}), ...outcomeFields(outcomes[n]!) })),
    };
  });

  const Stop = z.strictObject({ reason: z.string().max(300).optional() });
  app.post('/api/stop', async (req) => {
    const w = who(req);
    const { reason } = parseWith(Stop, req.body ?? {}, 'stop request');
    return { stopped: desk().stop(reason, w) };
  });

  const Volume = z.strictObject({ volume: z.int().min(0).max(100) });
  app.post('/api/volume', async (req) => {
    const w = who(req);
    const { volume } = parseWith(Volume, req.body ?? {}, 'volume request');
    return desk().setVolume(volume, w);
  });

  app.get('/api/clips', async (req) => {
    who(req);
    return { clips: agent.clips() };
  });

  const Announce = z.union([z.strictObject({ clip: Sha256Hex, title: Text(200).optional() }), z.strictObject({ text: Text(2000).refine((s) => s.trim().length > 0, 'the text is empty'), title: Text(200).optional() })]);
  app.post('/api/announce', async (req, reply) => {
    const w = who(req);
    const a = parseWith(Announce, req.body ?? {}, 'announcement');
    const r = 'clip' in a ? desk().announceClip(a.clip, a.title, w) : await desk().announceText(a.text, a.title, w);
    return reply.code(202).send(r);
  });

  app.post('/api/announce/upload', async (req, reply) => {
    const w = who(req);
    if (!req.isMultipart()) throw new LoaError('LOA_E_AUDIO_INVALID', 'send the audio file as multipart/form-data with a "file" field', { context: { reason: 'empty' } });
    const up = await receiveUpload(req);
    try {
      return reply.code(202).send(await desk().announceUpload(up.file, up.title.slice(0, 200), w));
    } finally {
      up.dispose();
    }
  });

  const LogQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });
  app.get('/api/log', async (req) => {
    who(req);
    const { limit } = parseWith(LogQuery, req.query, 'log query');
    return { records: agent.journal(limit, 'play').map((r) => ({ at: r.at, ...(r.data as object) })) };
  });

  await uiRoutes(app, PANEL_UI_DIR);
  return app;
}

/** The panel listening on its LAN addresses; stop() closes every listener. */
export class Panel {
  readonly #o: PanelOptions & { port: number; bind: readonly string[]; rescanMs?: number; interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]> };
  #app: FastifyInstance | null = null;
  #servers: Server[] = [];
  #hosts = new Set<string>();
  #port: number;
  #rescan: NodeJS.Timeout | null = null;
  /** `http://address:port/` of each listener, once started. */
  urls: string[] = [];

  constructor(o: PanelOptions & { port: number; bind: readonly string[]; rescanMs?: number; interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]> }) {
    this.#o = o;
    this.#port = o.port;
  }

  async start(): Promise<string[]> {
    const app = await buildPanelApp(this.#o);
    await app.ready();
    this.#app = app;
    await this.#listenNew(true);
    // A LAN interface that comes up after the agent (Wi-Fi, a cable plugged in later) is picked up within 30 s.
    this.#rescan = setInterval(() => void this.#listenNew(false), this.#o.rescanMs ?? 30_000);
    this.#rescan.unref();
    return this.urls;
  }

  async #listenNew(first: boolean): Promise<void> {
    const log = this.#o.log.child({ mod: 'panel' });
    const app = this.#app!;
    const handler = (req: IncomingMessage, res: ServerResponse) => app.routing(req, res);
    const { addresses, missing } = resolveBind(this.#o.bind, this.#o.interfaces?.());
    if (first && missing.length) log.warn({ missing }, 'panel: these bind entries name no address on this machine yet; looking again every 30 s (the panel never listens on every address)');
    for (const host of addresses) {
      if (this.#hosts.has(host)) continue;
      const server = createServer(handler);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(this.#port, host, () => resolve());
        });
      } catch (e) {
        if (first) log.error({ host, port: this.#port, err: (e as Error).message }, 'panel: cannot listen on this address; trying again later');
        continue;
      }
      // Port 0 (tests): every address gets the port the first one was given.
      const a = server.address();
      if (a && typeof a === 'object') this.#port = a.port;
      this.#servers.push(server);
      this.#hosts.add(host);
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${this.#port}/`;
      this.urls.push(url);
      if (!first) log.info({ url }, 'local panel listening on a new address');
    }
    if (first) {
      if (!this.#servers.length) log.error({ bind: this.#o.bind }, 'panel: listening nowhere yet');
      else log.info({ urls: this.urls }, 'local panel listening');
    }
  }

  async stop(): Promise<void> {
    if (this.#rescan) clearInterval(this.#rescan);
    const closed = this.#servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    // A phone's keep-alive connection would hold close() open: end them all.
    for (const s of this.#servers) s.closeAllConnections();
    await Promise.all(closed);
    this.#servers = [];
    this.#hosts.clear();
    await this.#app?.close();
  }
}
