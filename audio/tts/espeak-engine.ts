import { runPipe } from './run.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS, speedOf, voiceOf, type SynthesisOptions, type TtsEngine } from './types.js';

// espeak-ng, the offline default: robotic, but it speaks Vietnamese on any
// machine with the Debian package and no network. Its `vi` voice is the
// northern one; `vi-vn-x-central` and `vi-vn-x-south` exist too.

export interface EspeakOptions {
  /** Program to run; default `espeak-ng` on PATH. */
  binary?: string;
  /** Default voice; 'vi'. */
  voice?: string;
  /** Default speed factor (0.5–2); 1. */
  speed?: number;
  timeoutMs?: number;
  maxBytes?: number;
}

/**
 * Words per minute at speed factor 1. espeak-ng's own default is 175; 150
 * is what the shipped clips and the demo use: outdoor loudspeakers echo
 * between villages, and a slower voice stays intelligible.
 */
export const ESPEAK_WPM = 150;
// espeak-ng accepts 80–450 words per minute.
const WPM_MIN = 80;
const WPM_MAX = 450;

/** espeak-ng's -s value for a speed factor. */
export function espeakWpm(speed: number): number {
  return Math.min(WPM_MAX, Math.max(WPM_MIN, Math.round(ESPEAK_WPM * speed)));
}

export class EspeakEngine implements TtsEngine {
  readonly name = 'espeak';
  readonly #o: Required<EspeakOptions>;

  constructor(opts: EspeakOptions = {}) {
    this.#o = { binary: 'espeak-ng', voice: 'vi', speed: 1, timeoutMs: DEFAULT_TIMEOUT_MS, maxBytes: DEFAULT_MAX_BYTES, ...opts };
  }

  async synthesize(text: string, opts: SynthesisOptions = {}): Promise<Buffer> {
    const voice = voiceOf(opts.voice ?? this.#o.voice, 'vi', this.name);
    const wpm = espeakWpm(speedOf(opts.speed ?? this.#o.speed, this.name));
    // -b 1: the input is UTF-8. --stdin: the text comes on stdin, whatever it holds.
    const argv = [this.#o.binary, '-v', voice, '-s', String(wpm), '-b', '1', '--stdout', '--stdin'];
    return runPipe(argv, { engine: this.name, input: text, timeoutMs: this.#o.timeoutMs, maxBytes: this.#o.maxBytes });
  }
}
