import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { ProbeJson } from './ingest-source.js';

// The ingest's adapter to ffprobe and ffmpeg (audio/ingest.ts). Processes are
// spawned directly, not through fluent-ffmpeg: a pass needs an exact argument
// list (-progress on stdout, level-tagged logs on stderr), and fluent-ffmpeg's
// progress events would run an extra ffprobe for every pass.

export interface Tools {
  ffmpeg: string;
  ffprobe: string;
}

/** `ffmpeg`/`ffprobe` on PATH, or FFMPEG_PATH/FFPROBE_PATH as fluent-ffmpeg reads them. */
export const defaultTools = (): Tools => ({ ffmpeg: process.env.FFMPEG_PATH || 'ffmpeg', ffprobe: process.env.FFPROBE_PATH || 'ffprobe' });

/**
 * A tool that could not be started, exited non-zero, was killed by a signal
 * it was not sent by us (the OOM killer, an operator: `signal` says which;
 * not the input's fault), stopped making progress, or was stopped. `reason`
 * is its own words where it gave any.
 */
export class ToolFailure extends Error {
  constructor(
    readonly kind: 'spawn' | 'exit' | 'killed' | 'stalled' | 'aborted',
    readonly reason: string,
    readonly tool: 'ffmpeg' | 'ffprobe',
    readonly signal: NodeJS.Signals | null = null,
  ) {
    super(reason);
    this.name = 'ToolFailure';
  }
}

const killed = (tool: 'ffmpeg' | 'ffprobe', signal: NodeJS.Signals) => new ToolFailure('killed', `${tool} was killed by ${signal}`, tool, signal);

/** The message of a level-tagged log line ("[mp3 @ 0x55…] [error] Header missing" → "Header missing"), or null if it is not an error. */
export function errorLine(line: string): string | null {
  const m = /^(?:\[[^\]]*@[^\]]*\] )?\[(error|fatal|panic)\] (.*)$/.exec(line.trim());
  return m?.[2]?.trim() || null;
}

// Lines that say that something failed, not what: a reason quotes the first
// other error when there is one.
const GENERIC = /^(Conversion failed!?|Error while (decoding|processing|filtering)\b.*|Error reinitializing filters!?|Failed to inject frame.*|Nothing was written into output file.*)$/;

/** The most telling of a run's error lines. */
export function reasonOf(errors: readonly string[], fallback: string): string {
  return errors.find((e) => !GENERIC.test(e)) ?? errors[0] ?? fallback;
}

const LOG_TAIL_CHARS = 64 * 1024;
const MAX_ERRORS = 10;

export interface ProbeOutput {
  json: ProbeJson;
  /** ffprobe's stderr at level warning (e.g. "Estimating duration from bitrate"). */
  warnings: string;
}

/**
 * `ffprobe -show_format -show_streams` as JSON. Rejects with ToolFailure
 * ('exit') when it cannot read the file; the reason is its first error line,
 * which names the problem ("moov atom not found") where the last one is
 * generic ("Invalid data found when processing input").
 */
export function probe(tools: Tools, file: string, timeoutMs = 30_000): Promise<ProbeOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(tools.ffprobe, ['-loglevel', 'level+warning', '-of', 'json', '-show_format', '-show_streams', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-LOG_TAIL_CHARS)));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ToolFailure('spawn', `cannot run ${tools.ffprobe}: ${e.message}`, 'ffprobe'));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return reject(new ToolFailure('stalled', `ffprobe did not finish within ${timeoutMs / 1000} s`, 'ffprobe'));
      if (signal) return reject(killed('ffprobe', signal));
      const errors = err.split('\n').flatMap((l) => errorLine(l) ?? []);
      if (code !== 0) return reject(new ToolFailure('exit', errors[0] ?? `ffprobe exited with ${code}`, 'ffprobe'));
      try {
        resolve({ json: JSON.parse(out) as ProbeJson, warnings: err });
      } catch {
        reject(new ToolFailure('exit', 'ffprobe printed no readable description', 'ffprobe'));
      }
    });
  });
}

export interface PassOptions {
  /** Expected length of the pass's output (µs), to turn its progress into fractions; null when unknown. */
  totalUs: number | null;
  onFraction?: (fraction: number) => void;
  /** Stop ffmpeg (and report `stoppedAtLimit`) once its output is longer than this (µs). */
  limitUs?: number;
  /** Kill ffmpeg when it reports no progress for this long. */
  stallMs?: number;
  /** Piped into ffmpeg's stdin (for an input "pipe:0"). */
  stdin?: Readable;
  /** ffmpeg's stdout (an output "pipe:1") is piped here, ending it; progress then comes on fd 3. */
  stdout?: Writable;
  /** Kills ffmpeg; the pass then rejects with ToolFailure('aborted'). */
  signal?: AbortSignal;
}

