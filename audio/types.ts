import type { Readable } from 'node:stream';

// The audio interfaces every part of playback agrees on. The agent's player
// decodes (ffmpeg) into PCM of one fixed format, applies gain, and hands the
// stream to a sink. A sink is an always-on output: a sound card (ALSA through
// `speaker` in a supervised child process), a WAV file paced in real time
// (tests, demo), or nothing (null). Only one stream plays at a time;
// `play()` of a new stream preempts the current one at once.

/** The one PCM format inside Loa: signed 16-bit little-endian, mono, 48 kHz (Opus' native rate). */
export const PCM = { sampleRate: 48_000, channels: 1, bitDepth: 16 } as const;
export const BYTES_PER_SECOND = PCM.sampleRate * PCM.channels * (PCM.bitDepth / 8);
/** Bytes of PCM for a duration, rounded down to whole frames. */
export const pcmBytes = (ms: number): number => Math.floor((ms * PCM.sampleRate) / 1000) * PCM.channels * (PCM.bitDepth / 8);

export type SinkEndReason = 'finished' | 'preempted' | 'stopped' | 'failed';

export interface SinkEvents {
  /** The first sample of stream `id` was handed to the output (the device, the file). */
  started: [id: string, atMs: number];
  /** Stream `id` ended: played out, cut by a newer play(), stop()ped, or the output failed. */
  ended: [id: string, atMs: number, reason: SinkEndReason, playedMs: number];
  /** The output itself failed (e.g. the ALSA child crashed); it restarts itself where it can. */
  error: [err: Error];
}

export interface PlayOptions {
  /** Identifies the stream in events and logs. */
  id: string;
  /**
   * Epoch ms by the sink's now() (the agent's clock) before which the
   * stream's first sample must not sound. In the past or absent: at once.
   * The stream that played before still ends at play(); silence until then.
   */
  startAt?: number;
}

/**
 * An always-on audio output. Implementations: WavFileSink, NullSink (audio/
 * sinks), AlsaSink (ALSA through `speaker` in a child process). One contract
 * test suite (test/contracts/audio-sink.test.ts) runs against all of them.
 */
export interface AudioSink {
  readonly kind: 'alsa' | 'wav' | 'null';
  /** Opens the output (and, for ALSA, the warm standby child). */
  start(): Promise<void>;
  /**
   * Plays `pcm` (PCM format above) from now on, replacing whatever plays:
   * the current stream's unplayed samples are dropped within one buffer
   * period and it ends with reason 'preempted'. Returns at once.
   */
  play(pcm: Readable, opts: PlayOptions): void;
  /**
   * Gets `pcm` ready to be played without sounding it or touching what
   * plays now (ALSA: piped ahead into a child that has the device open and
   * holds its first write). A later play() of this same stream then starts
   * it with no start-up delay, not before `opts.startAt` (unless play() says
   * otherwise); play() of any other stream drops it. One stream at a time:
   * arming another drops the first. The sink owns an armed stream: dropping
   * it destroys it. No events for an armed stream until it is played.
   */
  arm?(pcm: Readable, opts: PlayOptions): void;
  /** Drops the armed stream (only if it is `pcm`, when given) without a sound and without events. */
  disarm?(pcm?: Readable): void;
  /** Stops the current stream now (reason 'stopped'); silence follows. */
  stop(): void;
  /** Id of the stream playing now, if any. */
  readonly current: string | null;
  on<E extends keyof SinkEvents>(event: E, listener: (...args: SinkEvents[E]) => void): this;
  off<E extends keyof SinkEvents>(event: E, listener: (...args: SinkEvents[E]) => void): this;
  close(): Promise<void>;
}
