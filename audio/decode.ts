import ffmpeg from 'fluent-ffmpeg';
import { Transform, type Readable } from 'node:stream';
import { LoaError } from '../protocol/errors.js';
import { PCM } from './types.js';

// Decodes any file ffmpeg reads (Ogg/Opus assets, WAV, MP3) into Loa's PCM
// format, optionally from an offset so an interrupted programme resumes where
// it was cut. The decoder is an adapter: the player owns the returned stream
// and kills it when a stream is preempted.

export interface DecodeOptions {
  /** Start this far into the file (ms). `-ss` before `-i`: ffmpeg seeks, then decodes and drops up to the exact point. */
  offsetMs?: number;
  /** ffmpeg binary; default: `ffmpeg` on PATH (or FFMPEG_PATH, as fluent-ffmpeg reads it). */
  ffmpegPath?: string;
}

export interface Decoding {
  /** PCM (s16le mono 48 kHz). Ends normally only if ffmpeg exited 0; otherwise emits a LOA_E_AUDIO_INVALID error. */
  stream: Readable;
  /** Kills ffmpeg at once (SIGKILL) and destroys the stream without an error. Idempotent. */
  kill(): void;
}

/** The last meaningful line ffmpeg wrote to stderr: with `-loglevel error` that is the reason. */
function reason(stderr: string | null, fallback: string): string {
  const lines = (stderr ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.at(-1) ?? fallback;
}

export function decode(file: string, opts: DecodeOptions = {}): Decoding {
  const offsetMs = Math.max(0, opts.offsetMs ?? 0);
  let killed = false;
  // The command's outcome (null = exited 0). fluent-ffmpeg ends a piped
  // output stream when ffmpeg's stdout closes, even when ffmpeg then reports
  // failure; so the output is a Transform whose flush waits for the outcome
  // and turns a failure into a stream error instead of a silent short end.
  let settle!: (err: Error | null) => void;
  const outcome = new Promise<Error | null>((r) => (settle = r));

  const cmd = ffmpeg(file)
    .inputOptions(['-nostdin', '-hide_banner', '-loglevel', 'error', ...(offsetMs > 0 ? ['-ss', (offsetMs / 1000).toFixed(3)] : [])])
    .noVideo()
    .audioCodec('pcm_s16le')
    .audioChannels(PCM.channels)
    .audioFrequency(PCM.sampleRate)
    .format('s16le');
  if (opts.ffmpegPath) cmd.setFfmpegPath(opts.ffmpegPath);

  const stream = new Transform({
    highWaterMark: 64 * 1024,
    transform(chunk: Buffer, _enc, cb) {
      cb(null, chunk);
    },
    flush(cb) {
      void outcome.then((err) => cb(err ?? undefined));
    },
    destroy(err, cb) {
      kill();
      cb(err);
    },
  });

  cmd.on('error', (err: Error, _stdout: string | null, stderr: string | null) => {
    // After kill() fluent-ffmpeg reports "killed with signal SIGKILL" or
    // "Output stream closed": that is our doing, not a decoding failure.
    if (killed) return settle(null);
    const e = new LoaError('LOA_E_AUDIO_INVALID', `cannot decode ${file}${offsetMs ? ` from ${offsetMs} ms` : ''}: ${reason(stderr, err.message)}`, { cause: err, context: { file, offsetMs } });
    settle(e);
    // If ffmpeg could not even be spawned, stdout never ends: fail the stream now.
    if (!stream.writableEnded) stream.destroy(e);
  });
  cmd.on('end', () => settle(null));
  // fluent-ffmpeg spawns asynchronously (after locating the binary): a kill()
  // before that finds no process, so kill it as soon as it exists.
  cmd.on('start', () => {
    if (killed) cmd.kill('SIGKILL');
  });
  cmd.pipe(stream, { end: true });

  function kill(): void {
    if (killed) return;
    killed = true;
    if ((cmd as unknown as { ffmpegProc?: unknown }).ffmpegProc) cmd.kill('SIGKILL');
    settle(null);
    if (!stream.destroyed) stream.destroy();
  }

  return { stream, kill };
}
