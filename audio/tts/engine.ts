import { LoaError, isLoaError } from '../../protocol/errors.js';
import { CommandEngine } from './command-engine.js';
import { EspeakEngine } from './espeak-engine.js';
import { HttpEngine } from './http-engine.js';
import { normalizeVietnamese, type NormalizeOptions } from './normalize-vi.js';
import { SPEED_MAX, SPEED_MIN, VOICE_PATTERN, type SynthesisOptions, type TtsEngine } from './types.js';
import { parseWav, sealWav } from './wav.js';

// The TTS entry points: an engine built from config, and textToSpeech =
// normalise, synthesise, check the WAV. Building an engine does no I/O; the
// first synthesize() is the first time a program runs or a URL is called.

export type { SynthesisOptions, TtsEngine } from './types.js';
export { CommandEngine } from './command-engine.js';
export { EspeakEngine } from './espeak-engine.js';
export { HttpEngine } from './http-engine.js';

export interface TtsConfig {
  engine: 'espeak' | 'command' | 'http';
  /** command: the program and its arguments (`{voice}`, `{speed}` are filled in). */
  command?: string[];
  /** http: where to POST `{ text, voice, speed }`. */
  url?: string;
  /** Per synthesis; default 60 s. */
  timeoutMs?: number;
  /** Cap on the returned WAV; default 64 MiB. */
  maxBytes?: number;
  voice?: string;
  /** Speaking rate factor, 0.5–2 (1 = normal). */
  speed?: number;
  /** espeak: the program; default `espeak-ng`. */
  binary?: string;
  /** http: extra request headers. */
  headers?: Record<string, string>;
}

const KEYS = new Set(['engine', 'command', 'url', 'timeoutMs', 'maxBytes', 'voice', 'speed', 'binary', 'headers']);
const isPositiveInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** Every problem with a TTS config, in words a config file's author can act on; empty when it is fine. */
export function ttsConfigProblems(config: unknown): string[] {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return ['tts config must be an object'];
  const c = config as Record<string, unknown>;
  const p: string[] = [];
  for (const k of Object.keys(c)) if (!KEYS.has(k)) p.push(`tts.${k} is not a setting (known: ${[...KEYS].join(', ')})`);
  if (c.engine !== 'espeak' && c.engine !== 'command' && c.engine !== 'http') p.push(`tts.engine must be "espeak", "command" or "http", not ${JSON.stringify(c.engine)}`);
  if (c.engine === 'command' && !(Array.isArray(c.command) && c.command.length > 0 && c.command.every((a) => typeof a === 'string') && c.command[0])) {
    p.push('tts.command must be the program and its arguments as a non-empty array of strings, e.g. ["piper", "--model", "vi.onnx", "--output_file", "-"]');
  }
  if (c.engine === 'http') {
    let ok = false;
    try {
      ok = typeof c.url === 'string' && ['http:', 'https:'].includes(new URL(c.url).protocol);
    } catch {
      ok = false;
    }
    if (!ok) p.push(`tts.url must be an http:// or https:// URL, not ${JSON.stringify(c.url)}`);
  }
  if (c.timeoutMs !== undefined && !isPositiveInt(c.timeoutMs)) p.push('tts.timeoutMs must be a positive whole number of milliseconds');
  if (c.maxBytes !== undefined && !isPositiveInt(c.maxBytes)) p.push('tts.maxBytes must be a positive whole number of bytes');
  if (c.voice !== undefined && !(typeof c.voice === 'string' && VOICE_PATTERN.test(c.voice))) p.push(`tts.voice ${JSON.stringify(c.voice)} is not a voice name (letters, digits, _ . + -, not starting with -)`);
  if (c.speed !== undefined && !(typeof c.speed === 'number' && c.speed >= SPEED_MIN && c.speed <= SPEED_MAX)) p.push(`tts.speed must be a factor from ${SPEED_MIN} to ${SPEED_MAX} (1 = normal pace), not ${JSON.stringify(c.speed)}`);
  if (c.binary !== undefined && !(typeof c.binary === 'string' && c.binary !== '')) p.push('tts.binary must be a program name or path');
  if (c.headers !== undefined && !(typeof c.headers === 'object' && c.headers !== null && Object.values(c.headers).every((v) => typeof v === 'string'))) p.push('tts.headers must be an object of strings');
  return p;
}

/** Builds the configured engine; throws LOA_E_CONFIG_INVALID listing every problem. */
export function createTtsEngine(config: TtsConfig): TtsEngine {
  const problems = ttsConfigProblems(config);
  if (problems.length) throw new LoaError('LOA_E_CONFIG_INVALID', `TTS config is invalid:\n  - ${problems.join('\n  - ')}`, { context: { problems } });
  const common = { voice: config.voice, speed: config.speed, timeoutMs: config.timeoutMs, maxBytes: config.maxBytes };
  // Leave out what is not set, so the engines' defaults apply.
  const given = Object.fromEntries(Object.entries(common).filter(([, v]) => v !== undefined)) as typeof common;
  switch (config.engine) {
    case 'espeak':
      return new EspeakEngine({ ...given, ...(config.binary ? { binary: config.binary } : {}) });
    case 'command':
      return new CommandEngine({ ...given, command: config.command! });
    case 'http':
      return new HttpEngine({ ...given, url: config.url!, ...(config.headers ? { headers: config.headers } : {}) });
  }
}

export interface TextToSpeechOptions extends SynthesisOptions {
  engine: TtsEngine;
  /** Options of the Vietnamese normalisation; false sends the text as it is. */
  normalize?: NormalizeOptions | false;
}

/**
 * Normalises Vietnamese `text` (audio/tts/normalize-vi.ts), has the engine
 * speak it, and checks that the answer is a WAV with sound in it. Resolves
 * to the WAV with its sizes written out (an engine writing to a pipe leaves
 * placeholders). Failures are LOA_E_TTS_FAILED naming the engine.
 */
export async function textToSpeech(text: string, opts: TextToSpeechOptions): Promise<Buffer> {
  const { engine } = opts;
  const spoken = opts.normalize === false ? text.normalize('NFC') : normalizeVietnamese(text, opts.normalize ?? {});
  if (spoken.trim() === '') throw new LoaError('LOA_E_TTS_FAILED', 'nothing to say: the TTS text is empty', { context: { engine: engine.name, reason: 'empty-text' } });
  const synthesis: SynthesisOptions = {};
  if (opts.voice !== undefined) synthesis.voice = opts.voice;
  if (opts.speed !== undefined) synthesis.speed = opts.speed;
  const wav = await engine.synthesize(spoken, synthesis);
  try {
    const info = parseWav(wav);
    if (info.dataBytes === 0) throw new LoaError('LOA_E_TTS_FAILED', 'the WAV holds no samples', { context: { reason: 'no-audio' } });
    return sealWav(wav);
  } catch (e) {
    if (!isLoaError(e)) throw e;
    throw new LoaError('LOA_E_TTS_FAILED', `TTS engine ${engine.name} returned ${wav.length} bytes that cannot be used: ${e.message}`, { cause: e, context: { ...e.context, engine: engine.name, bytes: wav.length } });
  }
}
