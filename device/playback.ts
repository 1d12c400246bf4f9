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
import { initialState, step, type ArbiterEvent, type ArbiterState, type Effect, type PlayLogData, type PlayRequest, type Segment } from './arbiter.js';
import type { RelayController } from './relay-controller.js';

// The playback engine: runs the pure arbiter and carries out its effects with
// real audio — ffmpeg decoding assets, generated tones, software gain, a sink
// (ALSA child, WAV file, null) — and the amplifier relay. Sink events come
// back as arbiter events. Every arbiter log effect becomes a play-log record
// in the outbox.

export const CLIPS_DIR = join(ROOT_DIR, 'device', 'clips');

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
  /** Emergency lifecycle for acks: the alert sounded, it finished, it was cancelled. */
  emergency?: (id: string, status: 'playing' | 'finished' | 'cancelled' | 'failed', reason?: string) => void;
  /** Where the spoken drill/test preambles are (default device/clips). */
  clipsDir?: string;
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

export class PlaybackEngine {
  readonly #d: PlaybackDeps;
  readonly #log: Logger;
  #state: ArbiterState;
  #cur: Current | null = null;
  #relayHeld = false;
  #timer: NodeJS.Timeout | null = null;

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
    return {
      level: c.req.level,
      source: c.req.source,
      since: new Date(c.since).toISOString(),
      ...(c.req.title ? { title: c.req.title } : {}),
      ...(first && first.kind === 'asset' ? { asset: first.sha256 } : {}),
      ...(c.req.programme ? { programme: c.req.programme } : {}),
      ...(c.req.emergency ? { emergency: c.req.emergency } : {}),
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
    }, 250);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#teardown();
    this.#d.sink.stop();
    if (this.#relayHeld) this.#d.relay?.soundEnded();
    this.#relayHeld = false;
  }

  dispatch(ev: ArbiterEvent): void {
    const r = step(this.#state, ev);
    this.#state = r.state;
    for (const e of r.effects) this.#execute(e);
    if (!this.#state.playing && this.#relayHeld) {
      this.#relayHeld = false;
      this.#d.relay?.soundEnded();
    }
  }

  #execute(e: Effect): void {
    switch (e.type) {
      case 'log':
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
    const cur: Current = { req, volume: req.volume, gain: null, since: this.#d.now(), decoders: new Set(), abort: new AbortController() };
    this.#cur = cur;
    if (this.#d.relay && !this.#relayHeld) {
      this.#relayHeld = true;
      const warm = this.#d.relay.beforeSound();
      // An emergency sounds at once; anything else waits for the amplifier to warm up, so its first words are heard.
      if (req.level !== 'emergency') await warm;
      if (this.#cur !== cur) return; // preempted while warming up
    }
    const gain = new Gain(cur.volume);
    cur.gain = gain;
    const pcm = Readable.from(this.#pcm(cur, fromMs), { objectMode: false });
    pcm.on('error', (err) => gain.destroy(err));
    pcm.pipe(gain);
    this.#log.info({ id: req.id, level: req.level, source: req.source, fromMs, volume: req.volume, title: req.title }, 'playing');
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
