// The loudness arithmetic of the ingest (audio/ingest.ts): reading what
// ffmpeg's `loudnorm` and `ebur128` filters print, deciding how a recording
// reaches the target, and the filter strings that do it. Pure: no processes,
// no files. Figures quoted were measured with Debian's ffmpeg 5.1.
//
// Why not just loudnorm's two passes? loudnorm's second pass is linear (one
// gain for the whole file) only when that gain keeps the true peak under the
// target and the loudness range is within the target (af_loudnorm.c,
// config_input). Otherwise it silently switches to its dynamic mode, which on
// speech misses the integrated target: espeak-ng speech came out at -17.3
// LUFS for -16 (its limiter eats the loudness its 3 s gain control adds) and a
// programme with a 12.8 LU range at -18.3. Speech brought to -16 LUFS mostly
// has peaks too high for one gain (15–20 dB above its loudness, where 14.5 are
// allowed), so this is the common case. So linear=true stays, and when the
// measured values would make loudnorm fall back, the file first takes a gain
// and a lookahead limiter (plus, for a wide range, loudnorm's range control),
// whose result is measured (a cheap ebur128 pass at 48 kHz) and then
// normalised linearly by loudnorm like any other.

/** Loudness target of a province asset (EBU R128 as loudnorm applies it). */
export interface LoudnessTarget {
  /** Integrated loudness, LUFS. */
  I: number;
  /** Maximum true peak, dBTP. */
  TP: number;
  /** Loudness range, LU: wider programmes are compressed to it. */
  LRA: number;
}

/** What a measurement says about a signal. `thresh` is the relative gate (LUFS) that loudnorm wants back as measured_thresh. */
export interface LoudnessStats {
  I: number;
  TP: number;
  LRA: number;
  thresh: number;
}

export interface LoudnormReport extends LoudnessStats {
  /** The mode loudnorm ran in. */
  type: 'linear' | 'dynamic';
  /** The true peak of its output, as its own meter (4× oversampled) read it; NaN when not printed. */
  outputTP: number;
}

