import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { z } from 'zod';
import type { Logger } from '../../lib/log.js';
import { csrfMatches } from '../../lib/http-auth.js';
import { parseJson, parseWith } from '../../protocol/codec.js';
import { ERROR_CODES, isLoaError, LoaError, type ErrorCode } from '../../protocol/errors.js';
import { ZonePath, zoneContains } from '../../protocol/ids.js';
import { Text } from '../../protocol/payloads.js';
import { OPUS_FRAME_SAMPLES } from '../../audio/opus.js';
import type { LiveSession, LiveSessionInfo } from '../live-broadcaster.js';
import { can, inScope, type Principal } from './access.js';
import { need, type Ctx } from './context.js';
import { SESSION_COOKIE } from './sessions.js';

// Speaking live through the console (docs/console.md, *Live*): a WebSocket
// at /api/live carries one presenter's voice — the studio page, `loa live` —
// to a LiveSession, which encodes and paces it onto the zones' live topics.
//
// The upgrade is admitted like any console request: the session cookie, an
// account with 'live'; and, because a browser sends the cookie with a
// WebSocket opened by any site (SameSite does not cover every case, and
// CORS does not apply to WebSockets), an Origin, when there is one, must be
// the console's own (cross-site WebSocket hijacking). The CSRF token comes in
// the first message, as a header would on any other change. Then:
//
//   client → {"type":"start","csrf","zones":[…],"title","source"?}
//   console → {"type":"on-air","id","zones","startedAt"}
//   client → binary: PCM s16le mono 48 kHz, ≤ 64 KiB a message
//   client → {"type":"end"}            (or the socket closes)
//   console → {"type":"ended","id","framesSent","endReason","endedAt"}, close
//
// Anything refused: {"type":"error","code":"LOA_E_…","message"} and close.

const MAX_PCM_MESSAGE = 64 * 1024;
const MAX_TEXT_MESSAGE = 16 * 1024;
/** ws drops a connection whose message exceeds this without buffering it all; smaller oversize messages get an error message. */
const WS_MAX_PAYLOAD = 1024 * 1024;
const PING_MS = 20_000;
const BYTES_PER_FRAME = OPUS_FRAME_SAMPLES * 2;
/** After "end", how long the PCM already sent may take to go out, at most (the session buffers ~2 s). */
const DRAIN_MAX_MS = 5000;
/** …and how long the session may send nothing before what is left counts as lost (dropped by an overrun). */
const DRAIN_STALL_MS = 300;

const Start = z.strictObject({
  type: z.literal('start'),
  csrf: z.string().min(1).max(200),
  zones: z.array(ZonePath).min(1).max(50),
  // Composed here: a Vietnamese keyboard may send "ê" + U+0323; what is signed and shown is NFC.
  title: z.string().max(1000).transform((s) => s.normalize('NFC').trim()).pipe(Text(200)),
  source: z.enum(['studio', 'terminal']).default('studio'),
});
const ClientMessage = z.discriminatedUnion('type', [Start, z.strictObject({ type: z.literal('end') })]);

export function liveRoutes(app: FastifyInstance, ctx: Ctx): void {
  const log = ctx.log.child({ mod: 'live-ws' });
  const presenters = new Set<Presenter>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false });

  app.get('/api/live/sessions', async (req) => {
    const p = need(req, 'read');
    // A session reaches an account's scope when one of its zones lies inside it or contains it (a province-wide session is heard in every commune).
    const sessions = (ctx.live?.active() ?? []).filter((s) => p.zone === null || s.zones.some((z) => zoneContains(p.zone!, z) || zoneContains(z, p.zone!)));
    if (!sessions.length) return { sessions };
    // Receiving: clusters whose latest telemetry says they play the session (sent when a play starts or ends); of: the clusters of its zones.
    const fleet = ctx.fleet.list(null);
    return {
      sessions: sessions.map((s) => {
        const mine = fleet.filter((d) => !d.revoked && s.zones.some((z) => zoneContains(z, d.zone)));
        return { ...s, clusters: mine.length, receiving: s.endedAt ? 0 : mine.filter((d) => d.online && d.telemetry?.playing?.live === s.id).length };
      }),
    };
  });

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const who = admit(app, ctx, req);
    if ('refuse' in who) return refuseUpgrade(socket, who.refuse.status, who.refuse.code, who.refuse.message);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const pr = new Presenter(ws, who.cookie, ctx, log);
      presenters.add(pr);
      ws.once('close', () => presenters.delete(pr));
    });
  });

  // Before the HTTP server closes: it would wait for the upgraded sockets for ever.
  app.addHook('preClose', async () => {
    await Promise.all([...presenters].map((pr) => pr.shutdown('the console is stopping')));
    wss.close();
  });
}

type Admission = { cookie: string } | { refuse: { status: number; code: ErrorCode; message: string } };

