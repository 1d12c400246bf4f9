import { LoaError } from '../../protocol/errors.js';
import { runPipe } from './run.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS, speedOf, voiceOf, type SynthesisOptions, type TtsEngine } from './types.js';

// Any TTS program (a neural voice such as Piper, a vendor's binary, a shell
// script): configured as an argv array, run without a shell, the text on
// stdin and a WAV expected on stdout. An argument may contain `{voice}` and
// `{speed}`, replaced by the voice name and the speed factor of the call;
// the same values are in the environment as LOA_TTS_VOICE and LOA_TTS_SPEED
// for programs that prefer it. A program that needs its own rate unit maps
// the factor itself (a wrapper script is the usual place).

export interface CommandOptions {
  /** argv: the program and its arguments. */
  command: readonly string[];
  /** Default voice, for `{voice}`; none by default. */
  voice?: string;
  /** Default speed factor (0.5–2); 1. */
  speed?: number;
  timeoutMs?: number;
  maxBytes?: number;
}

export class CommandEngine implements TtsEngine {
  readonly name = 'command';
  readonly #o: CommandOptions & { timeoutMs: number; maxBytes: number };

  constructor(opts: CommandOptions) {
    if (!Array.isArray(opts.command) || opts.command.length === 0 || !opts.command.every((a) => typeof a === 'string') || !opts.command[0]) {
      throw new LoaError('LOA_E_CONFIG_INVALID', 'the command TTS engine needs `command`: the program and its arguments as an array of strings', { context: { engine: 'command' } });
    }
    this.#o = { timeoutMs: DEFAULT_TIMEOUT_MS, maxBytes: DEFAULT_MAX_BYTES, ...opts, command: [...opts.command] };
  }

  async synthesize(text: string, opts: SynthesisOptions = {}): Promise<Buffer> {
    const given = opts.voice ?? this.#o.voice;
    const voice = given === undefined ? undefined : voiceOf(given, given, this.name);
    const speed = speedOf(opts.speed ?? this.#o.speed, this.name);
    const argv = this.#o.command.map((a) => {
      if (a.includes('{voice}') && voice === undefined) {
        throw new LoaError('LOA_E_CONFIG_INVALID', `the TTS command uses {voice} but no voice is configured or asked for`, { context: { engine: this.name } });
      }
      return a.replaceAll('{voice}', voice ?? '').replaceAll('{speed}', String(speed));
    });
    const env = { ...process.env, LOA_TTS_SPEED: String(speed), ...(voice === undefined ? {} : { LOA_TTS_VOICE: voice }) };
    return runPipe(argv, { engine: this.name, input: text, timeoutMs: this.#o.timeoutMs, maxBytes: this.#o.maxBytes, env });
  }
}