/** ffmpeg prints -inf/inf for silence; JSON.parse cannot, Number() cannot either. */
function num(s: string | undefined): number {
  if (s === undefined) return NaN;
  const t = s.trim();
  if (/^[+-]?inf$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  return Number(t);
}

/**
 * The JSON block loudnorm prints at the end (print_format=json). Its lines
 * may carry log prefixes, and its numbers may be "-inf", so the fields are
 * read one by one rather than with JSON.parse. Null when there is none.
 */
export function parseLoudnorm(log: string): LoudnormReport | null {
  const at = log.lastIndexOf('"input_i"');
  if (at < 0) return null;
  const end = log.indexOf('}', at);
  const block = log.slice(at, end < 0 ? undefined : end);
  const field = (k: string) => new RegExp(`"${k}"\\s*:\\s*"([^"]*)"`).exec(block)?.[1];
  const type = field('normalization_type');
  const r: LoudnormReport = {
    I: num(field('input_i')),
    TP: num(field('input_tp')),
    LRA: num(field('input_lra')),
    thresh: num(field('input_thresh')),
    type: type === 'linear' ? 'linear' : 'dynamic',
    outputTP: num(field('output_tp')),
  };
  return [r.I, r.TP, r.LRA, r.thresh].some(Number.isNaN) ? null : r;
}

/** EBU R128's absolute gate: blocks quieter than this are not measured. */
const ABSOLUTE_GATE_LUFS = -70;

/**
 * The summary the ebur128 filter prints when it ends (with peak=true):
 * integrated loudness and its gate, the loudness range, the true peak. One
 * decimal, as ebur128 prints it. Null when there is none.
 */
export function parseEbur128(log: string): LoudnessStats | null {
  const at = log.lastIndexOf('Summary:');
  if (at < 0) return null;
  const s = log.slice(at);
  const v = '([+-]?(?:inf|[\\d.]+))';
  const integrated = new RegExp(`Integrated loudness:\\s+I:\\s+${v} LUFS\\s+Threshold:\\s+${v} LUFS`).exec(s);
  const lra = new RegExp(`Loudness range:\\s+LRA:\\s+${v} LU`).exec(s);
  const peak = new RegExp(`True peak:\\s+Peak:\\s+${v} dBFS`).exec(s);
  if (!integrated || !lra || !peak) return null;
  // ebur128 prints -70.0 (its absolute gate) when no block passes the gate:
  // nothing to measure, as loudnorm says with -inf.
  const I = num(integrated[1]);
  return { I: I <= ABSOLUTE_GATE_LUFS ? -Infinity : I, thresh: num(integrated[2]), LRA: num(lra[1]), TP: num(peak[1]) };
}

// loudnorm's options use 0 (measured_I, measured_LRA), -70 (measured_thresh)
// and 99 (measured_TP) to mean "not given" (af_loudnorm.c). A real
// measurement can round to one of them (a steady tone has LRA 0.00); it is
// nudged by 0.01, less than the measurement's own precision, so loudnorm
// takes it as given.
const notSentinel = (v: number, sentinel: number) => (v === sentinel ? sentinel - 0.01 : v);
const fixed = (v: number) => v.toFixed(2);

/** loudnorm's measured_* options for stats, within the ranges loudnorm accepts, or null when it cannot take them. */
function measuredOptions(m: LoudnessStats): { I: number; TP: number; LRA: number; thresh: number } | null {
  const r = { I: notSentinel(m.I, 0), TP: m.TP, LRA: m.LRA === 0 ? 0.01 : m.LRA, thresh: notSentinel(m.thresh, -70) };
  const within = r.I >= -99 && r.I < 0 && r.TP >= -99 && r.TP < 99 && r.LRA > 0 && r.LRA <= 99 && r.thresh >= -99 && r.thresh <= 0;
  return within ? r : null;
}

/**
 * loudnorm compares in floating point the values it was handed with two
 * decimals: a peak landing on the ceiling exactly (-4.00 + 0.30 for -3.70)
 * can come out a hair over it, and loudnorm then silently runs dynamically.
 * Being linear is only claimed with this much room.
 */
const LINEAR_ROOM_DB = 0.02;

/**
 * Whether loudnorm, given these measured values, normalises linearly; the
 * same test as af_loudnorm.c (config_input): the gain to the target must keep
 * the true peak at or under the target (with LINEAR_ROOM_DB to spare), and
 * the range within the target.
 */
export function linearAccepted(m: LoudnessStats, t: LoudnessTarget): boolean {
  const o = measuredOptions(m);
  return o !== null && o.TP + (t.I - o.I) <= t.TP - LINEAR_ROOM_DB && o.LRA <= t.LRA;
}

/**
 * Mono at `rate`, in one resampler with float output. The mono signal is what
 * is measured and encoded, so every pass must downmix alike: libswresample
 * scales its stereo→mono matrix to 0.5 + 0.5 when it outputs integers (as it
 * may for a FLAC or WAV source) and keeps 0.707 + 0.707 for floats, 3 dB
 * apart. With float output, dual-mono stereo (a mono microphone recorded on
 * two channels) keeps its loudness. (`ochl`: ffmpeg ≥ 5.1.)
 */
export function downmix(rate: number): string {
  return `aresample=${rate}:ochl=mono:osf=flt`;
}

/**
 * The meter of every measuring pass (pass 1, calibration, verification):
 * ffmpeg's EBU R128 meter, ebur128, on mono at 48 kHz (the asset's rate),
 * with its true peak (it oversamples 4× for that itself). It reads what
 * loudnorm's first pass reads (integrated loudness, its relative gate,
 * loudness range, true peak: the same BS.1770 meter) and agreed with
 * loudnorm on every test fixture and the bench's programme to within its 0.1
 * print precision for I, TP and the gate; LRA, which only chooses the route,
 * within 0.2 LU on long programmes (on a 5 s sentence 0.9 against 0.3: both
 * are "no range"). But loudnorm meters at 192 kHz, all of its input
 * resampled 4× before anything else: 4.8 s of CPU for 10 minutes, where
 * ebur128 at 48 kHz takes 2.0 s (decoding included). loudnorm still applies
 * the normalisation (pass 2), with these values. framelog=verbose: at the
 * default level ebur128 logs a line every 100 ms (1 MB for 10 minutes),
 * which Node would read only to drop; the summary is printed all the same.
 */
export const METER = 'ebur128=peak=true:framelog=verbose';

/**
 * The loudnorm filter of the encoding pass: linear, with the values measured
 * on exactly the signal it receives. The caller makes sure linearAccepted()
 * holds for `t`.
 */
export function linearFilter(m: LoudnessStats, t: LoudnessTarget): string {
  const o = measuredOptions(m);
  if (!o) throw new RangeError(`loudnorm cannot take these measurements: ${JSON.stringify(m)}`);
  // (LRA: loudnorm takes targets up to 50 LU; a range that wide makes it run dynamically, which the result then says.)
  return `loudnorm=I=${fixed(t.I)}:TP=${fixed(t.TP)}:LRA=${fixed(Math.min(50, t.LRA))}:measured_I=${fixed(o.I)}:measured_TP=${fixed(o.TP)}:measured_LRA=${fixed(o.LRA)}:measured_thresh=${fixed(o.thresh)}:linear=true:print_format=json`;
}

// --- the way to the target ---------------------------------------------------

/**
 * The lookahead limiter's ceiling sits this far under the true-peak target:
 * alimiter holds sample peaks at 48 kHz, and true peaks (4× oversampled) came
 * out 0.1–0.2 dB above them on speech; the rest is room for the final linear
 * gain to go up a little.
 */
export const LIMITER_HEADROOM_DB = 1;
/** At most this many measuring passes to find the gain ahead of the limiter. */
export const MAX_CALIBRATIONS = 3;
/** Aim a little above the target, so the final linear gain is mostly a cut (peaks only go down). */
const AIM_ABOVE_DB = 0.3;
/** More than this above the target after the limiter means it limited needlessly hard: try less gain. */
const OVERSHOOT_DB = 1.5;
/** How much louder the limited signal gets per dB of gain into the limiter, before there are two points to tell: espeak-ng speech, the peakiest source we have, gives about 0.5. */
const FIRST_SLOPE = 0.5;

export type Method = 'linear' | 'limited' | 'range-compressed';

export interface Route {
  method: Method;
  /** Gain (dB) ahead of the limiter, for 'limited' and 'range-compressed'. */
  gainDb: number;
}

/**
 * How a measured input reaches the target, and the first gain to try ahead
 * of the limiter: the gain to the target, plus half of what the peaks would
 * then exceed the limiter's ceiling by (about what limiting them costs).
 */
export function route(m: LoudnessStats, t: LoudnessTarget): Route {
  if (linearAccepted(m, t)) return { method: 'linear', gainDb: 0 };
  const gain = t.I - m.I;
  const makeUp = Math.max(0, m.TP + gain - limiterCeilingDb(t)) * FIRST_SLOPE;
  // With range control first, loudnorm's dynamic mode already brings the
  // loudness near the target: only what the limiting costs is left.
  if (m.LRA > t.LRA) return { method: 'range-compressed', gainDb: makeUp };
  return { method: 'limited', gainDb: gain + makeUp };
}

export const limiterCeilingDb = (t: LoudnessTarget) => t.TP - LIMITER_HEADROOM_DB;

export interface Calibration {
  gainDb: number;
  /** Measured on the shaped signal (range control, gain, limiter): what the final loudnorm receives. */
  stats: LoudnessStats;
}

/**
 * The target the final linear pass works to for a calibrated signal. The
 * shaping has already dealt with the range (range control when the input was
 * wider than the target; a limiter does not widen it), so the LRA target is
 * raised to what is left, which loudnorm would otherwise refuse over a
 * fraction of an LU. And when even the chosen calibration is too quiet for
 * the peaks to allow the full gain, I is as loud as the true-peak target
 * allows: loudnorm stays linear and the shortfall shows in the measured
 * output, rather than in a silent switch to its dynamic mode.
 */
export function finalTarget(c: Calibration, t: LoudnessTarget): LoudnessTarget {
  const wide = { ...t, LRA: Math.max(t.LRA, c.stats.LRA) };
  if (linearAccepted(c.stats, wide)) return wide;
  return { ...wide, I: Math.min(t.I, c.stats.I + (t.TP - c.stats.TP) - 2 * LINEAR_ROOM_DB) };
}

/** A calibration the final linear gain can finish: loudnorm takes it linearly to the target, and it is not limited much harder than needed. */
export function good(c: Calibration, t: LoudnessTarget): boolean {
  return linearAccepted(c.stats, { ...t, LRA: Math.max(t.LRA, c.stats.LRA) }) && c.stats.I <= t.I + OVERSHOOT_DB;
}

/**
 * The next gain to try ahead of the limiter, from the calibrations so far
 * (the secant through the last two, or the first-guess slope), aiming a
 * little above the target; null when the last one will do or no tries are left.
 */
export function nextGain(tried: readonly Calibration[], t: LoudnessTarget): number | null {
  const last = tried.at(-1);
  if (!last || good(last, t) || tried.length >= MAX_CALIBRATIONS) return null;
  const prev = tried.at(-2);
  let slope = FIRST_SLOPE;
  if (prev && last.gainDb !== prev.gainDb) slope = (last.stats.I - prev.stats.I) / (last.gainDb - prev.gainDb);
  slope = Math.min(1, Math.max(0.1, Number.isFinite(slope) ? slope : FIRST_SLOPE));
  return last.gainDb + (t.I + AIM_ABOVE_DB - last.stats.I) / slope;
}

/** The calibration to encode with once the tries are over: a good one, else the one closest to the target. */
export function best(tried: readonly Calibration[], t: LoudnessTarget): Calibration {
  const ok = tried.filter((c) => good(c, t));
  const pool = ok.length ? ok : tried;
  const first = pool[0];
  if (!first) throw new RangeError('no calibration to choose from');
  return pool.reduce((a, c) => (Math.abs(c.stats.I - t.I) < Math.abs(a.stats.I - t.I) ? c : a), first);
}

/** The filters ahead of the final loudnorm for a route and gain: range control, gain, limiter. */
export function shapingFilters(r: Method, gainDb: number, m: LoudnessStats, t: LoudnessTarget): string[] {
  if (r === 'linear') return [];
  const ceiling = 10 ** (limiterCeilingDb(t) / 20);
  const limiter = [`volume=${gainDb.toFixed(2)}dB`, `alimiter=limit=${ceiling.toFixed(4)}:attack=5:release=50:level=false:latency=true`];
  if (r === 'limited') return limiter;
  // Range control: loudnorm in dynamic mode (it runs at 192 kHz), with its
  // true-peak ceiling at 0 dBTP since the limiter after it holds the real one.
  const o = measuredOptions(m);
  const measured = o ? `:measured_I=${fixed(o.I)}:measured_TP=${fixed(o.TP)}:measured_LRA=${fixed(o.LRA)}:measured_thresh=${fixed(o.thresh)}` : '';
  return [`loudnorm=I=${fixed(t.I)}:TP=0:LRA=${fixed(t.LRA)}${measured}:linear=false`, downmix(48_000), ...limiter];
}

// --- what the encoder does to it -------------------------------------------

/** A decoded asset further than this from the target (LU) is encoded again with the codec's loss made up. */
export const CODEC_TOLERANCE_LU = 0.5;
/** At most this many encodings (each shaped for a corrected aim) to keep the target as decoded. */
export const MAX_ENCODINGS = 3;
/**
 * Beyond the overshoot measured, the ceiling goes this much lower for the
 * next encoding: the overshoot itself shifts a little with the shaping (a
 * harder-limited signal gives the codec other peaks), and ebur128 prints
 * one decimal.
 */
export const OVERSHOOT_MARGIN_DB = 0.3;

/** Whether a decoded asset keeps the target: true peak at or under it, integrated loudness within CODEC_TOLERANCE_LU. */
export function meetsTarget(out: LoudnessStats, t: LoudnessTarget): boolean {
  return out.TP <= t.TP && Math.abs(out.I - t.I) <= CODEC_TOLERANCE_LU;
}

/**
 * What to shape for before the next encoding, from what the last one aimed
 * at (`aim`), the true peak it handed the encoder (`fedTP`, loudnorm's
 * output; NaN when unknown: then taken as the aim's ceiling) and what it
 * decoded to (`out`). A peak over the target lowers the ceiling to the
 * target less the codec's overshoot (out.TP - fedTP) and a margin;
 * loudness further off than the tolerance
 * moves the aim by what the codec took or added. Kept within what loudnorm
 * accepts.
 */
export function nextAim(aim: LoudnessTarget, fedTP: number, out: LoudnessStats, t: LoudnessTarget): LoudnessTarget {
  let TP = aim.TP;
  if (out.TP > t.TP) {
    // The peak handed on is at most the aim's ceiling, so the new ceiling is always a margin under the last one.
    const overshoot = out.TP - (Number.isFinite(fedTP) ? Math.min(fedTP, aim.TP) : aim.TP);
    TP = t.TP - overshoot - OVERSHOOT_MARGIN_DB;
  }
  const off = t.I - out.I;
  const I = Math.abs(off) > CODEC_TOLERANCE_LU ? aim.I + off : aim.I;
  const round = (v: number) => Math.round(v * 100) / 100;
  // loudnorm's ranges (af_loudnorm.c): I -70…-5, TP -9…0.
  return { ...aim, I: round(Math.min(-5, Math.max(-70, I))), TP: round(Math.min(0, Math.max(-9, TP))) };
}

/**
 * The encoding to keep: the first that keeps the target; else, of those
 * under the true-peak ceiling (a ceiling the loudspeakers' amplifiers are
 * set for), the one nearest the loudness target; else the lowest peak.
 */
export function bestEncoding<E extends { output: LoudnessStats }>(tried: readonly E[], t: LoudnessTarget): E {
  const first = tried[0];
  if (!first) throw new RangeError('no encoding to choose from');
  const ok = tried.find((e) => meetsTarget(e.output, t));
  if (ok) return ok;
  const under = tried.filter((e) => e.output.TP <= t.TP);
  if (under.length) return under.reduce((a, e) => (Math.abs(e.output.I - t.I) < Math.abs(a.output.I - t.I) ? e : a));
  return tried.reduce((a, e) => (e.output.TP < a.output.TP ? e : a), first);
}
