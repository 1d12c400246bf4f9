import { LoaError } from '../../protocol/errors.js';

// The WAV container as TTS engines hand it over. Pure: bytes in, facts out.
// An engine writing to a pipe cannot seek back to fill in the sizes, so it
// writes placeholders (espeak-ng --stdout: 0x7ffff000 and up; others
// 0xffffffff or 0): a data chunk that claims more than the bytes there are is
// "streamed" and runs to the end of the buffer. sealWav() writes the real
// sizes, so that every later reader agrees on the duration.

export interface WavInfo {
  /** wFormatTag: 1 PCM, 3 IEEE float, 0xfffe extensible. */
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Offset of the first sample byte. */
  dataOffset: number;
  /** Sample bytes actually present (whole frames). */
  dataBytes: number;
  durationMs: number;
  /** The header's sizes were placeholders (a WAV written to a pipe). */
  streamed: boolean;
}

const FORMATS = new Set([1, 3, 0xfffe]);

function invalid(why: string, context: Record<string, unknown> = {}): LoaError {
  return new LoaError('LOA_E_AUDIO_INVALID', `not a usable WAV file: ${why}`, { context: { ...context, reason: 'not-wav' } });
}

/** Reads a RIFF/WAVE header; throws LOA_E_AUDIO_INVALID saying what is wrong. */
export function parseWav(buf: Buffer): WavInfo {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') {
    throw invalid(`does not start with a RIFF/WAVE header (first bytes: ${JSON.stringify(buf.subarray(0, 12).toString('latin1'))})`, { bytes: buf.length });
  }
  let fmt: Omit<WavInfo, 'dataOffset' | 'dataBytes' | 'durationMs' | 'streamed'> | null = null;
  for (let pos = 12; pos + 8 <= buf.length; ) {
    const id = buf.toString('latin1', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) throw invalid('fmt chunk is truncated');
      fmt = { format: buf.readUInt16LE(body), channels: buf.readUInt16LE(body + 2), sampleRate: buf.readUInt32LE(body + 4), bitsPerSample: buf.readUInt16LE(body + 14) };
      if (!FORMATS.has(fmt.format)) throw invalid(`sample format ${fmt.format} is not PCM or float`, { format: fmt.format });
      if (fmt.channels < 1 || fmt.channels > 8) throw invalid(`${fmt.channels} channels`);
      if (fmt.sampleRate < 4000 || fmt.sampleRate > 384_000) throw invalid(`sample rate ${fmt.sampleRate} Hz`);
      if (![8, 16, 24, 32, 64].includes(fmt.bitsPerSample)) throw invalid(`${fmt.bitsPerSample} bits per sample`);
    } else if (id === 'data') {
      if (!fmt) throw invalid('data chunk before the fmt chunk');
      const frame = fmt.channels * (fmt.bitsPerSample / 8);
      const available = buf.length - body;
      const streamed = size > available || size === 0;
      const bytes = streamed ? available : size;
      const dataBytes = bytes - (bytes % frame);
      return { ...fmt, dataOffset: body, dataBytes, durationMs: (dataBytes / frame / fmt.sampleRate) * 1000, streamed };
    }
    pos = body + size + (size % 2);
  }
  throw invalid(fmt ? 'no data chunk' : 'no fmt chunk');
}

/**
 * The WAV with sizes that match its bytes: a streamed data chunk is cut to
 * whole frames and the RIFF and data sizes are written. A WAV whose sizes are
 * right already is returned as it is.
 */
export function sealWav(buf: Buffer): Buffer {
  const info = parseWav(buf);
  const end = info.dataOffset + info.dataBytes;
  const riffOk = buf.readUInt32LE(4) === buf.length - 8;
  if (!info.streamed && riffOk) return buf;
  if (!info.streamed) {
    const out = Buffer.from(buf);
    out.writeUInt32LE(buf.length - 8, 4);
    return out;
  }
  const out = Buffer.from(buf.subarray(0, end));
  out.writeUInt32LE(end - 8, 4);
  out.writeUInt32LE(info.dataBytes, info.dataOffset - 4);
  return out;
}
