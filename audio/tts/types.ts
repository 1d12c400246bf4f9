import { LoaError } from '../../protocol/errors.js';

// The one interface every TTS engine implements, and the rules all of them
// share. Engines: EspeakEngine (espeak-ng, offline, the default),
// CommandEngine (any program: text on stdin, WAV on stdout), HttpEngine (a
// TTS service over HTTP). They live in their own files; this one imports none.

export interface SynthesisOptions {
  /** Engine-specific voice name; each engine has its default ('vi' for espeak-ng). */
  voice?: string;
  /**
   * Speaking rate as a factor of the engine's normal pace: 1 is normal, 0.5
   * half as fast, 2 twice as fast (0.5–2). A factor, not words per minute,
   * so one setting means the same for every engine; each engine maps it
   * (espeak-ng: 1 = 150 words per minute).
   */
  speed?: number;
}

export interface TtsEngine {
  readonly name: string;
  /** Speaks `text` as written (no normalisation here) and resolves to a WAV file's bytes. */
  synthesize(text: string, opts?: SynthesisOptions): Promise<Buffer>;
}

export const SPEED_MIN = 0.5;
export const SPEED_MAX = 2;
/** Default time one synthesis may take before the engine is given up on. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Default cap on the WAV an engine may return: 64 MiB, over 10 minutes of 48 kHz 16-bit mono. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/**
 * A voice is a name, never an option or a path: letters, digits and
 * `_ . + -`, not starting with `-` (it may end up in an argv).
 */
export const VOICE_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}$/;

/** The speed factor to use (1 when not given); throws LOA_E_CONFIG_INVALID outside 0.5–2. */
export function speedOf(speed: number | undefined, engine: string): number {
  if (speed === undefined) return 1;
  if (typeof speed !== 'number' || !Number.isFinite(speed) || speed < SPEED_MIN || speed > SPEED_MAX) {
    throw new LoaError('LOA_E_CONFIG_INVALID', `TTS speed must be a factor from ${SPEED_MIN} to ${SPEED_MAX} (1 = normal pace), not ${String(speed)}`, { context: { engine, speed } });
  }
  return speed;
}

/** The voice to use; throws LOA_E_CONFIG_INVALID for a name that is not one. */
export function voiceOf(voice: string | undefined, fallback: string, engine: string): string {
  const v = voice ?? fallback;
  if (typeof v !== 'string' || !VOICE_PATTERN.test(v)) {
    throw new LoaError('LOA_E_CONFIG_INVALID', `TTS voice ${JSON.stringify(v)} is not a voice name (letters, digits, _ . + -, not starting with -)`, { context: { engine, voice: v } });
  }
  return v;
}
