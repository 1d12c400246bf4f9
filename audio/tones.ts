import { Readable } from 'node:stream';
import { PCM, pcmBytes } from './types.js';

// Tones generated as PCM (the format of audio/types.ts), so a device can make
// its first sound without any asset: the pre-announcement chime, the
// emergency alert tone and the siren. Pure arithmetic on Math.sin with phase
// accumulation and no randomness, so the same call gives the same bytes on
// every run (tests compare them byte for byte).

const RATE = PCM.sampleRate;
const TWO_PI = 2 * Math.PI;

/** Float samples in [-1, 1] to s16le; values beyond full scale are clipped, never wrapped. */
export function floatToPcm(samples: Float64Array): Buffer {
  const out = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round((samples[i] ?? 0) * 32767);
    out.writeInt16LE(v > 32767 ? 32767 : v < -32768 ? -32768 : v, i * 2);
  }
  return out;
}

const frames = (ms: number): number => pcmBytes(ms) / 2;

/** Linear fade in and out (ms) in place: a tone that starts or stops at full amplitude clicks. */
function fade(x: Float64Array, inMs: number, outMs: number): Float64Array {
  const a = Math.min(frames(inMs), x.length);
  const b = Math.min(frames(outMs), x.length);
  for (let i = 0; i < a; i++) x[i]! *= i / a;
  for (let i = 0; i < b; i++) x[x.length - 1 - i]! *= i / b;
  return x;
}

/** A plain sine at `amplitude` (0–1) with 5 ms fades; the building block of test signals. */
export function sine(freqHz: number, ms: number, amplitude = 0.5): Buffer {
  const x = new Float64Array(frames(ms));
  for (let i = 0; i < x.length; i++) x[i] = amplitude * Math.sin((TWO_PI * freqHz * i) / RATE);
  return floatToPcm(fade(x, 5, 5));
}

/** One struck bell-like note: a fundamental with two soft partials, quick attack, exponential decay. */
function addNote(x: Float64Array, startMs: number, freqHz: number, amplitude: number, decayS: number): void {
  const start = frames(startMs);
  const attack = frames(8);
  for (let i = start, n = 0; i < x.length; i++, n++) {
    const t = n / RATE;
    const env = (n < attack ? n / attack : 1) * Math.exp(-t / decayS);
    const s = Math.sin(TWO_PI * freqHz * t) + 0.25 * Math.sin(TWO_PI * 2 * freqHz * t) + 0.08 * Math.sin(TWO_PI * 3 * freqHz * t);
    x[i]! += amplitude * env * s;
  }
}

/** Chime note pitches (Hz) and onsets (ms): a descending C-major triad, G5–E5–C5, "ding-dong-dang". */
export const CHIME_NOTES = [
  { hz: 783.99, atMs: 0 },
  { hz: 659.25, atMs: 550 },
  { hz: 523.25, atMs: 1100 },
] as const;
export const CHIME_MS = 3000;

/**
 * The pre-announcement chime (~3 s) played before a programme so listeners
 * turn towards the loudspeaker. Peaks near −6 dBFS, leaving the loudness to
 * the volume setting (a test keeps it below −3 dBFS).
 */
export function chime(): Buffer {
  const x = new Float64Array(frames(CHIME_MS));
  for (const n of CHIME_NOTES) addNote(x, n.atMs, n.hz, 0.3, 0.7);
  return floatToPcm(fade(x, 0, 300));
}

/** The alert tone's two simultaneous frequencies (Hz): the EAS attention signal, 47 CFR 11.32(a)(9). */
export const ALERT_HZ = [853, 960] as const;
export const ALERT_MS = 3000;

/** The emergency alert tone (~3 s): the 853 + 960 Hz two-tone signal broadcasters use for alerts. */
export function alertTone(ms = ALERT_MS): Buffer {
  const x = new Float64Array(frames(ms));
  for (let i = 0; i < x.length; i++) {
    const t = i / RATE;
    x[i] = 0.35 * Math.sin(TWO_PI * ALERT_HZ[0] * t) + 0.35 * Math.sin(TWO_PI * ALERT_HZ[1] * t);
  }
  return floatToPcm(fade(x, 20, 20));
}

/** The siren sweeps between these frequencies (Hz) once per cycle ("wail"). */
export const SIREN = { lowHz: 600, highHz: 1300, cycleMs: 4000 } as const;

/**
 * A rising and falling siren of `ms` length. The pitch follows a raised
 * cosine between SIREN.lowHz and SIREN.highHz; the phase is accumulated
 * sample by sample so the sweep has no discontinuities (which would click).
 */
export function siren(ms: number): Buffer {
  const x = new Float64Array(frames(ms));
  let phase = 0;
  for (let i = 0; i < x.length; i++) {
    const cycle = (i / RATE) / (SIREN.cycleMs / 1000);
    const f = SIREN.lowHz + ((SIREN.highHz - SIREN.lowHz) * (1 - Math.cos(TWO_PI * cycle))) / 2;
    x[i] = 0.6 * Math.sin(phase);
    phase += (TWO_PI * f) / RATE;
    if (phase > TWO_PI) phase -= TWO_PI;
  }
  return floatToPcm(fade(x, 50, 50));
}

/** Digital silence of `ms`. */
export const silence = (ms: number): Buffer => Buffer.alloc(pcmBytes(ms));

/**
 * A Readable over a PCM buffer in chunks of `chunkMs` (default 20 ms), for
 * handing generated tones to a sink. The buffer is not copied: callers must
 * not change it while it plays.
 */
export function pcmStream(pcm: Buffer, chunkMs = 20): Readable {
  const step = Math.max(2, pcmBytes(chunkMs));
  let at = 0;
  return new Readable({
    highWaterMark: step * 4,
    read() {
      if (at >= pcm.length) return void this.push(null);
      this.push(pcm.subarray(at, at + step));
      at += step;
    },
  });
}
