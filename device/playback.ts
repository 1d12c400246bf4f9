import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import type { Logger } from '../lib/log.js';
import { ROOT_DIR } from '../lib/paths.js';
import { decode, type Decoding } from '../audio/decode.js';
import { Gain } from '../audio/gain.js';
import { alertTone, chime, siren } from '../audio/tones.js';
import { pcmBytes, type AudioSink, type SinkEndReason } from '../audio/types.js';
import type { NowPlaying } from '../protocol/payloads.js';
import { initialState, lengthMs, step, type ArbiterEvent, type ArbiterState, type Effect, type PlayLogData, type PlayRequest, type Segment } from './arbiter.js';
import type { RelayController } from './relay-controller.js';
import type { InflightRow } from './store.js';

// The playback engine: runs the pure arbiter and carries out its effects with
// real audio — ffmpeg decoding assets, generated tones, software gain, a sink
// (ALSA child, WAV file, null) — and the amplifier relay. Sink events come
// back as arbiter events. Every arbiter log effect becomes a play-log record
// in the outbox.

export const CLIPS_DIR = join(ROOT_DIR, 'device', 'clips');

/** How long before its start a scheduled request is pre-rolled (preroll()): ffmpeg's start-up, 0.1–0.3 s, fits with room to spare. */
export const PREROLL_MS = 1500;
/** On top of the amplifier's warm-up: switching the relay itself (gpioset is a process to start). */
const RELAY_SWITCH_MS = 500;
/** A pre-rolled request not played this long after its instant is dropped (the arbiter refused it or made it wait). */
export const PREROLL_KEEP_MS = 3000;
/** How often the offset of what plays is written (persist()): a crash loses at most this much of where to resume. */
export const PROGRESS_MS = 5000;

export interface PlaybackDeps {
  sink: AudioSink;
  relay: RelayController | null;
  /** Path of a stored asset, or null when it is not (yet) on the device. */
  assetPath: (sha256: string) => string | null;
  log: Logger;
  now: () => number;
  clockTrusted: () => boolean;
  /** Writes a play-log record to the outbox. */
  record: (data: PlayLogData) => void;
  /**
   * Keeps what the arbiter holds on disk, so a play cut by a crash is
   * recovered (device/recovery-plays.ts): called with the play-log records
   * of one decision and the requests held after it, to be written in one
   * transaction (then `record` is not called for them); and every
   * PROGRESS_MS while something plays, with no records.
   */
  persist?: (logs: PlayLogData[], held: InflightRow[]) => void;
  /** Emergency lifecycle for acks: the alert sounded, it finished, it was cancelled. */
  emergency?: (id: string, status: 'playing' | 'finished' | 'cancelled' | 'failed', reason?: string) => void;
  /** Where the spoken drill/test preambles are (default device/clips). */
  clipsDir?: string;
  /** PCM of a live session from now on (device/live-desk.ts); aborted when the player lets it go. */
  live?: (session: string, signal: AbortSignal) => AsyncIterable<Buffer>;
}

interface Current {
  req: PlayRequest;
  /** The volume it plays at now (the operator may change it while it plays). */
  volume: number;
  gain: Gain | null;
  since: number;
  decoders: Set<Decoding>;
  abort: AbortController;
}

/** A request got ready ahead of its instant: its PCM already flowing (first buffers decoded), the amplifier warming. */
interface Preroll {
  cur: Current;
  pcm: Readable;
  at: number;
  failed: boolean;
  onError: (err: Error) => void;
  /** The amplifier hold taken for it (beforeSound()), handed to the play or released with soundEnded(). */
  relay: Promise<void> | null;
  /** When the sink can arm(): the gain the PCM flows through, armed in the sink ahead (ALSA: piped into its child). */
  gain: Gain | null;
  /** Whether its first PCM has come. */
  ready: boolean;
}

/** Whether a pre-rolled request is the one now played: same id, level and content (the volume is applied later, by the gain). */
function sameContent(a: PlayRequest, b: PlayRequest): boolean {
  return a.id === b.id && a.level === b.level && JSON.stringify(a.segments) === JSON.stringify(b.segments);
}

export class PlaybackEngine {
  readonly #d: PlaybackDeps;
  readonly #log: Logger;
  #state: ArbiterState;
  #cur: Current | null = null;
  #relayHeld = false;
  #timer: NodeJS.Timeout | null = null;
  #preroll: Preroll | null = null;
  /** What persist() last wrote (without progress), and when it last wrote progress. */
  #heldKey = '';
  #progressAt = 0;

