import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AudioSink, SinkEndReason } from '../../audio/types.js';
import { PCM } from '../../audio/types.js';
import { tempDir, waitFor } from './tmp.js';

/** s16le bytes as samples (copied, so odd byte offsets are fine). */
export function samplesOf(pcm: Buffer): Int16Array {
  const out = new Int16Array(Math.floor(pcm.length / 2));
  for (let i = 0; i < out.length; i++) out[i] = pcm.readInt16LE(i * 2);
  return out;
}

/** Amplitude (0–1 of full scale) of `freqHz` in samples[start, start+len): the Goertzel algorithm. */
export function toneLevel(x: Int16Array, start: number, len: number, freqHz: number): number {
  const k = (2 * Math.PI * freqHz) / PCM.sampleRate;
  const coeff = 2 * Math.cos(k);
  let s1 = 0;
  let s2 = 0;
  const end = Math.min(x.length, start + len);
  for (let i = Math.max(0, start); i < end; i++) {
    const s0 = (x[i] ?? 0) / 32768 + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return (2 * Math.sqrt(Math.max(0, power))) / Math.max(1, end - start);
}

/**
 * First frame at which `freqHz` is present above `level` (5 ms windows, 1 ms
 * hop), or -1. A 5 ms window hears ±200 Hz around `freqHz` (a loud 1 kHz
 * tone reads about 0.1 at 1234 Hz, depending on phase): to tell near
 * frequencies apart, widen it (`windowMs` 50 resolves 20 Hz).
 */
export function onsetOf(x: Int16Array, freqHz: number, opts: { from?: number; level?: number; windowMs?: number } = {}): number {
  const win = Math.round((PCM.sampleRate * (opts.windowMs ?? 5)) / 1000);
  const hop = PCM.sampleRate / 1000;
  for (let i = opts.from ?? 0; i + win <= x.length; i += hop) if (toneLevel(x, i, win, freqHz) > (opts.level ?? 0.1)) return i;
  return -1;
}

/** Largest absolute sample value. */
export function peak(x: Int16Array, start = 0, end = x.length): number {
  let m = 0;
  for (let i = start; i < end; i++) m = Math.max(m, Math.abs(x[i] ?? 0));
  return m;
}

export interface WavRead {
  sampleRate: number;
  channels: number;
  bitDepth: number;
  /** Data size the header claims. */
  dataBytes: number;
  fileBytes: number;
  samples: Int16Array;
}

/** Parses a canonical PCM WAV (as WavFileSink writes it), also while it is being written. */
export function readWav(file: string): WavRead {
  const b = readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file}: not a RIFF/WAVE file`);
  if (b.toString('ascii', 12, 16) !== 'fmt ' || b.toString('ascii', 36, 40) !== 'data') throw new Error(`${file}: unexpected chunk layout`);
  if (b.readUInt32LE(4) !== 36 + b.readUInt32LE(40)) throw new Error(`${file}: RIFF size does not match data size`);
  const dataBytes = b.readUInt32LE(40);
  return {
    channels: b.readUInt16LE(22),
    sampleRate: b.readUInt32LE(24),
    bitDepth: b.readUInt16LE(34),
    dataBytes,
    fileBytes: b.length,
    samples: samplesOf(b.subarray(44, 44 + dataBytes)),
  };
}

export interface AlsaHome {
  /** Environment for the sink's children: HOME holds the .asoundrc; a global ALSA_CONFIG_PATH would override it. */
  env: NodeJS.ProcessEnv;
  dir: string;
  /** What each PCM open wrote, in open order, empty ones (speaker's probe at require time) left out. */
  outputs(): Buffer[];
}

/**
 * A temporary HOME whose ~/.asoundrc makes ALSA's "default" PCM the file
 * plugin: raw PCM into `<dir>/out/pcm.raw` through the null PCM. With
 * `truncate false` alsa-lib never overwrites: each open creates the next
 * free name (pcm.raw, pcm.raw.0001, …), so every child's output is kept
 * apart. `missing` instead points "default" at a sound card that does not
 * exist, which makes speaker abort when it is required.
 */
export function alsaHome(kind: 'file' | 'missing' = 'file'): AlsaHome {
  const dir = tempDir('loa-alsa-');
  const out = join(dir, 'out');
  mkdirSync(out);
  const conf =
    kind === 'file'
      ? `pcm.!default {\n  type file\n  slave.pcm "null"\n  file "${join(out, 'pcm.raw')}"\n  format "raw"\n  truncate false\n}\n`
      : 'pcm.!default {\n  type hw\n  card 29\n}\n';
  writeFileSync(join(dir, '.asoundrc'), conf);
  const seq = (n: string) => Number(/\.(\d+)$/.exec(n)?.[1] ?? 0);
  return {
    dir,
    env: { HOME: dir, ALSA_CONFIG_PATH: undefined },
    outputs: () =>
      readdirSync(out)
        .sort((a, b) => seq(a) - seq(b))
        .map((n) => readFileSync(join(out, n)))
        .filter((b) => b.length > 0),
  };
}

export interface SinkEvent {
  type: 'started' | 'ended' | 'error';
  id?: string;
  atMs?: number;
  reason?: SinkEndReason;
  playedMs?: number;
  err?: Error;
  /** performance.now() when the event was seen. */
  perf: number;
}

/** Records a sink's events, with helpers to wait for one. */
export function recordEvents(sink: AudioSink) {
  const events: SinkEvent[] = [];
  sink.on('started', (id, atMs) => events.push({ type: 'started', id, atMs, perf: performance.now() }));
  sink.on('ended', (id, atMs, reason, playedMs) => events.push({ type: 'ended', id, atMs, reason, playedMs, perf: performance.now() }));
  sink.on('error', (err) => events.push({ type: 'error', err, perf: performance.now() }));
  const find = (type: SinkEvent['type'], id?: string) => events.find((e) => e.type === type && (id === undefined || e.id === id));
  return {
    events,
    find,
    wait: (type: SinkEvent['type'], id?: string, timeoutMs = 5000) => waitFor(() => find(type, id), { timeoutMs, intervalMs: 2, what: `${type} ${id ?? ''}` }),
  };
}
