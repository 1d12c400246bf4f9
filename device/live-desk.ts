import type { KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../lib/log.js';
import { OpusDecoder, OPUS_FRAME_MS } from '../audio/opus.js';
import { pcmBytes } from '../audio/types.js';
import { isLoaError } from '../protocol/errors.js';
import { decodeFrameBatch, frameBatchSession, sessionPublicKey } from '../protocol/live-frames.js';
import type { LiveControl } from '../protocol/payloads.js';
import { allowedAt, type EffectiveRules } from '../schedules/rules.js';
import type { ArbiterEvent, PlayLogData } from './arbiter.js';

// Live sessions on the cluster (docs/live.md). The agent hands this desk the
// open and close it verified with the province's live key, and every frame
// batch on its zones' live topics. A session becomes a request at the live
// level (it preempts programmes, an emergency preempts it, it resumes after);
// while the player plays it, pcm() turns frames into PCM at the instants the
// province stamped on them: a jitter buffer whose target is that instant and
// whose ceiling is `ceilingMs` ahead; a frame not there in time is rebuilt
// from the next one's in-band FEC or concealed. A session ends when the
// province closes it, when no frame came for `lossTimeoutMs`, when the source
// is silent for `silenceMs`, or at its endBy.

type Open = Extract<LiveControl, { type: 'open' }>;

export interface LiveSettings {
  /** No frame for this long: the session is over (the link or the source is gone). */
  lossTimeoutMs: number;
  /** The source silent this long: the session is over (a studio left on air). */
  silenceMs: number;
  /** Playout delay used when the clock is not trusted (the stamped instants cannot be believed). */
  jitterMs: number;
  /** A stamped instant further ahead than this is not believed either: frames play at arrival + jitterMs. */
  ceilingMs: number;
  /** How early a frame is handed to the output ahead of its instant (what an event-loop stall may take). */
  leadMs: number;
  /** The output's own delay from a written sample to the horn (0 for a WAV file; ALSA: its buffer). */
  outputLatencyMs: number;
}

export const LIVE_DEFAULTS: LiveSettings = { lossTimeoutMs: 5000, silenceMs: 120_000, jitterMs: 400, ceilingMs: 5000, leadMs: 60, outputLatencyMs: 0 };

export interface LiveDeskDeps {
  now: () => number;
  trusted: () => boolean;
  rules: () => EffectiveRules;
  dispatch: (ev: ArbiterEvent) => void;
  record: (data: PlayLogData) => void;
  log: Logger;
  settings: LiveSettings;
}

export interface LiveStats {
  frames: number;
  late: number;
  concealed: number;
  recovered: number;
  forged: number;
}

interface Session {
  open: Open;
  key: KeyObject;
  frames: Map<number, Buffer>;
  /** Instant of frame 0 (so frame n sounds at base + 20·n); null until the first batch. */
  base: number | null;
  /** The next frame the output will take (frames before it are late). */
  next: number;
  lastFrameAt: number;
  lastSeq: number | null;
  closeReason: string | null;
  ended: string | null;
  stats: LiveStats;
  wake: (() => void) | null;
  /** pcm() is feeding the output. */
  playing: boolean;
  /** Ended because no frame came: the province's next open starts it again. */
  lost: boolean;
}

/** Frames held ahead of the output at most (the ceiling keeps honest senders far below). */
const MAX_HELD_MS = 10_000;
const SILENT_RMS = 50; // of 32767: −56 dBFS
const LOST = (ms: number) => `no frame for ${ms} ms`;
const FADE_FRAMES = 3;
/** Sessions remembered after they ended, so a late copy of an open does not start one again. */
const REMEMBER = 64;

export class LiveDesk {
  readonly #d: LiveDeskDeps;
  readonly #sessions = new Map<string, Session>();
  #refusedLogged = 0;

  constructor(deps: LiveDeskDeps) {
    this.#d = deps;
  }

  /** Sessions known now, for the panel and telemetry. */
  get sessions(): { id: string; title: string; by: string; ended: string | null; stats: LiveStats }[] {
    return [...this.#sessions.values()].map((s) => ({ id: s.open.id, title: s.open.title, by: s.open.by, ended: s.ended, stats: { ...s.stats } }));
  }

  /** A verified open or close for one of this device's zones. */
  onControl(c: LiveControl): void {
    const now = this.#d.now();
    if (c.type === 'close') {
      const s = this.#sessions.get(c.id);
      if (!s || s.ended) return;
      s.lastSeq = c.lastSeq;
      s.closeReason = c.reason;
      s.wake?.();
      // Whatever holds it (an emergency, a session that never started) ends it after its last frame's time.
      const endsAt = s.base === null ? now : Math.max(now, s.base + (c.lastSeq + 1) * OPUS_FRAME_MS + 1000);
      setTimeout(() => this.#end(s, `closed by the province: ${c.reason}`), Math.max(0, endsAt - now)).unref();
      return;
    }
    const known = this.#sessions.get(c.id);
    // Sent again while it runs; a session this cluster lost (its link dropped longer than lossTimeoutMs) is joined again.
    if (known && !known.lost) return;
    if (this.#d.trusted() && now >= Date.parse(c.endBy)) return this.#d.log.warn({ live: c.id }, 'live session already over; ignored');
    let key: KeyObject;
    try {
      key = sessionPublicKey(c.key);
    } catch (e) {
      return this.#d.log.warn({ live: c.id, err: e }, 'live session refused: its key cannot be used');
    }
    const s: Session = { open: c, key, frames: new Map(), base: null, next: 0, lastFrameAt: now, lastSeq: null, closeReason: null, ended: null, stats: { frames: 0, late: 0, concealed: 0, recovered: 0, forged: 0 }, wake: null, playing: false, lost: false };
    this.#sessions.set(c.id, s);
    this.#forgetOld();
    const rules = this.#d.rules();
    const allowance = allowedAt(rules, now);
    const start = new Date(now).toISOString();
    if (!allowance.allowed && !rules.liveAnyTime) {
      s.ended = 'refused';
      this.#d.record({ outcome: 'refused', level: 'live', source: 'live', title: c.title, start, rule: allowance.rule ?? 'quiet-hours', reason: `live broadcast by ${c.by} outside the hours the rules allow` });
      return this.#d.log.warn({ live: c.id, rule: allowance.rule }, 'live session refused: outside the allowed hours');
    }
    const volume = allowance.allowed ? Math.min(rules.defaultVolume, allowance.cap) : rules.liveVolume;
    this.#d.log.info({ live: c.id, title: c.title, by: c.by, source: c.source, volume }, 'live session opened');
    this.#d.dispatch({
      type: 'request',
      at: now,
      req: { id: c.id, level: 'live', source: 'live', title: c.title, segments: [{ kind: 'live', session: c.id, durationMs: null }], volume, resumable: true, notAfter: null, endBy: this.#d.trusted() ? Date.parse(c.endBy) : null, requiresTrustedClock: false },
    });
  }

  /** A frame batch from a live topic: verified with its session's key, or dropped (and counted). */
  onFrames(bytes: Buffer): void {
    const now = this.#d.now();
    let id: string;
    try {
      id = frameBatchSession(bytes);
    } catch (e) {
      return this.#refused(e, null);
    }
    const s = this.#sessions.get(id);
    if (!s) return this.#refused(new Error(`frames of session ${id}, which no verified open announced`), id);
    if (s.ended) return;
    let batch;
    try {
      batch = decodeFrameBatch(bytes, s.key);
    } catch (e) {
      s.stats.forged++;
      return this.#refused(e, id);
    }
    if (s.base === null) {
      const stamped = batch.playAt - batch.seq * OPUS_FRAME_MS;
      const believable = this.#d.trusted() && batch.playAt <= now + this.#d.settings.ceilingMs;
      s.base = believable ? stamped : now + this.#d.settings.jitterMs - batch.seq * OPUS_FRAME_MS;
      if (!believable) this.#d.log.warn({ live: id, stampedInMs: Math.round(batch.playAt - now), trusted: this.#d.trusted() }, 'live frames played by arrival: their stamped instant cannot be believed');
    }
    s.lastFrameAt = now;
    const base = s.base;
    batch.frames.forEach((f, i) => {
      const seq = batch.seq + i;
      s.stats.frames++;
      // Behind the output, or past its instant while nothing plays it (an emergency holds the session): of no use.
      if (seq < s.next || (!s.playing && base + seq * OPUS_FRAME_MS < now)) s.stats.late++;
      else s.frames.set(seq, f);
    });
    // A bound whatever comes: the frames of the next MAX_HELD_MS, the oldest go first.
    while (s.frames.size > MAX_HELD_MS / OPUS_FRAME_MS) s.frames.delete(Math.min(...s.frames.keys()));
    s.wake?.();
  }

  /**
   * The session's PCM from now on, for the player: silence until the next
   * frame's instant, then a frame every 20 ms handed `leadMs` ahead. Ends
   * (returns) when the session is over; a player that stops reading (an
   * emergency) aborts it, and a later call joins at the frame due then.
   */
  async *pcm(id: string, signal: AbortSignal): AsyncGenerator<Buffer> {
    const s = this.#sessions.get(id);
    if (!s || s.ended) return;
    const st = this.#d.settings;
    const dec = new OpusDecoder();
    s.playing = true;
    let silentMs = 0;
    let why: string | null = null;
    try {
      while (s.base === null && !signal.aborted) {
        if (this.#d.now() - s.lastFrameAt > st.lossTimeoutMs) return void (why = LOST(st.lossTimeoutMs));
        await this.#wait(s, 100, signal);
      }
      if (signal.aborted || s.base === null) return;
      const base = s.base;
      // Join at the first frame the output can still sound on time.
      const ahead = st.outputLatencyMs + st.leadMs;
      let n = Math.max(s.next, Math.ceil((this.#d.now() + ahead - base) / OPUS_FRAME_MS));
      const gap = base + n * OPUS_FRAME_MS - st.outputLatencyMs - this.#d.now();
      if (gap > 0) yield Buffer.alloc(pcmBytes(gap));
      let played = 0;
      for (;;) {
        if (signal.aborted || s.ended) return;
        if (s.lastSeq !== null && n > s.lastSeq) return void (why = `closed by the province: ${s.closeReason}`);
        const now = this.#d.now();
        if (now - s.lastFrameAt > st.lossTimeoutMs) return void (why = LOST(st.lossTimeoutMs));
        if (this.#d.trusted() && now >= Date.parse(s.open.endBy)) return void (why = 'its time is over');
        const due = base + n * OPUS_FRAME_MS - ahead;
        if (due > now) await sleep(due - now, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) return;
        s.next = n + 1;
        const f = s.frames.get(n);
        let x: Int16Array;
        if (f) x = dec.decode(f);
        else {
          const after = s.frames.get(n + 1);
          if (after) {
            x = dec.recover(after);
            s.stats.recovered++;
          } else {
            x = dec.conceal();
            s.stats.concealed++;
          }
        }
        for (const k of s.frames.keys()) if (k <= n) s.frames.delete(k);
        silentMs = rms(x) < SILENT_RMS ? silentMs + OPUS_FRAME_MS : 0;
        if (silentMs >= st.silenceMs) return void (why = `the source was silent for ${Math.round(silentMs / 1000)} s`);
        if (played < FADE_FRAMES) fade(x, played / FADE_FRAMES, (played + 1) / FADE_FRAMES);
        played++;
        yield Buffer.from(x.buffer, x.byteOffset, x.byteLength);
        n++;
      }
    } finally {
      dec.close();
      // Its stream ends now and the player reports it played: no cancel.
      if (why) this.#end(s, why, false);
      s.playing = false;
    }
  }

  /** Sleeps up to `ms`, woken early by a new batch. */
  async #wait(s: Session, ms: number, signal: AbortSignal): Promise<void> {
    const woke = new Promise<void>((r) => (s.wake = r));
    await Promise.race([woke, sleep(ms, undefined, { signal }).catch(() => undefined)]);
    s.wake = null;
  }

  #end(s: Session, why: string, cancel = !s.playing): void {
    if (s.ended) return;
    s.ended = why;
    s.lost = why === LOST(this.#d.settings.lossTimeoutMs);
    s.frames.clear();
    this.#d.log.info({ live: s.open.id, why, ...s.stats }, 'live session ended');
    // Held by an emergency, or never started, it does not come back; a playing one is ended by its stream (above) or by this.
    if (cancel) this.#d.dispatch({ type: 'cancel', id: s.open.id, at: this.#d.now(), reason: `live session ended: ${why}`.slice(0, 500) });
  }

  #refused(e: unknown, id: string | null): void {
    // One line per 100 refusals: a flood of forged frames must not fill the disk with logs.
    if (this.#refusedLogged++ % 100 === 0) this.#d.log.warn({ live: id, code: isLoaError(e) ? e.code : undefined, err: (e as Error).message, refused: this.#refusedLogged }, 'live frames refused');
  }

  #forgetOld(): void {
    const ended = [...this.#sessions.values()].filter((s) => s.ended);
    for (const s of ended.slice(0, Math.max(0, ended.length - REMEMBER))) this.#sessions.delete(s.open.id);
  }
}

function rms(x: Int16Array): number {
  let sum = 0;
  for (const v of x) sum += v * v;
  return Math.sqrt(sum / x.length);
}

function fade(x: Int16Array, from: number, to: number): void {
  for (let i = 0; i < x.length; i++) x[i] = Math.round(x[i]! * (from + ((to - from) * i) / x.length));
}
