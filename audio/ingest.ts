import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { LoaError } from '../protocol/errors.js';
import { defaultTools, probe, runPass, ToolFailure, type PassOptions, type PassResult, type Tools } from './ingest-ffmpeg.js';
import {
  best,
  bestEncoding,
  downmix,
  finalTarget,
  linearFilter,
  MAX_ENCODINGS,
  meetsTarget,
  METER,
  nextAim,
  nextGain,
  parseEbur128,
  parseLoudnorm,
  route,
  shapingFilters,
  MAX_CALIBRATIONS,
  type Calibration,
  type LoudnessStats,
  type LoudnessTarget,
  type Method,
} from './ingest-loudness.js';
import { classify, formatDuration, truncation, unprobeable, type Refusal, type Source } from './ingest-source.js';

// The province's audio ingest: any recording an operator uploads (MP3, WAV,
// Ogg Vorbis/Opus, M4A/AAC, FLAC, a video's sound track) or a TTS engine
// writes becomes one asset format: EBU R128 loudness-normalised, Opus, mono,
// 48 kHz, ~32 kbit/s, in Ogg (docs: DESIGN.md "Audio").
//
//   probe     ffprobe: streams, format, declared duration; refuse early
//   measure   pass 1: decode, downmix to 48 kHz | ebur128 (EBU R128
//             meter with true peak; see METER), two processes        0 – 0.5
//   calibrate only when loudnorm could not stay linear: gain + limiter
//             (+ range control) | ebur128, ≤ 3 times                 0.5 – 0.6
//   encode    pass 2: loudnorm linear=true with the measured values,
//             libopus → a temporary .ogg in outDir; beside it, verify:
//             ebur128 on the decoded result (output loudness, length) → 0.95
//   (again)   only when the decoded result misses the target (a true peak
//             over it: Opus' overshoot; > 0.5 LU off: broadband sound):
//             shape with a lower ceiling / a louder aim, encode, verify,
//             at most MAX_ENCODINGS in all; the best one is kept         → 1
//
// Every failure is a LOA_E_AUDIO_INVALID with a specific message and
// context.reason (a Refusal, or 'tool' when ffmpeg itself cannot run), and
// leaves nothing in outDir.

/** The province's one loudness target (EBU R128 for speech over loudspeakers), as the stored asset decodes. */
export const INGEST_TARGET: Readonly<LoudnessTarget> = Object.freeze({ I: -16, TP: -1.5, LRA: 11 });
/** Quieter than this (integrated, LUFS) is a recording of nothing: -60 LUFS is a microphone's noise floor, which normalising would raise by 44 dB. */
export const SILENT_BELOW_LUFS = -60;
/** Shorter than one EBU R128 gating block and a bit: loudness cannot be measured. */
export const MIN_DURATION_MS = 500;
export const DEFAULT_MAX_DURATION_MS = 3 * 3_600_000;
/**
 * The asset encoding: Opus tuned for speech, at complexity 6. libopus'
 * default, 10, took 9.2 s of CPU for 10 minutes of speech, 6 took 6.4–7.0 s,
 * and libopus is pass 2's slowest stage, where the ingest spends most of its
 * time. What it costs, measured on the bench's programme (shaped as pass 2
 * shapes it, decoded again, against what went in): log-spectral distance
 * under 4 kHz 4.37 → 4.50 dB, segmental SNR 7.42 → 7.37 dB, the file 1%
 * smaller, the same loudness (docs/benchmarks.md, "ingest"). Complexity 8
 * gave the same decoded samples as 10 in the same time; 5 takes 5.2 s for
 * 4.75 dB and 7.31 dB, the next step if the ingest must be faster.
 * Constrained VBR keeps a file near 32 kbit/s whatever it holds (a steady
 * tone took 42 kbit/s unconstrained), so its size, and the devices' disk
 * budget, are predictable.
 */
export const ASSET_ENCODING = ['-c:a', 'libopus', '-b:a', '32k', '-vbr', 'constrained', '-application', 'voip', '-compression_level', '6'] as const;

