import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { command, UsageError } from '../lib/cli.js';
import { readConfigFile } from '../lib/config.js';
import { ownedTempDir } from '../lib/owned-temp.js';

// `loa tts "text" --out FILE`: the console's TTS path on the command line —
// the same Vietnamese normalisation and engines (audio/tts/), and for an
// Opus file the same ingest as a bulletin made in the console (loudness,
// encoding), so what a technician hears is what villages would play.

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export const tts = command({
  summary: 'speak Vietnamese text into an audio file (WAV, or Opus as the console stores it)',
  args: [{ name: 'TEXT', description: 'what to say (quote it); numbers, dates and abbreviations are read out as the console reads them' }],
  options: {
    out: { type: 'string', short: 'o', placeholder: 'FILE', description: 'the file to write: .wav (the engine\'s WAV) or .ogg/.opus (loudness-normalised Opus, as the console stores a bulletin)' },
    tts: { type: 'string', placeholder: 'FILE', description: 'TTS engine config (JSON) as for `loa console --tts`; default {"engine":"espeak"}' },
    voice: { type: 'string', placeholder: 'NAME', description: 'voice of the engine (default: the config\'s, or espeak\'s "vi")' },
    speed: { type: 'string', placeholder: 'X', description: 'speaking rate factor, 0.5–2 (default 1)' },
  },
  help: 'Example: loa tts "Sáng mai 7 giờ, họp thôn tại nhà văn hoá." --out hop-thon.ogg',
  run: async (inv) => {
    const text = inv.positionals.join(' ');
    const out = str(inv.values.out);
    if (!text.trim()) throw new UsageError('give the text to say, in quotes');
    if (!out) throw new UsageError('--out FILE is required');
    const ext = extname(out).toLowerCase();
    if (!['.wav', '.ogg', '.opus'].includes(ext)) throw new UsageError(`--out must end in .wav, .ogg or .opus, not "${ext || out}"`);
    const speed = str(inv.values.speed) === undefined ? undefined : Number(inv.values.speed);
    if (speed !== undefined && !(speed >= 0.5 && speed <= 2)) throw new UsageError('--speed must be a factor from 0.5 to 2');
    const config = str(inv.values.tts) ? readConfigFile(str(inv.values.tts)!) : { engine: 'espeak' };
    const { consoleServices } = await import('../provisioning/console/services.js');
    const { tts: engine } = await consoleServices(config);
    const voice = str(inv.values.voice);
    const wav = await engine.synthesize(text, { ...(voice ? { voice } : {}), ...(speed ? { speed } : {}) });
    if (ext === '.wav') {
      const { parseWav } = await import('../audio/tts/wav.js');
      writeFileSync(out, wav);
      inv.io.out(`${out}: ${(parseWav(wav).durationMs / 1000).toFixed(1)} s`);
      return 0;
    }
    const { ingest } = await import('../audio/ingest.js');
    const dir = ownedTempDir('loa-tts');
    try {
      writeFileSync(join(dir, 'tts.wav'), wav);
      const r = await ingest(join(dir, 'tts.wav'), { outDir: dir });
      copyFileSync(r.file, out);
      inv.io.out(`${out}: ${(r.durationMs / 1000).toFixed(1)} s, ${r.loudness.output.I.toFixed(1)} LUFS`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return 0;
  },
});
