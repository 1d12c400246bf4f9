import { Transform, type TransformCallback } from 'node:stream';
import { PCM } from './types.js';

// Software volume for s16le PCM. Village loudspeakers have no mixer the
// agent can rely on, so the volume the commune sets (0–100) is applied to the
// samples before they reach the sink.
//
// Curve: cubic taper, amplitude = (volume / 100)³ — the mapping PulseAudio
// uses between its volume percentage and linear amplitude
// (pa_sw_volume_from_linear). It is close to a dB-linear fader over the
// useful range: 50 → −18 dB, 25 → −36 dB, 10 → −60 dB; 0 is true silence and
// 100 is unity (bytes pass through unchanged).

/** Amplitude factor (0–1) for a volume 0–100; out-of-range volumes are clamped. */
export function volumeToGain(volume: number): number {
  if (!Number.isFinite(volume) || volume <= 0) return 0;
  if (volume >= 100) return 1;
  return (volume / 100) ** 3;
}

/** A volume change ramps over this many frames (10 ms) instead of jumping, which would click. */
export const RAMP_FRAMES = PCM.sampleRate / 100;

export class Gain extends Transform {
  private gain: number;
  private target: number;
  private step = 0;
  private rampLeft = 0;
  /** An odd trailing byte of the last chunk: samples may straddle chunk boundaries. */
  private carry: Buffer | null = null;
  private vol: number;

  constructor(volume = 100) {
    super();
    this.vol = volume;
    this.gain = this.target = volumeToGain(volume);
  }

  get volume(): number {
    return this.vol;
  }

  /** Changes the volume while playing; takes effect from the next sample, ramped over RAMP_FRAMES. */
  setVolume(volume: number): void {
    this.vol = volume;
    this.target = volumeToGain(volume);
    this.rampLeft = RAMP_FRAMES;
    this.step = (this.target - this.gain) / RAMP_FRAMES;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = null;
    if (buf.length % 2) {
      this.carry = Buffer.from(buf.subarray(buf.length - 1));
      buf = buf.subarray(0, buf.length - 1);
    }
    if (buf.length) this.push(this.apply(buf));
    cb();
  }

  override _flush(cb: TransformCallback): void {
    // A lone trailing byte is half a sample: it cannot be played, drop it.
    this.carry = null;
    cb();
  }

  /** Scales whole samples into a new buffer (the input may be a shared tone buffer: never write to it). */
  private apply(buf: Buffer): Buffer {
    if (this.rampLeft === 0 && this.gain === 1) return buf;
    const out = Buffer.allocUnsafe(buf.length);
    if (this.rampLeft === 0 && this.gain === 0) return out.fill(0);
    for (let i = 0; i < buf.length; i += 2) {
      if (this.rampLeft > 0) {
        this.gain += this.step;
        if (--this.rampLeft === 0) this.gain = this.target;
      }
      // INVARIANT: gain ≤ 1, so |s·gain| ≤ 32768; the clamp only guards −32768·1 rounding.
      const v = Math.round(buf.readInt16LE(i) * this.gain);
      out.writeInt16LE(v > 32767 ? 32767 : v < -32768 ? -32768 : v, i);
    }
    return out;
  }
}
