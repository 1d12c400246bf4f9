import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import WebSocket from 'ws';
import { command, str, UsageError, type Invocation } from '../lib/cli.js';
import { LoaError, type ErrorCode } from '../protocol/errors.js';
import { stopSignals } from './common.js';
import { CONN, session, type Api } from './console-client.js';

// `loa live`: a technician's terminal, or a studio PC with a mixer on line-in,
// speaks live to zones through the console (docs/console.md, *Live*). It
// logs in with the person's account, opens /api/live with the session cookie,
// and feeds it PCM that Debian's ffmpeg decodes from a file or stream (at
// real-time pace: -re) or captures from an ALSA device. The console encodes,
// signs and paces; the key never leaves it.

/** 20 ms of PCM s16le mono 48 kHz; messages are whole multiples of it. */
const FRAME_BYTES = 3840;
/** Up to 160 ms a message: small enough for the console's 64 KiB limit and a short delay. */
const MAX_MESSAGE = FRAME_BYTES * 8;
/**
 * PCM held back before the first message. The console takes frames at its
 * own clock; ffmpeg -re hands them over just in time, so a scheduling hiccup
 * here would leave a gap on the horns. 200 ms ahead absorbs it.
 */
const HEADROOM = FRAME_BYTES * 10;
/** After asking to end, how long the console may take to say it has (it sends what it buffered first). */
const END_TIMEOUT_MS = 15_000;

type ServerMessage =
  | { type: 'on-air'; id: string; zones: string[]; startedAt: string }
  | { type: 'ended'; id: string; framesSent: number; endReason: string | null }
  | { type: 'error'; code: string; message: string };

/** The ffmpeg arguments reading `input` as PCM s16le mono 48 kHz on stdout. */
export function ffmpegArgs(input: string): string[] {
  const out = ['-vn', '-f', 's16le', '-acodec', 'pcm_s16le', '-ac', '1', '-ar', '48000', 'pipe:1'];
  const base = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
  if (input.startsWith('alsa:')) return [...base, '-f', 'alsa', '-i', input.slice(5) || 'default', ...out]; // a live device has its own pace
  if (/^https?:\/\//i.test(input)) return [...base, '-re', '-reconnect', '1', '-reconnect_streamed', '1', '-reconnect_on_network_error', '1', '-reconnect_delay_max', '5', '-i', input, ...out];
  return [...base, '-re', '-i', input, ...out];
}

export const live = command({
  summary: 'speak live (phát trực tiếp) to zones through the console, from a file, a stream or a sound card',
  options: {
    console: CONN.console!,
    user: CONN.user!,
    'password-file': CONN['password-file']!,
    zone: { type: 'string', multiple: true, placeholder: 'PATH', description: 'zone to reach (repeatable)' },
    input: { type: 'string', placeholder: 'FILE|URL|alsa:DEVICE', description: 'what to send: an audio file, an http(s) stream, or an ALSA capture device (alsa:hw:1,0)' },
    title: { type: 'string', placeholder: 'TEXT', description: 'what the console shows, e.g. "Thông báo của UBND xã"' },
  },
  help: 'Ends when the input ends, or on Ctrl-C (SIGINT) or SIGTERM; the console sends what it already has first.\nThe account needs the live permission (admin, editor, dispatch) and the zones must lie in its scope.',
  run: async (inv) => {
    const zones = (inv.values.zone as string[] | undefined) ?? [];
    if (!zones.length) throw new UsageError('give at least one --zone PATH');
    const input = str(inv.values.input);
    if (!input) throw new UsageError('--input FILE|URL|alsa:DEVICE is required');
    if (!input.startsWith('alsa:') && !/^[a-z][a-z0-9+.-]*:\/\//i.test(input) && !existsSync(input)) throw new LoaError('LOA_E_AUDIO_INVALID', `input ${input} does not exist`);
    const api = await session(inv);
    const title = (str(inv.values.title) ?? `Phát trực tiếp (${api.user})`).normalize('NFC');
    return speak(inv, api, { zones, input, title });
  },
});

async function speak(inv: Invocation, api: Api, o: { zones: string[]; input: string; title: string }): Promise<number> {
  const ws = await connect(api);
  const stop = new Stopper(ws);
  const signals = stopSignals(() => stop.kill());
  try {
    ws.send(JSON.stringify({ type: 'start', csrf: api.csrf, zones: o.zones, title: o.title, source: 'terminal' }));
    const onAir = await stop.next(30_000);
    if (onAir.type !== 'on-air') throw stop.unexpected(onAir);
    inv.io.out(`Đang phát trực tiếp (on air) to ${onAir.zones.join(', ')}: ${o.title} [${onAir.id}]`);
    const ff = spawn(inv.io.env.FFMPEG_PATH || 'ffmpeg', ffmpegArgs(o.input), { stdio: ['ignore', 'pipe', 'pipe'] });
    stop.ffmpeg = ff;
    const inputEnded = pump(ff, ws);
    const why = await Promise.race([inputEnded.then((r) => ({ kind: 'input' as const, ...r })), signals.first.then((sig) => ({ kind: 'signal' as const, sig })), stop.next().then((m) => ({ kind: 'message' as const, m }))]);
    if (why.kind === 'message') {
      ff.kill('SIGKILL');
      throw stop.unexpected(why.m);
    }
    if (why.kind === 'signal') ff.kill('SIGTERM');
    const r = why.kind === 'input' ? why : await inputEnded;
    ws.send(JSON.stringify({ type: 'end' }));
    const ended = await stop.next(END_TIMEOUT_MS);
    if (ended.type !== 'ended') throw stop.unexpected(ended);
    inv.io.out(`Đã kết thúc (off air): ${ended.framesSent} frames (${(ended.framesSent * 0.02).toFixed(1)} s), ${ended.endReason ?? 'ended'}`);
    await stop.closed;
    // The input failed (a missing stream, a wrong device) and was not stopped on purpose: say so.
    if (why.kind === 'input' && r.code !== 0) throw new LoaError('LOA_E_AUDIO_INVALID', `ffmpeg cannot read ${o.input}: ${r.stderr.trim().split('\n').pop() || `exit status ${r.code}`}`);
    return 0;
  } finally {
    signals.release();
    stop.kill();
  }
}

/** Opens /api/live with the session cookie; a refused upgrade becomes the console's coded error. */
function connect(api: Api): Promise<WebSocket> {
  const url = new URL('/api/live', api.base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { cookie: api.cookie }, perMessageDeflate: false, handshakeTimeout: 15_000 });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => {
        let err: { code?: string; message?: string } = {};
        try {
          err = (JSON.parse(body) as { error?: typeof err }).error ?? {};
        } catch {
          // not the console's JSON: a proxy without WebSocket support, most likely
        }
        reject(new LoaError((err.code as ErrorCode | undefined) ?? 'LOA_E_LINK_DOWN', err.message ?? `${url.origin} refused the WebSocket with HTTP ${res.statusCode} (a proxy must pass Upgrade and Connection for /api/live)`));
        ws.terminate();
      });
    });
    ws.once('error', (e) => reject(new LoaError('LOA_E_LINK_DOWN', `cannot open ${url.href}: ${e.message}`, { cause: e })));
  });
}

