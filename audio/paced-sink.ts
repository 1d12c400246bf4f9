import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from '../lib/log.js';
import { PCM, type AudioSink, type PlayOptions, type SinkEndReason, type SinkEvents } from './types.js';

// The engine behind the sinks that have no hardware clock (NullSink,
// WavFileSink): it behaves like an always-on sound card. A real timer fires
// every period; each tick "plays" exactly the frames that wall-clock time
// says have elapsed since start() — samples of the current stream while it
// has data, silence otherwise (an underrun, as on a card). So frame k of the
// output is always the sound of time startedAt + k/48 ms, and every event
// time is computed from a frame position, not from when a timer happened to
// fire.
//
// A stream's first sample is never placed before its data was there. A stream
// whose first data comes within one period of play() takes over at play()'s
// frame, gapless, as a card fed every period would play it. One whose data
// comes later (a decoder starting; the event loop stalled, e.g. a tone
// computed synchronously) starts at the frame where the sink first finds its
// data, silence before it: the catch-up after a stall fills the missed frames
// with silence, not with samples that did not exist yet, so neither the file
// nor `started` runs ahead of what a loudspeaker could have sounded. Once a
// stream plays, a stall is caught up with its samples (the output keeps to
// the wall clock; nothing is skipped).

const BYTES_PER_FRAME = PCM.channels * (PCM.bitDepth / 8);
/** Frames per ms. */
const FPMS = PCM.sampleRate / 1000;

export interface PacedSinkOptions {
  /** Pacing period (ms): the most a preempted stream plays on after play(). Default 10. */
  periodMs?: number;
  /** Epoch ms source for startedAt and event times (tests inject a clock). Pacing itself uses real timers. */
  now?: () => number;
  log?: Logger;
}

/** One stream's life in the output, in frames since start(); JSON-able. */
export interface TimelineEntry {
  id: string;
  /** now() when play() was called. */
  requestedAtMs: number;
  /** Frame position of play(), or of its startAt when that was later: the stream plays from here on, silence before it. */
  requestedFrame: number;
  /** First frame of the stream's audio; null if it ended before any sample played. */
  startFrame: number | null;
  /** Frame just after its last sample (exclusive); null while it plays. */
  endFrame: number | null;
  reason: SinkEndReason | null;
}

interface Playing {
  entry: TimelineEntry;
  stream: Readable;
  /** Bytes read from the stream but not yet played (always whole frames once carry is split off). */
  pending: Buffer | null;
  carry: Buffer | null;
  sourceEnded: boolean;
  /** Its data was there before its startAt frame: it starts on that frame even if the tick that gets there is late. */
  early: boolean;
  failed: Error | null;
  detach: () => void;
}

export abstract class PacedSink extends EventEmitter implements AudioSink {
  abstract readonly kind: 'wav' | 'null';
  /** Every stream played since start(), in order. */
  readonly timeline: TimelineEntry[] = [];
  protected readonly periodMs: number;
  protected readonly now: () => number;
  protected readonly log: Logger | undefined;
  private startedAtMs: number | null = null;
  private t0 = 0;
  /** Frames output since start(). */
  protected frames = 0;
  private timer: NodeJS.Timeout | null = null;
  private cur: Playing | null = null;
  /** The stream arm()ed for a later play(), untouched (not read) until then. */
  private armed: { pcm: Readable; opts: PlayOptions } | null = null;
  private zeros = Buffer.alloc(0);

  constructor(opts: PacedSinkOptions = {}) {
    super();
    this.periodMs = opts.periodMs ?? 10;
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
  }

  /** Hands the next frames (stream audio or silence), in order, to the output. */
  protected abstract output(chunk: Buffer, isSilence: boolean): void;

  /** Epoch ms (by now()) at which frame 0 played. Throws before start(). */
  get startedAt(): number {
    if (this.startedAtMs === null) throw new Error('sink not started');
    return this.startedAtMs;
  }