export interface IngestOptions {
  /** Where the result is written, under a temporary name; it must exist. */
  outDir: string;
  /** Longer recordings are refused (default 3 h). */
  maxDurationMs?: number;
  /** Fractions 0–1, non-decreasing, 1 once at the end of a success. Exceptions it throws are ignored. */
  onProgress?: (fraction: number) => void;
  /** Integrated loudness target, LUFS (default -16). */
  targetI?: number;
  /** True-peak ceiling, dBTP (default -1.5). */
  targetTP?: number;
  /** ffmpeg/ffprobe binaries (default: on PATH, or FFMPEG_PATH/FFPROBE_PATH). */
  tools?: Partial<Tools>;
}

export interface IngestResult {
  /** The .ogg in outDir, under a temporary name: the caller renames or moves it. */
  file: string;
  sha256: string;
  size: number;
  /** Length of the encoded audio, decoded. */
  durationMs: number;
  loudness: {
    /** Pass 1 (ebur128) on the mono downmix of the input. */
    input: { I: number; TP: number; LRA: number };
    /** ebur128 on the decoded asset: what devices will play. */
    output: { I: number; TP: number; LRA: number };
    /**
     * How the target was reached: 'linear' (one gain), 'limited' (gain and a
     * lookahead limiter: peaks too high for one gain), 'range-compressed'
     * (loudnorm's range control first: range wider than the target), or
     * 'dynamic' if loudnorm unexpectedly refused to stay linear.
     */
    method: Method | 'dynamic';
    /** How much louder than the target (dB) the signal was made before the encoder, to make up what the codec took (broadband sound); 0 when none was needed. */
    codecGainDb: number;
    /** How far under the true-peak target (dB) its ceiling was set before the encoder, to leave room for the codec's overshoot; 0 when none was needed. */
    codecPeakMarginDb: number;
    /** How many times it was encoded (1 when the first encoding kept the target). */
    encodings: number;
  };
  /** Container and codec of the input, e.g. "mp3", "wav/pcm_s16le", "ogg/opus", "mp4/aac". */
  sourceFormat: string;
  /** Wall-clock time of each stage (ms). */
  timingsMs: Record<Stage, number>;
}

/** 'encode' is pass 2 with its verification running beside it (and a second encoding when there was one). */
export type Stage = 'probe' | 'measure' | 'calibrate' | 'encode';

export type IngestFailure = Refusal | 'too-short' | 'tool';

const ERRNO_WORDS: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EPERM: 'permission denied', ELOOP: 'too many symbolic links' };

function refuse(file: string, reason: IngestFailure, message: string, cause?: unknown): LoaError {
  return new LoaError('LOA_E_AUDIO_INVALID', message, { cause, context: { file, reason } });
}

function targetOf(opts: IngestOptions): LoudnessTarget {
  const t = { ...INGEST_TARGET, I: opts.targetI ?? INGEST_TARGET.I, TP: opts.targetTP ?? INGEST_TARGET.TP };
  // loudnorm's own ranges (af_loudnorm.c).
  if (!(t.I >= -70 && t.I <= -5)) throw new LoaError('LOA_E_CONFIG_INVALID', `ingest targetI must be within -70…-5 LUFS, not ${t.I}`);
  if (!(t.TP >= -9 && t.TP <= 0)) throw new LoaError('LOA_E_CONFIG_INVALID', `ingest targetTP must be within -9…0 dBTP, not ${t.TP}`);
  return t;
}

/** Progress of the whole ingest from the stages' own fractions: never backwards, and shielded from the callback's exceptions. */
function progressOf(cb: IngestOptions['onProgress']) {
  let last = 0;
  const report = (f: number) => {
    if (!cb || !(f > last)) return;
    last = Math.min(1, f);
    try {
      cb(last);
    } catch {
      // A progress display must not break an ingest.
    }
  };
  return { report, span: (from: number, to: number) => (f: number) => report(from + (to - from) * f) };
}