/** ffmpeg's PCM to the socket in 20 ms multiples; resolves with its exit once stdout is sent. */
function pump(ff: ChildProcess, ws: WebSocket): Promise<{ code: number | null; stderr: string }> {
  let pending: Buffer = Buffer.alloc(0);
  let stderr = '';
  ff.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4000)));
  const send = (b: Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(b);
  };
  let started = false;
  ff.stdout!.on('data', (d: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, d]) : d;
    if (!started && pending.length < HEADROOM) return;
    started = true;
    while (pending.length >= FRAME_BYTES) {
      const n = Math.min(MAX_MESSAGE, pending.length - (pending.length % FRAME_BYTES));
      send(pending.subarray(0, n));
      pending = pending.subarray(n);
    }
  });
  return new Promise((resolve) => {
    let code: number | null = null;
    let spawnError = '';
    ff.once('error', (e) => (spawnError = `cannot run ffmpeg: ${e.message}`));
    // 'close': stdout drained and the process gone (or never started).
    ff.once('close', (c) => {
      code = c ?? (spawnError ? 127 : 1);
      if (pending.length) send(pending); // the session pads the last partial frame
      resolve({ code, stderr: spawnError || stderr });
    });
  });
}

/** The console's messages in order, the socket's close, and what to tear down. */
class Stopper {
  ffmpeg: ChildProcess | null = null;
  readonly closed: Promise<void>;
  readonly #queue: ServerMessage[] = [];
  #pending: { promise: Promise<ServerMessage>; resolve: (m: ServerMessage) => void; reject: (e: Error) => void } | null = null;
  #closeInfo: string | null = null;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      try {
        this.#queue.push(JSON.parse(String(data)) as ServerMessage);
      } catch {
        return;
      }
      this.#wake();
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        this.#closeInfo = `${code}${reason.length ? ` ${reason.toString('utf8')}` : ''}`;
        this.#wake();
        resolve();
      }),
    );
    ws.on('error', () => {}); // a close follows
  }

  #wake(): void {
    const p = this.#pending;
    if (!p) return;
    const m = this.#queue.shift();
    if (m) {
      this.#pending = null;
      p.resolve(m);
    } else if (this.#closeInfo !== null) {
      this.#pending = null;
      p.reject(new LoaError('LOA_E_LINK_DOWN', `the console closed the connection (${this.#closeInfo})`));
    }
  }

  /** The next message from the console (the same promise until it comes); the connection's loss or the timeout is an error. */
  next(timeoutMs?: number): Promise<ServerMessage> {
    let p = this.#pending?.promise;
    if (!p) {
      let resolve!: (m: ServerMessage) => void;
      let reject!: (e: Error) => void;
      p = new Promise<ServerMessage>((res, rej) => ([resolve, reject] = [res, rej]));
      p.catch(() => {}); // awaited by whoever still cares; a close nobody waits for is no crash
      this.#pending = { promise: p, resolve, reject };
      this.#wake();
    }
    if (!timeoutMs) return p;
    let t: NodeJS.Timeout;
    const late = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new LoaError('LOA_E_LINK_DOWN', `the console did not answer within ${timeoutMs / 1000} s`)), timeoutMs)));
    return Promise.race([p, late]).finally(() => clearTimeout(t));
  }

  unexpected(m: ServerMessage): LoaError {
    if (m.type === 'error') return new LoaError((m.code as ErrorCode) ?? 'LOA_E_INTERNAL', m.message);
    if (m.type === 'ended') return new LoaError('LOA_E_LIVE_REFUSED', `the console ended the session: ${m.endReason ?? 'no reason given'}`);
    return new LoaError('LOA_E_INTERNAL', `unexpected message from the console: ${m.type}`);
  }

  kill(): void {
    if (this.ffmpeg && this.ffmpeg.exitCode === null && this.ffmpeg.signalCode === null) this.ffmpeg.kill('SIGKILL');
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.terminate();
  }
}