  /** Epoch ms at which output frame `frame` plays. */
  frameToMs(frame: number): number {
    return this.startedAt + frame / FPMS;
  }

  /** Output frame that plays at epoch ms `ms`. */
  msToFrame(ms: number): number {
    return Math.round((ms - this.startedAt) * FPMS);
  }

  get current(): string | null {
    return this.cur?.entry.id ?? null;
  }

  async start(): Promise<void> {
    if (this.timer) return;
    this.startedAtMs = this.now();
    this.t0 = performance.now();
    this.timer = setInterval(() => this.tick(), this.periodMs);
  }

  arm(pcm: Readable, opts: PlayOptions): void {
    if (!this.timer) throw new Error(`${this.kind} sink: arm() before start()`);
    this.disarm();
    // Nothing to prepare for a clockless output: keep the stream (its producer fills its buffer) until play().
    pcm.on('error', () => {});
    this.armed = { pcm, opts };
  }

  disarm(pcm?: Readable): void {
    const a = this.armed;
    if (!a || (pcm && a.pcm !== pcm)) return;
    this.armed = null;
    a.pcm.destroy();
  }

  play(pcm: Readable, opts: PlayOptions): void {
    if (!this.timer) throw new Error(`${this.kind} sink: play() before start()`);
    let startAt = opts.startAt;
    if (this.armed?.pcm === pcm) {
      startAt ??= this.armed.opts.startAt;
      this.armed = null;
    } else this.disarm();
    // Fill the output up to this instant first: the old stream (or silence)
    // owns every frame before play(), the new one every frame after (after
    // its startAt, if that is later: silence until then).
    this.tick();
    if (this.cur) this.finish('preempted');
    const requestedFrame = startAt === undefined ? this.frames : Math.max(this.frames, this.msToFrame(startAt));
    const entry: TimelineEntry = { id: opts.id, requestedAtMs: this.now(), requestedFrame, startFrame: null, endFrame: null, reason: null };
    this.timeline.push(entry);
    const p: Playing = { entry, stream: pcm, pending: null, carry: null, sourceEnded: false, early: false, failed: null, detach: () => {} };
    // Paused mode: the tick pulls exactly what it needs with read(). A
    // 'readable' listener is what makes 'end' fire once the data is drained;
    // it also ticks early when the first data arrives, so a stream starts
    // as soon as it has audio rather than at the next period.
    const onReadable = () => {
      if (this.cur === p && p.entry.startFrame === null) this.tick();
    };
    const onEnd = () => (p.sourceEnded = true);
    const onError = (err: Error) => {
      p.failed = err;
      p.sourceEnded = true;
    };
    pcm.on('readable', onReadable);
    pcm.once('end', onEnd);
    pcm.on('error', onError);
    p.detach = () => {
      pcm.off('readable', onReadable);
      pcm.off('end', onEnd);
      // Keep an error listener: a destroyed source may still report one.
      pcm.off('error', onError);
      pcm.on('error', () => {});
    };
    this.cur = p;
  }

  stop(): void {
    this.tick();
    if (this.cur) this.finish('stopped');
  }

  async close(): Promise<void> {
    if (!this.timer) return;
    this.disarm();
    this.tick();
    if (this.cur) this.finish('stopped');
    clearInterval(this.timer);
    this.timer = null;
  }

