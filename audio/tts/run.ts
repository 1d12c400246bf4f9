import { spawn } from 'node:child_process';
import { LoaError } from '../../protocol/errors.js';

// Runs a program with bytes on stdin and collects its stdout: how espeak-ng,
// a configured TTS command and ffmpeg are driven. The text goes on stdin,
// never into argv, so no text can become an option and no length limit of
// the command line applies. No shell is involved.

export interface RunOptions {
  /** Who runs it, for messages and error context ('espeak', 'command', 'ffmpeg'). */
  engine: string;
  input: Buffer | string;
  timeoutMs: number;
  /** Cap on stdout; more kills the program. */
  maxBytes: number;
  env?: NodeJS.ProcessEnv;
}

/** The last lines of stderr, enough to say why a program failed without flooding a log. */
export function stderrTail(stderr: string, maxChars = 600): string {
  const t = stderr.trim();
  return t.length > maxChars ? `…${t.slice(-maxChars)}` : t;
}

/**
 * Resolves to the program's stdout when it exits 0. Otherwise rejects with
 * LOA_E_TTS_FAILED whose message carries the exit status and stderr, and
 * whose context says why: 'spawn', 'exit', 'timeout' or 'too-large'.
 */
export function runPipe(argv: readonly string[], opts: RunOptions): Promise<Buffer> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new LoaError('LOA_E_CONFIG_INVALID', `${opts.engine}: empty command`, { context: { engine: opts.engine } }));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    let failure: { reason: string; message: string } | null = null;
    const stop = (reason: string, message: string) => {
      if (failure) return;
      failure = { reason, message };
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop('timeout', `did not finish within ${opts.timeoutMs} ms`), opts.timeoutMs);

    child.stdout.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > opts.maxBytes) return stop('too-large', `wrote more than ${opts.maxBytes} bytes`);
      out.push(d);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      // Keep only the tail: a chatty program must not grow this without bound.
      stderr = (stderr + d).slice(-8192);
    });
    // A program that exits without reading all its input closes the pipe
    // (EPIPE): its exit status says what happened, not this.
    child.stdin.on('error', () => {});
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new LoaError('LOA_E_TTS_FAILED', `${opts.engine}: cannot run ${file}: ${e.message}`, { cause: e, context: { engine: opts.engine, command: file, reason: 'spawn' } }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const tail = stderrTail(stderr);
      const f = failure as { reason: string; message: string } | null;
      if (f) {
        return reject(new LoaError('LOA_E_TTS_FAILED', `${opts.engine}: ${file} ${f.message}${tail ? `; stderr: ${tail}` : ''}`, { context: { engine: opts.engine, command: file, reason: f.reason, stderr: tail } }));
      }
      if (code !== 0) {
        const status = signal ? `was killed by ${signal}` : `exited with status ${code}`;
        return reject(new LoaError('LOA_E_TTS_FAILED', `${opts.engine}: ${file} ${status}${tail ? `: ${tail}` : ' (nothing on stderr)'}`, { context: { engine: opts.engine, command: file, reason: 'exit', status: code, signal, stderr: tail } }));
      }
      resolve(Buffer.concat(out));
    });
    child.stdin.end(opts.input);
  });
}