export interface PassResult {
  /** The last 64 KiB of stderr: filters print their summaries (loudnorm's JSON, ebur128's) there when they end. */
  log: string;
  /** The first error lines (untagged messages), in order. */
  errors: string[];
  /** Length of the output written (µs), from -progress: for a decoding pass, how much audio could be decoded. */
  outTimeUs: number;
  stoppedAtLimit: boolean;
}

/**
 * Runs one ffmpeg pass to its end: resolves when ffmpeg exits 0 (or was
 * stopped at `limitUs`), rejects with ToolFailure otherwise. The promise
 * settles only after the process has exited, so the caller may remove what
 * it was writing.
 */
export function runPass(tools: Tools, args: readonly string[], opts: PassOptions): Promise<PassResult> {
  const progressFd = opts.stdout ? 3 : 1;
  const argv = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'level+info', '-progress', `pipe:${progressFd}`, '-stats_period', '0.25', ...args];
  if (opts.stdin) argv.splice(argv.indexOf('-nostdin'), 1);
  return new Promise((resolve, reject) => {
    const child = spawn(tools.ffmpeg, argv, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', ...(opts.stdout ? ['pipe' as const] : [])] });
    let log = '';
    let partial = '';
    let progress = '';
    const errors: string[] = [];
    let outTimeUs = 0;
    let stopped: 'limit' | 'stalled' | 'aborted' | null = null;
    const stallMs = opts.stallMs ?? 60_000;
    const stop = (why: NonNullable<typeof stopped>) => {
      stopped ??= why;
      child.kill('SIGKILL');
    };
    let watchdog = setTimeout(() => stop('stalled'), stallMs);
    const onAbort = () => stop('aborted');
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    if (opts.stdin && child.stdin) {
      // ffmpeg may exit before it has read everything (it failed, or was
      // stopped): the pipe then breaks (EPIPE); its exit says what happened.
      child.stdin.on('error', () => {});
      opts.stdin.pipe(child.stdin);
    }
    // INVARIANT: a process that has ended reads nothing more, so what is
    // still coming for it is drained, not held. Held, it would fill the pipe
    // from the process before this one (opts.stdin is that one's stdout):
    // Node then stops reading that process' output, never reads its end, and
    // its 'close' (which this promise waits for, as the caller does) never
    // comes, even once it has been killed — an ingest waiting for ever.
    const release = () => {
      if (!opts.stdin) return;
      if (child.stdin) opts.stdin.unpipe(child.stdin);
      opts.stdin.resume();
    };
    child.on('exit', release);
    if (opts.stdout) child.stdout?.pipe(opts.stdout);
    const progressStream = child.stdio[progressFd] as Readable;
    progressStream.setEncoding('utf8').on('data', (d: string) => {
      progress += d;
      let i;
      while ((i = progress.indexOf('\n')) >= 0) {
        const line = progress.slice(0, i);
        progress = progress.slice(i + 1);
        const m = /^out_time_us=(\d+)$/.exec(line.trim());
        if (!m) continue;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => stop('stalled'), stallMs);
        outTimeUs = Math.max(outTimeUs, Number(m[1]));
        if (opts.limitUs !== undefined && outTimeUs > opts.limitUs) stop('limit');
        if (opts.totalUs && opts.onFraction) opts.onFraction(Math.min(1, outTimeUs / opts.totalUs));
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      log = (log + d).slice(-LOG_TAIL_CHARS);
      partial += d;
      const lines = partial.split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const l of lines) {
        const e = errors.length < MAX_ERRORS ? errorLine(l) : null;
        if (e) errors.push(e);
      }
    });
    const done = () => {
      clearTimeout(watchdog);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (e) => {
      done();
      release();
      reject(new ToolFailure('spawn', `cannot run ${tools.ffmpeg}: ${e.message}`, 'ffmpeg'));
    });
    child.on('close', (code, signal) => {
      done();
      const last = errorLine(partial);
      if (last && errors.length < MAX_ERRORS) errors.push(last);
      const result = { log, errors, outTimeUs, stoppedAtLimit: stopped === 'limit' };
      if (stopped === 'limit') return resolve(result);
      if (stopped === 'stalled') return reject(new ToolFailure('stalled', `ffmpeg made no progress for ${stallMs / 1000} s`, 'ffmpeg'));
      if (stopped === 'aborted') return reject(new ToolFailure('aborted', 'ffmpeg was stopped', 'ffmpeg'));
      if (signal) return reject(killed('ffmpeg', signal));
      if (code !== 0) return reject(new ToolFailure('exit', reasonOf(errors, `ffmpeg exited with ${code}`), 'ffmpeg'));
      resolve(result);
    });
  });
}