  /** Fills the output up to the present. */
  protected tick(): void {
    if (!this.timer) return;
    const target = Math.floor((performance.now() - this.t0) * FPMS);
    const first = this.cur;
    // A stream held until its startAt: silence up to that frame.
    if (first && first.entry.startFrame === null && this.frames < first.entry.requestedFrame) {
      this.silence((Math.min(target, first.entry.requestedFrame) - this.frames) * BYTES_PER_FRAME);
      if (this.frames < first.entry.requestedFrame && this.buffer(first)) first.early = true;
    }
    if (first && first.entry.startFrame === null && target > this.frames && this.buffer(first)) {
      // Its first data, found now: gapless at play()'s (or startAt's) frame if that is within a period, else from here.
      const e = first.entry;
      if (!first.early && (this.frames !== e.requestedFrame || target - e.requestedFrame > this.periodMs * FPMS)) this.silence((target - this.frames) * BYTES_PER_FRAME);
      e.startFrame = this.frames;
      this.emit('started', e.id, this.frameToMs(this.frames));
    }
    let need = (target - this.frames) * BYTES_PER_FRAME;
    while (need > 0) {
      const p = this.cur;
      if (p && p.entry.startFrame === null && this.frames < p.entry.requestedFrame) {
        // Only when a 'started' listener played a stream with a later startAt above.
        const hold = Math.min(need, (p.entry.requestedFrame - this.frames) * BYTES_PER_FRAME);
        this.silence(hold);
        need -= hold;
        continue;
      }
      const chunk = p ? this.take(p, need) : null;
      if (p && chunk) {
        if (p.entry.startFrame === null) {
          // Only when a 'started' listener played another stream above.
          p.entry.startFrame = this.frames;
          this.emit('started', p.entry.id, this.frameToMs(this.frames));
        }
        this.output(chunk, false);
        this.frames += chunk.length / BYTES_PER_FRAME;
        need -= chunk.length;
        continue;
      }
      if (p && p.sourceEnded && !p.pending) {
        this.finish(p.failed ? 'failed' : 'finished');
        continue;
      }
      // Nothing to play now (idle, or the stream's data is late): silence.
      this.silence(need);
      need = 0;
    }
  }

  private silence(bytes: number): void {
    if (bytes <= 0) return;
    if (this.zeros.length < bytes) this.zeros = Buffer.alloc(bytes);
    this.output(this.zeros.subarray(0, bytes), true);
    this.frames += bytes / BYTES_PER_FRAME;
  }

  /** Whether some of the stream's audio (whole frames) is buffered in `pending`, reading it from the stream if need be. */
  private buffer(p: Playing): boolean {
    while (!p.pending) {
      if (p.sourceEnded) return false;
      const got = p.stream.read() as Buffer | null;
      if (got === null) return false;
      let buf = p.carry ? Buffer.concat([p.carry, got]) : got;
      p.carry = null;
      const odd = buf.length % BYTES_PER_FRAME;
      if (odd) {
        p.carry = Buffer.from(buf.subarray(buf.length - odd));
        buf = buf.subarray(0, buf.length - odd);
      }
      if (buf.length) p.pending = buf;
    }
    return true;
  }

  /** Up to `max` bytes (whole frames) of the stream's buffered audio, or null if none is buffered. */
  private take(p: Playing, max: number): Buffer | null {
    if (!this.buffer(p) || !p.pending) return null;
    const chunk = p.pending.length <= max ? p.pending : p.pending.subarray(0, max);
    p.pending = chunk === p.pending ? null : p.pending.subarray(max);
    return chunk;
  }

  private finish(reason: SinkEndReason): void {
    const p = this.cur;
    if (!p) return;
    this.cur = null;
    p.detach();
    const e = p.entry;
    e.endFrame = this.frames;
    e.reason = reason;
    if (reason === 'failed') this.log?.warn({ err: p.failed, stream: e.id }, 'stream failed while playing');
    // The sink owns the stream from play() on: a cut stream is destroyed so
    // its producer (ffmpeg) stops at once.
    if (reason === 'preempted' || reason === 'stopped') p.stream.destroy();
    const playedMs = e.startFrame === null ? 0 : (e.endFrame - e.startFrame) / FPMS;
    this.emit('ended', e.id, this.frameToMs(e.endFrame), reason, playedMs);
  }

  override on<E extends keyof SinkEvents>(event: E, listener: (...args: SinkEvents[E]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override off<E extends keyof SinkEvents>(event: E, listener: (...args: SinkEvents[E]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }
}