/** Who opens the socket: refused here, before any WebSocket exists, when the request could not make a change. */
function admit(app: FastifyInstance, ctx: Ctx, req: IncomingMessage): Admission {
  const path = (req.url ?? '').split('?')[0];
  if (path !== '/api/live') return { refuse: { status: 404, code: 'LOA_E_NOT_FOUND', message: `no WebSocket at ${path}` } };
  if (!sameOrigin(req, !!ctx.trustProxy?.length)) return { refuse: { status: 403, code: 'LOA_E_FORBIDDEN', message: `a page of ${String(req.headers.origin)} may not speak through this console` } };
  const cookie = app.parseCookie(req.headers.cookie ?? '')[SESSION_COOKIE];
  const s = ctx.sessions.lookup(cookie);
  if (!s || !cookie) return { refuse: { status: 401, code: 'LOA_E_UNAUTHENTICATED', message: 'log in first (POST /api/login): live needs the session cookie' } };
  if (!can(s.principal, 'live')) return { refuse: { status: 403, code: 'LOA_E_FORBIDDEN', message: `${s.principal.role} accounts may not speak live` } };
  return { cookie };
}

/**
 * Whether the Origin a browser sent names the console itself: its host is
 * the Host the request came to (or, behind a trusted proxy, the forwarded
 * one). No Origin: not a browser (`loa live`), whose only credential is the
 * cookie. A page cannot set Host, X-Forwarded-Host or Origin on a WebSocket.
 */
export function sameOrigin(req: IncomingMessage, behindProxy: boolean): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return false; // "null" (a sandboxed frame, a file) and garbage
  }
  const forwarded = behindProxy ? String(req.headers['x-forwarded-host'] ?? '').split(',').pop()?.trim() : undefined;
  return [req.headers.host, forwarded].some((h) => {
    if (!h) return false;
    try {
      return new URL(`${o.protocol}//${h}`).host === o.host;
    } catch {
      return false;
    }
  });
}

function refuseUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const reason = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' }[status] ?? 'Bad Request';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

type State = { kind: 'waiting' } | { kind: 'on-air'; session: LiveSession; p: Principal; received: number } | { kind: 'draining'; session: LiveSession; p: Principal; received: number } | { kind: 'closed' };

/** One presenter's socket: at most one session, every bad message answered with an error and the close. */
class Presenter {
  #state: State = { kind: 'waiting' };
  readonly #ws: WebSocket;
  readonly #cookie: string;
  readonly #ctx: Ctx;
  readonly #log: Logger;
  #alive = true;
  readonly #ping: NodeJS.Timeout;
  #drain: NodeJS.Timeout | null = null;