export async function ingest(inputFile: string, opts: IngestOptions): Promise<IngestResult> {
  const target = targetOf(opts);
  const maxMs = opts.maxDurationMs ?? DEFAULT_MAX_DURATION_MS;
  if (!(maxMs > 0)) throw new LoaError('LOA_E_CONFIG_INVALID', `ingest maxDurationMs must be positive, not ${maxMs}`);
  const tools = { ...defaultTools(), ...opts.tools };
  const progress = progressOf(opts.onProgress);
  const timingsMs: Record<Stage, number> = { probe: 0, measure: 0, calibrate: 0, encode: 0 };
  const timed = async <T>(stage: Stage, work: Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work;
    } finally {
      timingsMs[stage] += Math.round(performance.now() - t0);
    }
  };
  const fail = (reason: IngestFailure, message: string, cause?: unknown) => refuse(inputFile, reason, message, cause);
  const toolFailure = (e: unknown, what: (reason: string) => [IngestFailure, string]): unknown => {
    if (!(e instanceof ToolFailure)) return e;
    if (e.kind !== 'exit') return fail('tool', `${e.reason}${e.kind === 'spawn' ? ' (is ffmpeg installed?)' : ''}`, e);
    return fail(...what(e.reason.replaceAll(`${inputFile}: `, '')), e);
  };

  const dir = await stat(opts.outDir).catch(() => null);
  if (!dir?.isDirectory()) throw new LoaError('LOA_E_DATA_DIR', `ingest output directory ${opts.outDir} does not exist or is not a directory`, { context: { outDir: opts.outDir } });

  // --- the file itself, then what ffprobe says, before any decoding ---------
  const unreadable = (e: NodeJS.ErrnoException) => {
    throw fail('unreadable', `cannot read the file: ${ERRNO_WORDS[e.code ?? ''] ?? e.code ?? e.message}`, e);
  };
  const st = await stat(inputFile).catch(unreadable);
  if (!st.isFile()) throw fail('unreadable', 'cannot read the file: not a regular file');
  if (st.size === 0) throw fail('empty', 'the file is empty');
  // The first bytes name what an upload is when it is not audio (a PDF, a photo).
  const head = Buffer.alloc(64);
  const fh = await open(inputFile, 'r').catch(unreadable);
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  const probed = await timed('probe', probe(tools, inputFile)).catch((e: unknown) => {
    throw toolFailure(e, (reason) => {
      const r = unprobeable(head, reason);
      return [r.refused, r.message];
    });
  });
  const c = classify(probed.json, probed.warnings, head);
  if ('refused' in c) throw fail(c.refused, c.message);
  const src: Source = c;
  if (src.durationMs !== null && src.durationMs > maxMs) {
    throw fail('too-long', `the recording is ${formatDuration(src.durationMs)} long; the limit is ${formatDuration(maxMs)}`);
  }
  const totalUs = src.durationMs === null ? null : src.durationMs * 1000;
  const decodeInput = ['-i', inputFile, '-map', '0:a:0'];

  const tmp = join(opts.outDir, `.ingest-${randomBytes(8).toString('hex')}.ogg`);
  let decodedUs: number | null = null;
  try {
    // --- pass 1: measure --------------------------------------------------
    const { decoded: measured, stats: input } = await timed('measure', metered([], {
      totalUs,
      onFraction: progress.span(0, 0.5),
      limitUs: maxMs * 1000,
    })).catch((e: unknown) => {
      throw toolFailure(e, (reason) => ['damaged', `the file is damaged and cannot be decoded: ${reason}`]);
    });
    if (measured.stoppedAtLimit) throw fail('too-long', `the recording is longer than the limit of ${formatDuration(maxMs)}`);
    const decodedMs = measured.outTimeUs / 1000;
    decodedUs = measured.outTimeUs;
    const cut = truncation(src, decodedMs, measured.errors);
    if (cut) throw fail(cut.refused, cut.message);
    if (decodedMs < MIN_DURATION_MS) throw fail('too-short', `the recording is only ${formatDuration(decodedMs)} long; loudness needs at least ${formatDuration(MIN_DURATION_MS)}`);
    if (!input) throw fail('damaged', `ffmpeg decoded ${formatDuration(decodedMs)} but reported no loudness: ${measured.errors[0] ?? 'no reason given'}`);
    if (!(input.I >= SILENT_BELOW_LUFS)) {
      const level = Number.isFinite(input.I) ? `${input.I.toFixed(1)} LUFS` : 'no sound at all';
      throw fail('silent', `the recording is silent (integrated loudness: ${level}; anything under ${SILENT_BELOW_LUFS} LUFS is taken as silence)`);
    }

    // --- shape, encode, verify what a device will play; again if it misses --
    // Opus overshoots the true peak it is given (by up to ~2.5 dB on
    // impulsive speech at 32 kbit/s) and drops loudness it cannot afford
    // (speech ~0.2 LU, broadband sound up to ~2 LU). What is stored must keep
    // the target as decoded, so an encoding that misses it is shaped again
    // with the ceiling lowered by the overshoot and the loudness aim raised by
    // the loss (nextAim), and encoded again, at most MAX_ENCODINGS times.
    const attempts: Encoding[] = [];
    let aim = target;
    for (let k = 0; k < MAX_ENCODINGS; k++) {
      // Progress: the first encoding fills 0.5–0.95; any further one shares 0.95–1.
      const [from, to] = k === 0 ? [0.5, 0.95] : [0.95 + (0.05 * (k - 1)) / (MAX_ENCODINGS - 1), 0.95 + (0.05 * k) / (MAX_ENCODINGS - 1)];
      const shaped = await shape(input, aim, [from, from + (to - from) / 5]);
      const file = k === 0 ? tmp : `${tmp.slice(0, -'.ogg'.length)}-${k}.ogg`;
      const encoded = await timed('encode', encodeAndVerify(shaped.filters, file, [shaped.linear ? from : from + (to - from) / 5, to]));
      attempts.push({ ...encoded, file, aim, method: shaped.method });
      if (meetsTarget(encoded.output, target) || k === MAX_ENCODINGS - 1) break;
      aim = nextAim(aim, encoded.applied?.outputTP ?? NaN, encoded.output, target);
    }
    const chosen = bestEncoding(attempts, target);
    for (const a of attempts) if (a !== chosen) await rm(a.file, { force: true });
    if (chosen.file !== tmp) await rename(chosen.file, tmp);
    const { output, durationMs, sha256, size } = chosen;
    // INVARIANT: route()/finalTarget() only hand loudnorm values it takes linearly; its report says whether it did.
    const method: IngestResult['loudness']['method'] = chosen.applied?.type === 'dynamic' ? 'dynamic' : chosen.method;
    const codecGainDb = Math.round((chosen.aim.I - target.I) * 100) / 100;
    const codecPeakMarginDb = Math.round((target.TP - chosen.aim.TP) * 100) / 100;

    progress.report(1);
    return {
      file: tmp,
      sha256,
      size,
      durationMs,
      loudness: { input: { I: input.I, TP: input.TP, LRA: input.LRA }, output: { I: output.I, TP: output.TP, LRA: output.LRA }, method, codecGainDb, codecPeakMarginDb, encodings: attempts.length },
      sourceFormat: src.format,
      timingsMs,
    };
  } catch (e) {
    // Every process has exited and the file is closed by now (runPass and
    // encodeAndVerify settle only then): nothing writes the file any more.
    await Promise.all([tmp, ...Array.from({ length: MAX_ENCODINGS - 1 }, (_, i) => `${tmp.slice(0, -'.ogg'.length)}-${i + 1}.ogg`)].map((f) => rm(f, { force: true })));
    throw e;
  }

  /**
   * The filters that bring the input (measured: `m`) to `aim` before the encoder: one linear
   * loudnorm when it can, else gain and limiter (after range control when the
   * range is too wide) calibrated by measuring passes, then loudnorm. Progress
   * of the calibrations covers [from, to].
   */
  async function shape(m: LoudnessStats, aim: LoudnessTarget, [from, to]: [number, number]): Promise<{ filters: string[]; method: Method; linear: boolean }> {
    const way = route(m, aim);
    if (way.method === 'linear') return { filters: [linearFilter(m, aim)], method: 'linear', linear: true };
    const tried: Calibration[] = [];
    for (let gain: number | null = way.gainDb; gain !== null; gain = nextGain(tried, aim)) {
      const k = tried.length;
      const at = from + ((to - from) * k) / MAX_CALIBRATIONS;
      const { stats } = await timed('calibrate', metered(shapingFilters(way.method, gain, m, aim), {
        totalUs,
        onFraction: progress.span(at, at + (to - from) / MAX_CALIBRATIONS),
      })).catch((e: unknown) => {
        throw toolFailure(e, (reason) => ['damaged', `the file could not be decoded again: ${reason}`]);
      });
      if (!stats) throw fail('tool', 'ffmpeg ebur128 printed no summary');
      tried.push({ gainDb: gain, stats });
    }
    const chosen = best(tried, aim);
    return { filters: [...shapingFilters(way.method, chosen.gainDb, m, aim), linearFilter(chosen.stats, finalTarget(chosen, aim))], method: way.method, linear: false };
  }

  function pass(args: string[], o: PassOptions): Promise<PassResult> {
    return runPass(tools, [...decodeInput, ...args], o);
  }

  /**
   * A measuring pass (pass 1, a calibration) as two processes, so that both
   * cores work: ffmpeg decodes and shapes (filters) into raw 48 kHz mono PCM
   * → ffmpeg meters it (METER). Its true peak, oversampled 4×, costs twice
   * the decoding: one process would take their sum. `decoded` is the
   * decoding pass' result (its length, errors, stop at the limit); `stats`
   * the meter's summary, null when it printed none.
   */
  async function metered(filters: string[], o: PassOptions): Promise<{ decoded: PassResult; stats: LoudnessStats | null }> {
    const stop = new AbortController();
    const pcm = new PassThrough({ highWaterMark: 1 << 20 });
    const guarded = <T>(p: Promise<T>) => p.catch((e: unknown) => (stop.abort(), Promise.reject(e)));
    const settled = await Promise.allSettled([
      guarded(pass(['-af', chain([...filters, PCM_FORMAT]), '-f', 'f32le', 'pipe:1'], { ...o, stdout: pcm, signal: stop.signal })),
      guarded(runPass(tools, ['-f', 'f32le', '-ar', String(RATE), '-ac', '1', '-i', 'pipe:0', '-af', METER, '-f', 'null', '-'], { totalUs: null, stdin: pcm, signal: stop.signal })),
    ]);
    const failed = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    // The process that failed of itself, not the one it stopped.
    if (failed.length) throw failed.find((e) => !(e instanceof ToolFailure && e.kind === 'aborted')) ?? failed[0];
    const [decoded, meter] = settled.map((r) => (r as PromiseFulfilledResult<PassResult>).value) as [PassResult, PassResult];
    return { decoded, stats: parseEbur128(meter.log) };
  }

  /**
   * Pass 2, as three processes so that both cores work: ffmpeg decodes and
   * shapes (filters) into raw PCM → ffmpeg/libopus encodes to Ogg → Node
   * writes the file and hashes it, and feeds the same bytes to an ffmpeg that
   * decodes them and meters them with ebur128 (the verification). libopus is
   * the slowest stage; the others run beside it. Progress (the encoder's)
   * covers [from, to].
   */
  async function encodeAndVerify(filters: string[], out: string, [from, to]: [number, number]): Promise<Encoded> {
    const stop = new AbortController();
    const pcm = new PassThrough({ highWaterMark: 1 << 20 });
    const ogg = new PassThrough();
    const hash = createHash('sha256');
    let size = 0;
    ogg.on('data', (d: Buffer) => {
      hash.update(d);
      size += d.length;
    });
    const file = createWriteStream(out);
    ogg.pipe(file);
    const written = new Promise<void>((resolve, reject) => {
      file.on('close', resolve);
      file.on('error', (e) => {
        reject(fail('tool', `cannot write ${out}: ${e.message}`, e));
        file.destroy();
      });
    });
    // One failing stage stops the others: a stage whose reader is gone would otherwise wait forever.
    const guarded = <T>(p: Promise<T>) => p.catch((e: unknown) => (stop.abort(), Promise.reject(e)));
    const stages = [
      guarded(pass(['-af', chain([...filters, PCM_FORMAT]), '-f', 'f32le', 'pipe:1'], { totalUs, stdout: pcm, signal: stop.signal })).catch((e: unknown) => {
        throw toolFailure(e, (reason) => ['damaged', `the file could not be decoded again: ${reason}`]);
      }),
      guarded(runPass(tools, ['-f', 'f32le', '-ar', String(RATE), '-ac', '1', '-i', 'pipe:0', ...ASSET_ENCODING, ...BITEXACT, '-f', 'ogg', 'pipe:1'], {
        totalUs: decodedUs, stdin: pcm, stdout: ogg, signal: stop.signal, onFraction: progress.span(from, to),
      })).catch((e: unknown) => {
        throw toolFailure(e, (reason) => ['tool', `libopus could not encode: ${reason}`]);
      }),
      guarded(runPass(tools, ['-f', 'ogg', '-i', 'pipe:0', '-af', METER, '-f', 'null', '-'], { totalUs: null, stdin: ogg, signal: stop.signal })).catch((e: unknown) => {
        throw toolFailure(e, (reason) => ['tool', `the encoded asset does not decode: ${reason}`]);
      }),
      guarded(written),
    ] as const;
    const settled = await Promise.allSettled(stages);
    // The first stage that failed of itself, not because another one stopped it.
    const failed = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (failed.length) throw failed.find((e) => !(e instanceof LoaError && e.cause instanceof ToolFailure && e.cause.kind === 'aborted')) ?? failed[0];
    const [shaped, , verified] = settled.map((r) => (r as PromiseFulfilledResult<PassResult>).value) as [PassResult, PassResult, PassResult];
    const output = parseEbur128(verified.log);
    if (!output) throw fail('tool', 'ffmpeg ebur128 printed no summary for the encoded asset');
    return { applied: parseLoudnorm(shaped.log), output, durationMs: Math.round(verified.outTimeUs / 1000), sha256: hash.digest('hex'), size };
  }
}