  constructor(deps: PlaybackDeps) {
    this.#d = deps;
    this.#log = deps.log.child({ mod: 'playback' });
    this.#state = initialState(deps.clockTrusted());
    deps.sink.on('ended', (id, at, reason, playedMs) => this.#onSinkEnded(id, at, reason, playedMs));
    deps.sink.on('started', (id) => {
      const c = this.#cur;
      if (c && c.req.id === id && c.req.emergency) this.#d.emergency?.(c.req.emergency, 'playing');
    });
    deps.sink.on('error', (err) => this.#log.error({ err }, 'audio output failed; it restarts itself'));
  }

  get state(): ArbiterState {
    return this.#state;
  }

  /** What plays now, for telemetry and the local panel. */
  get nowPlaying(): NowPlaying | null {
    const c = this.#cur;
    if (!c) return null;
    const first = c.req.segments.find((s) => s.kind === 'asset');
    const live = c.req.segments.find((s) => s.kind === 'live');
    return {
      level: c.req.level,
      source: c.req.source,
      since: new Date(c.since).toISOString(),
      ...(c.req.title ? { title: c.req.title } : {}),
      ...(first && first.kind === 'asset' ? { asset: first.sha256 } : {}),
      ...(c.req.programme ? { programme: c.req.programme } : {}),
      ...(c.req.emergency ? { emergency: c.req.emergency } : {}),
      ...(live && live.kind === 'live' ? { live: live.session } : {}),
    };
  }

  get volume(): number | null {
    return this.#cur?.volume ?? null;
  }

  /** The request playing now, for the local panel's stop button. */
  get playingRequest(): PlayRequest | null {
    return this.#cur?.req ?? null;
  }

  /** Changes the volume of what plays now, ramped (audio/gain.ts). */
  setVolume(volume: number): void {
    const c = this.#cur;
    if (!c) return;
    c.volume = volume;
    c.gain?.setVolume(volume);
  }

  start(): void {
    // The arbiter's clock: expiries, endBy and the clock-trust flag.
    this.#timer = setInterval(() => {
      const trusted = this.#d.clockTrusted();
      if (trusted !== this.#state.clockTrusted) this.dispatch({ type: 'clock', trusted, at: this.#d.now() });
      this.dispatch({ type: 'tick', at: this.#d.now() });
      if (this.#preroll && this.#d.now() > this.#preroll.at + PREROLL_KEEP_MS) this.#dropPreroll();
      if (this.#d.persist && this.#state.playing && performance.now() - this.#progressAt >= PROGRESS_MS) this.#persist([], true);
    }, 250);
  }

  /** The agent's time was stepped by a beacon: what the arbiter holds moves with it (device/arbiter.ts shiftState). */
  clockShifted(shiftMs: number): void {
    if (shiftMs) this.dispatch({ type: 'clock', trusted: this.#d.clockTrusted(), at: this.#d.now(), shiftMs });
  }

  /** The requests the arbiter holds, as persist() writes them. */
  held(): InflightRow[] {
    const s = this.#state;
    const now = this.#d.now();
    const iso = (t: number) => new Date(t).toISOString();
    const rows: InflightRow[] = [];
    const p = s.playing;
    if (p) {
      // Never past its length: the last half second may still be in the sink when its content has all been handed over.
      const total = lengthMs(p.req);
      const offset = p.fromMs + Math.max(0, now - p.startedAt);
      rows.push({ id: p.req.id, request: JSON.stringify(p.req), phase: 'playing', firstStartedAt: iso(p.firstStartedAt), offsetMs: Math.round(total === null ? offset : Math.min(offset, total)), progressAt: iso(now), interruptedBy: null });
    }
    // A suspended one is not playing: no progress instant (if it cannot resume, it ends when that is found, as without a restart).
    for (const x of s.suspended) rows.push({ id: x.req.id, request: JSON.stringify(x.req), phase: 'suspended', firstStartedAt: iso(x.firstStartedAt), offsetMs: Math.round(x.offsetMs), progressAt: null, interruptedBy: x.interruptedBy });
    for (const x of s.waiting) rows.push({ id: x.req.id, request: JSON.stringify(x.req), phase: 'waiting', firstStartedAt: null, offsetMs: 0, progressAt: null, interruptedBy: null });
    return rows;
  }

  /** Writes the decision's records with what is held now; skips the write when neither changed (progress aside). */
  #persist(logs: PlayLogData[], progress = false): void {
    const held = this.held();
    const key = JSON.stringify(held.map((r) => [r.id, r.phase, r.firstStartedAt, r.phase === 'playing' ? null : r.offsetMs]));
    if (!logs.length && !progress && key === this.#heldKey) return;
    this.#heldKey = key;
    this.#progressAt = performance.now();
    try {
      this.#d.persist!(logs, held);
    } catch (err) {
      this.#log.error({ err }, 'cannot write what plays');
    }
  }

  /** How long before a scheduled request's start preroll() should be called: the decoder's start-up and the amplifier's warm-up both fit in it. */
  get leadMs(): number {
    return Math.max(PREROLL_MS, (this.#d.relay?.timing.warmUpMs ?? 0) + RELAY_SWITCH_MS);
  }

  /** The request pre-rolled now, if any, and whether its first PCM is buffered yet (diagnostics, tests). */
  get prerolled(): { id: string; at: number; ready: boolean } | null {
    const p = this.#preroll;
    return p ? { id: p.cur.req.id, at: p.at, ready: p.ready || p.pcm.readableLength > 0 } : null;
  }

  /**
   * Gets a request the scheduler will hand over at `at` ready to sound at
   * once, so its first sample does not wait for ffmpeg or the amplifier:
   * its PCM starts flowing now (ffmpeg decodes until the stream's buffers
   * are full, then waits on the pipe) and the amplifier is switched on to
   * warm up. When the arbiter plays this request from its start, the
   * buffered stream is what plays; otherwise it is dropped PREROLL_KEEP_MS
   * after `at`, when another request is pre-rolled, or on stop(). One at a
   * time. Nothing is played or recorded here: the arbiter still decides.
   * A sink that can arm() gets the stream (through its gain) armed now, so
   * that its own start-up (ALSA: the pipe into its child) is out of the way
   * too; it sounds only when, and as soon as, the arbiter plays it.
   */
  preroll(req: PlayRequest, at: number): void {
    const old = this.#preroll;
    if (old && sameContent(old.cur.req, req)) return;
    this.#dropPreroll();
    if (this.#cur?.req.id === req.id) return;
    // The arbiter will refuse it (device/arbiter.ts): do not switch the amplifier on for nothing.
    if (req.requiresTrustedClock && !this.#d.clockTrusted()) return;
    const cur: Current = { req, volume: req.volume, gain: null, since: at, decoders: new Set(), abort: new AbortController() };
    const pcm = Readable.from(this.#pcm(cur, 0), { objectMode: false });
    const p: Preroll = {
      cur,
      pcm,
      at,
      failed: false,
      onError: (err) => {
        p.failed = true;
        this.#log.warn({ err, id: req.id }, 'pre-roll failed; the request is decoded again when it plays');
      },
      relay: this.#d.relay ? this.#d.relay.beforeSound() : null,
      gain: null,
      ready: false,
    };
    pcm.on('error', p.onError);
    const sink = this.#d.sink;
    if (sink.arm) {
      const gain = new Gain(req.volume);
      p.gain = gain;
      pcm.on('error', (err) => gain.destroy(err));
      pcm.pipe(gain);
      pcm.once('data', () => (p.ready = true));
      // No startAt: the arbiter's play() at the instant is the start (it may also not come), and the
      // sink's now() need not be the agent's clock (agent.ts gives the production sinks Date.now()).
      sink.arm(gain, { id: req.id });
    }
    pcm.read(0); // starts the generator: the first segment's decoder runs from now on
    this.#preroll = p;
    this.#log.debug({ id: req.id, at: new Date(at).toISOString() }, 'pre-rolled');
  }

  /** The pre-roll of `req`, taken out of its slot when it can play it; any other pre-roll of the same id is dropped. */
  #takePreroll(req: PlayRequest): Preroll | null {
    const p = this.#preroll;
    if (!p || p.cur.req.id !== req.id) return null;
    this.#preroll = null;
    // Destroyed before its end: dropped (by the sink, say). An armed stream may have ended on its own, all of it in the sink.
    const dropped = (r: Readable | null) => !!r && r.destroyed && !r.readableEnded;
    // Armed at another volume: what is in the sink already (up to a second with ALSA) has the old one, so decode again.
    const otherVolume = !!p.gain && p.gain.volume !== req.volume;
    if (p.failed || dropped(p.pcm) || dropped(p.gain) || otherVolume || !sameContent(p.cur.req, req)) {
      this.#releasePreroll(p);
      return null;
    }
    p.pcm.off('error', p.onError);
    return p;
  }

  #dropPreroll(): void {
    const p = this.#preroll;
    if (!p) return;
    this.#preroll = null;
    this.#releasePreroll(p);
  }

  #releasePreroll(p: Preroll): void {
    if (p.gain) {
      this.#d.sink.disarm?.(p.gain);
      p.gain.destroy();
    }
    p.cur.abort.abort();
    for (const d of p.cur.decoders) d.kill();
    p.pcm.destroy();
    if (p.relay) this.#d.relay?.soundEnded();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#dropPreroll();
    this.#teardown();
    this.#d.sink.stop();
    if (this.#relayHeld) this.#d.relay?.soundEnded();
    this.#relayHeld = false;
  }

  dispatch(ev: ArbiterEvent): void {
    // The arbiter judges a request by the clock's trust now, not as the last 250 ms tick saw it.
    if (ev.type === 'request' && this.#d.clockTrusted() !== this.#state.clockTrusted) this.dispatch({ type: 'clock', trusted: this.#d.clockTrusted(), at: ev.at });
    const r = step(this.#state, ev);
    this.#state = r.state;
    // One transaction per decision: its records and what is held after it, so a crash never reports a play twice or not at all.
    // An emergency sounds first and is written right after (it is kept by the emergency desk already): no fsync before its alert.
    const logs = r.effects.flatMap((e) => (e.type === 'log' ? [e.data] : []));
    const urgent = r.effects.some((e) => e.type === 'play' && e.req.level === 'emergency');
    if (this.#d.persist && !urgent) this.#persist(logs);
    for (const e of r.effects) this.#execute(e);
    if (this.#d.persist && urgent) this.#persist(logs);
    if (!this.#state.playing && this.#relayHeld) {
      this.#relayHeld = false;
      this.#d.relay?.soundEnded();
    }
  }

  #execute(e: Effect): void {
    switch (e.type) {
      case 'log':
        // With persist(), the record and an emergency's ending ack were written with the decision (dispatch()).
        if (this.#d.persist) break;
        try {
          this.#d.record(e.data);
        } catch (err) {
          this.#log.error({ err }, 'cannot write a play-log record');
        }
        if (e.data.emergency) {
          if (e.data.outcome === 'played') this.#d.emergency?.(e.data.emergency, 'finished');
          else if (e.data.outcome === 'interrupted') this.#d.emergency?.(e.data.emergency, 'cancelled', e.data.reason);
          else if (e.data.outcome === 'failed') this.#d.emergency?.(e.data.emergency, 'failed', e.data.reason);
        }
        break;
      case 'stop':
        if (this.#cur?.req.id === e.id) {
          this.#teardown();
          this.#d.sink.stop();
        }
        break;
      case 'play':
        void this.#play(e.req, e.fromMs);
        break;
    }
  }

  async #play(req: PlayRequest, fromMs: number): Promise<void> {
    this.#teardown();
    // Pre-rolled (a scheduled item): its first PCM is already buffered and the amplifier warmed up ahead.
    const pre = fromMs === 0 ? this.#takePreroll(req) : null;
    let cur: Current;
    if (pre) {
      cur = pre.cur;
      cur.req = req;
      cur.volume = req.volume;
      cur.since = this.#d.now();
    } else {
      cur = { req, volume: req.volume, gain: null, since: this.#d.now(), decoders: new Set(), abort: new AbortController() };
    }
    this.#cur = cur;
    let warm: Promise<void> | null = null;
    if (pre?.relay) {
      // The pre-roll's hold on the amplifier becomes this play's, unless what played before holds it already.
      if (this.#relayHeld) this.#d.relay?.soundEnded();
      else {
        this.#relayHeld = true;
        warm = pre.relay;
      }
    }
    if (this.#d.relay && !this.#relayHeld) {
      this.#relayHeld = true;
      warm = this.#d.relay.beforeSound();
    }
    if (warm) {
      // An emergency sounds at once; anything else waits for the amplifier to warm up, so its first words are heard.
      if (req.level !== 'emergency') await warm;
      if (this.#cur !== cur) {
        if (pre?.gain) {
          this.#d.sink.disarm?.(pre.gain);
          pre.gain.destroy();
        }
        pre?.pcm.destroy();
        return; // preempted while warming up
      }
    }
    let gain: Gain;
    if (pre?.gain) {
      // Armed in the sink ahead: play() of that same stream starts it without the sink's start-up.
      gain = pre.gain; // at cur.volume (#takePreroll)
    } else {
      gain = new Gain(cur.volume);
      const pcm = pre?.pcm ?? Readable.from(this.#pcm(cur, fromMs), { objectMode: false });
      pcm.on('error', (err) => gain.destroy(err));
      pcm.pipe(gain);
    }
    cur.gain = gain;
    this.#log.info({ id: req.id, playLevel: req.level, source: req.source, fromMs, volume: req.volume, title: req.title }, 'playing');
    this.#d.sink.play(gain, { id: req.id });
  }

  /** PCM of a request's segments from an offset, decoders started lazily and killed when the stream is torn down. */
  async *#pcm(cur: Current, fromMs: number): AsyncGenerator<Buffer> {
    let skip = fromMs;
    for (const seg of cur.req.segments) {
      if (cur.abort.signal.aborted) return;
      const len = seg.durationMs;
      if (len !== null && skip >= len) {
        skip -= len;
        continue;
      }
      yield* this.#segment(cur, seg, skip);
      skip = 0;
    }
  }

  async *#segment(cur: Current, seg: Segment, offsetMs: number): AsyncGenerator<Buffer> {
    if (seg.kind === 'live') {
      // Live joins where the session is now, whatever the offset: what was missed is not played late.
      if (this.#d.live) yield* this.#d.live(seg.session, cur.abort.signal);
      return;
    }
    if (seg.kind === 'tone' && (seg.tone === 'chime' || seg.tone === 'alert' || seg.tone === 'siren')) {
      const pcm = seg.tone === 'chime' ? chime() : seg.tone === 'alert' ? alertTone(seg.durationMs) : siren(seg.durationMs);
      yield* chunks(pcm.subarray(Math.min(pcm.length, pcmBytes(offsetMs))));
      return;
    }
    let file: string;
    if (seg.kind === 'tone') file = join(this.#d.clipsDir ?? CLIPS_DIR, `${seg.tone}-vi.ogg`);
    else if (seg.kind === 'stream') file = seg.url;
    else if (seg.kind === 'file') file = seg.path;
    else {
      // An emergency clip still downloading: the siren fills until it is whole (never silence, never a wait).
      let p = this.#d.assetPath(seg.sha256);
      while (!p && !cur.abort.signal.aborted && cur.req.level === 'emergency') {
        yield* chunks(siren(2000));
        p = this.#d.assetPath(seg.sha256);
      }
      if (!p) {
        if (!cur.abort.signal.aborted) this.#log.warn({ id: cur.req.id, asset: seg.sha256 }, 'asset not on the device; skipped');
        return;
      }
      file = p;
    }
    if (!file.includes('://') && !existsSync(file)) {
      this.#log.warn({ id: cur.req.id, file }, 'clip missing; skipped');
      return;
    }
    const d = decode(file, { offsetMs });
    cur.decoders.add(d);
    try {
      for await (const b of d.stream) {
        if (cur.abort.signal.aborted) return;
        yield b as Buffer;
      }
    } finally {
      d.kill();
      cur.decoders.delete(d);
    }
  }

  #teardown(): void {
    const c = this.#cur;
    if (!c) return;
    c.abort.abort();
    for (const d of c.decoders) d.kill();
    this.#cur = null;
  }

  #onSinkEnded(id: string, at: number, reason: SinkEndReason, playedMs: number): void {
    const c = this.#cur;
    if (!c || c.req.id !== id) return;
    if (reason === 'finished') {
      this.#cur = null;
      this.dispatch({ type: 'ended', id, at: this.#d.now() });
    } else if (reason === 'failed') {
      this.#teardown();
      this.dispatch({ type: 'failed', id, at: this.#d.now(), error: `audio output failed after ${Math.round(playedMs)} ms` });
    }
    // 'preempted' and 'stopped' were decided by the arbiter itself.
    void at;
  }
}

function* chunks(pcm: Buffer, size = 9600): Generator<Buffer> {
  for (let i = 0; i < pcm.length; i += size) yield pcm.subarray(i, i + size);
}