  constructor(ws: WebSocket, cookie: string, ctx: Ctx, log: Logger) {
    this.#ws = ws;
    this.#cookie = cookie;
    this.#ctx = ctx;
    this.#log = log;
    ws.on('message', (data, isBinary) => {
      try {
        this.#message(data, isBinary);
      } catch (e) {
        this.#fail(e);
      }
    });
    ws.on('pong', () => (this.#alive = true));
    ws.on('error', (err) => {
      // ws's own refusals (a message over WS_MAX_PAYLOAD, a bad frame) end here, then in 'close'.
      this.#log.warn({ err: err.message }, 'live presenter socket error');
    });
    ws.on('close', () => this.#closed());
    // A presenter whose phone lost its network sends no close: the ping finds out.
    this.#ping = setInterval(() => {
      if (!this.#alive) return void ws.terminate();
      this.#alive = false;
      ws.ping();
    }, PING_MS);
    this.#ping.unref();
  }

  #message(data: RawData, isBinary: boolean): void {
    const s = this.#state;
    if (s.kind === 'closed') return;
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (isBinary) {
      if (bytes.length > MAX_PCM_MESSAGE) throw new LoaError('LOA_E_PAYLOAD_TOO_LARGE', `an audio message of ${bytes.length} bytes exceeds ${MAX_PCM_MESSAGE} (send PCM in 20 ms multiples: 3840 bytes per 20 ms)`, { context: { bytes: bytes.length, max: MAX_PCM_MESSAGE } });
      if (s.kind === 'waiting') throw new LoaError('LOA_E_LIVE_REFUSED', 'audio came before the start message: send {"type":"start",…} and wait for "on-air"');
      if (s.kind === 'draining') return; // the presenter asked to end; what still comes is not aired
      s.received += bytes.length;
      s.session.write(bytes);
      return;
    }
    if (bytes.length > MAX_TEXT_MESSAGE) throw new LoaError('LOA_E_PAYLOAD_TOO_LARGE', `a text message of ${bytes.length} bytes exceeds ${MAX_TEXT_MESSAGE}`);
    const m = parseWith(ClientMessage, parseJson(bytes, 'live message'), 'live message');
    if (m.type === 'end') {
      if (s.kind === 'waiting') return this.#close(1000, 'nothing on air');
      if (s.kind === 'on-air') this.#finish(s);
      return;
    }
    if (s.kind !== 'waiting') throw new LoaError('LOA_E_LIVE_REFUSED', `one live session per connection: ${s.session.id} is already on air (open another connection for another session)`);
    this.#start(m);
  }

  #start(m: z.output<typeof Start>): void {
    // Looked up again: the account may have logged out, been revoked or changed role since the upgrade.
    const s = this.#ctx.sessions.lookup(this.#cookie);
    if (!s) throw new LoaError('LOA_E_UNAUTHENTICATED', 'the console session has ended: log in again');
    if (!csrfMatches(s.csrf, m.csrf)) throw new LoaError('LOA_E_CSRF', "the start message's csrf is not the session's anti-forgery token (from /api/login or /api/me)");
    const p = s.principal;
    if (!can(p, 'live')) throw new LoaError('LOA_E_FORBIDDEN', `${p.role} accounts may not speak live`);
    // Scope before existence: a zone outside the scope is refused whether or not it exists.
    for (const z of m.zones) if (!inScope(p, z)) throw new LoaError('LOA_E_FORBIDDEN', `zone ${z} lies outside your zone ${p.zone}`, { context: { zone: z } });
    for (const z of m.zones) if (!this.#ctx.registry.zone(z)) throw new LoaError('LOA_E_ZONE_NOT_FOUND', `zone ${z} does not exist`, { context: { zone: z } });
    if (!this.#ctx.live) throw new LoaError('LOA_E_LIVE_REFUSED', 'this console does not broadcast live (its MQTT services are not running)');
    const session = this.#ctx.live.open({ zones: m.zones, title: m.title, by: p.name, source: m.source });
    const info = session.info();
    this.#ctx.registry.audit(p.name, 'live.start', session.id, { zones: info.zones, title: info.title, source: info.source });
    this.#state = { kind: 'on-air', session, p, received: 0 };
    session.once('ended', (i) => this.#ended(i, p));
    this.#send({ type: 'on-air', id: session.id, zones: info.zones, startedAt: info.startedAt });
  }

  /**
   * The presenter asked to end: what they already said goes out first. The
   * session paces itself, so PCM sent ahead of real time waits in its buffer;
   * ending at once would drop it. It has gone out when every whole frame
   * received is sent (the session flushes its batch when it runs dry), or
   * when the session stops sending (an overrun dropped the rest).
   */
  #finish(s: Extract<State, { kind: 'on-air' }>): void {
    this.#state = { ...s, kind: 'draining' };
    const reason = `ended by ${s.p.name}`;
    const until = Date.now() + DRAIN_MAX_MS;
    let last = -1;
    let lastChange = Date.now();
    const check = () => {
      this.#drain = null;
      const sent = s.session.info().framesSent;
      if (sent !== last) [last, lastChange] = [sent, Date.now()];
      if (s.received - sent * BYTES_PER_FRAME < BYTES_PER_FRAME || Date.now() - lastChange >= DRAIN_STALL_MS || Date.now() >= until) return s.session.end(reason);
      this.#drain = setTimeout(check, 20);
    };
    check();
  }

  #ended(info: LiveSessionInfo, p: Principal): void {
    if (this.#drain) clearTimeout(this.#drain);
    this.#drain = null;
    this.#ctx.registry.audit(p.name, 'live.end', info.id, { framesSent: info.framesSent, reason: info.endReason });
    const wasOpen = this.#state.kind !== 'closed';
    this.#state = { kind: 'closed' };
    if (!wasOpen) return;
    this.#send({ type: 'ended', id: info.id, framesSent: info.framesSent, endReason: info.endReason, endedAt: info.endedAt });
    this.#close(1000, 'ended');
  }

  #fail(e: unknown): void {
    if (this.#state.kind === 'closed') return;
    const err = isLoaError(e) ? e : new LoaError('LOA_E_INTERNAL', ERROR_CODES.LOA_E_INTERNAL);
    if (!isLoaError(e)) this.#log.error({ err: e }, 'live presenter message failed');
    else this.#log.warn({ code: err.code }, err.message);
    this.#send({ type: 'error', code: err.code, message: err.message });
    const s = this.#state;
    this.#state = { kind: 'closed' };
    if (s.kind === 'on-air' || s.kind === 'draining') s.session.end(`the presenter's connection was refused: ${err.code}`);
    this.#close(err.code === 'LOA_E_PAYLOAD_TOO_LARGE' ? 1009 : err.code === 'LOA_E_INTERNAL' ? 1011 : 1008, err.code);
  }

  #closed(): void {
    clearInterval(this.#ping);
    const s = this.#state;
    if (s.kind === 'on-air') s.session.end("the presenter's connection closed");
    // Draining: the presenter asked to end and need not wait; the drain carries on.
    if (s.kind !== 'draining') this.#state = { kind: 'closed' };
  }

  /** The console stops: the session ends, the socket closes (terminated if the peer does not answer within a second). */
  async shutdown(reason: string): Promise<void> {
    const s = this.#state;
    if (s.kind === 'on-air' || s.kind === 'draining') s.session.end(reason);
    if (this.#ws.readyState === this.#ws.CLOSED) return;
    this.#close(1001, 'console stopping');
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#ws.terminate();
        resolve();
      }, 1000);
      this.#ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  #send(m: object): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.send(JSON.stringify(m));
  }

  #close(code: number, reason: string): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(code, reason);
  }
}