/** One encoding of the ingest: what the shaping aimed at before the encoder, and what came out. */
interface Encoding extends Encoded {
  file: string;
  aim: LoudnessTarget;
  method: Method;
}

interface Encoded {
  applied: ReturnType<typeof parseLoudnorm>;
  output: LoudnessStats;
  durationMs: number;
  sha256: string;
  size: number;
}

/** The asset's sample rate: Opus' own. */
const RATE = 48_000;
/**
 * What passes between processes: float mono at RATE, as `-f f32le` writes
 * it, in frames of 16384 samples (64 KiB; the last one not padded). A decoder
 * hands out ~1200 samples at a time, and each becomes one write to the pipe
 * and one chunk for Node to pass on: 13× fewer of them halved the time Node
 * spends passing 10 minutes on (0.45 → 0.2 s of CPU).
 */
const PCM_FORMAT = `aformat=sample_fmts=flt:channel_layouts=mono:sample_rates=${RATE},asetnsamples=n=16384:p=0`;
/** No tags from the upload; bitexact: the same recording gives the same bytes (Ogg serial 0, no version strings). */
const BITEXACT = ['-map_metadata', '-1', '-fflags', '+bitexact', '-flags:a', '+bitexact'] as const;

/** Mono at 48 kHz (the asset's format, downmixed as pass 1 measured it), then the given filters. */
function chain(filters: readonly string[]): string {
  return [downmix(RATE), ...filters].join(',');
}

export type { LoudnessTarget, Method } from './ingest-loudness.js';
