import { LoaError } from '../../protocol/errors.js';
import { ingest } from '../../audio/ingest.js';
import type { IngestService, TtsService } from './context.js';

// The console's audio services from configuration: the TTS engine (espeak-ng
// with its Vietnamese voice by default, an external command, or an HTTP
// service) and the ingest every upload and TTS bulletin goes through.

export async function consoleServices(ttsConfig: unknown): Promise<{ tts: TtsService; ingest: IngestService }> {
  const { createTtsEngine, textToSpeech, ttsConfigProblems } = await import('../../audio/tts/engine.js');
  const problems = ttsConfigProblems(ttsConfig);
  if (problems.length) throw new LoaError('LOA_E_CONFIG_INVALID', `TTS config: ${problems.join('; ')}`);
  const base = ttsConfig as Parameters<typeof createTtsEngine>[0];
  const engines = new Map<string, ReturnType<typeof createTtsEngine>>([[base.engine, createTtsEngine(base)]]);
  const tts: TtsService = {
    synthesize: (text, opts) => {
      // An engine other than the configured one can be asked for by name when it needs no settings (espeak).
      const name = opts.engine ?? base.engine;
      let engine = engines.get(name);
      if (!engine) {
        if (name !== 'espeak') throw new LoaError('LOA_E_CONFIG_INVALID', `TTS engine "${name}" is not configured on this console`);
        engine = createTtsEngine({ engine: 'espeak' });
        engines.set(name, engine);
      }
      return textToSpeech(text, { engine, ...(opts.voice ? { voice: opts.voice } : {}), ...(opts.speed ? { speed: opts.speed } : {}) });
    },
  };
  return { tts, ingest: { ingest } };
}
