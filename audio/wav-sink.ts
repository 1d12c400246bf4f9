import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { PCM } from './types.js';
import { PacedSink, type PacedSinkOptions } from './paced-sink.js';

// An always-on "sound card" that records into a WAV file: from start() to
// close() the file holds, frame for frame, what a loudspeaker would have
// sounded — the current stream's samples, silence between them — so a
// position in the file is wall-clock time since `startedAt` (frameToMs /
// msToFrame). Tests and the demo listen to a village through it.
//
// Writes are small (one pacing period, ~1 KB) and synchronous, so the file
// and the timeline never disagree about what has been played.

export const WAV_HEADER_BYTES = 44;

/** A canonical 44-byte PCM WAV header for `dataBytes` of PCM. */
export function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(WAV_HEADER_BYTES);
  const blockAlign = PCM.channels * (PCM.bitDepth / 8);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(Math.min(0xffffffff, 36 + dataBytes), 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(PCM.channels, 22);
  h.writeUInt32LE(PCM.sampleRate, 24);
  h.writeUInt32LE(PCM.sampleRate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(PCM.bitDepth, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(Math.min(0xffffffff - 36, dataBytes), 40);
  return h;
}

export interface WavFileSinkOptions extends PacedSinkOptions {
  file: string;
  /** How often the RIFF and data sizes are rewritten (ms), so readers can parse the growing file. Default 200. */
  headerEveryMs?: number;
}

export class WavFileSink extends PacedSink {
  readonly kind = 'wav' as const;
  readonly file: string;
  private readonly headerEveryMs: number;
  private fd: number | null = null;
  private dataBytes = 0;
  private headerAt = 0;

  constructor(opts: WavFileSinkOptions) {
    super(opts);
    this.file = opts.file;
    this.headerEveryMs = opts.headerEveryMs ?? 200;
  }

  override async start(): Promise<void> {
    if (this.fd !== null) return;
    this.fd = openSync(this.file, 'w');
    writeSync(this.fd, wavHeader(0), 0, WAV_HEADER_BYTES, 0);
    this.headerAt = performance.now();
    await super.start();
  }

  override async close(): Promise<void> {
    if (this.fd === null) return;
    await super.close();
    this.writeSizes();
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
  }

  protected output(chunk: Buffer): void {
    if (this.fd === null) return;
    writeSync(this.fd, chunk, 0, chunk.length, WAV_HEADER_BYTES + this.dataBytes);
    this.dataBytes += chunk.length;
    if (performance.now() - this.headerAt >= this.headerEveryMs) this.writeSizes();
  }

  private writeSizes(): void {
    if (this.fd === null) return;
    // Rewriting the whole header keeps it valid even if an earlier write was torn.
    writeSync(this.fd, wavHeader(this.dataBytes), 0, WAV_HEADER_BYTES, 0);
    this.headerAt = performance.now();
  }
}
