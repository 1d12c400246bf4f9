import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownedTempDir } from '../../lib/owned-temp.js';
import { LoaError } from '../../protocol/errors.js';
import type { AssetLibrary, Ingest, LibraryAsset } from '../library.js';
import type { TtsService } from './context.js';

// The two ways audio enters the library from the console — an upload and a
// spoken text — and both end in the same ingest (loudness, Opus). The TTS
// route, CAP intake and the demo all speak through here.

export interface MediaDeps {
  library: AssetLibrary;
  tts?: TtsService | undefined;
  /** Replaces the ffmpeg ingest (tests); the default is audio/ingest.ts. */
  ingest?: { ingest: Ingest } | undefined;
}

export function importUpload(d: MediaDeps, file: string, title: string, actor: string, onProgress?: (f: number) => void): Promise<LibraryAsset> {
  return d.library.importAudio(file, { title, actor }, { ...(onProgress ? { onProgress } : {}), ...(d.ingest ? { ingest: d.ingest.ingest } : {}) });
}

export interface SpeakRequest {
  text: string;
  title: string;
  voice?: string | undefined;
  speed?: number | undefined;
  engine?: string | undefined;
}

/** Text → normalisation and synthesis → ingest → a library asset. */
export async function speakToLibrary(d: MediaDeps, r: SpeakRequest, actor: string, onProgress: (f: number) => void = () => {}): Promise<LibraryAsset> {
  if (!d.tts) throw new LoaError('LOA_E_CONFIG_INVALID', 'no TTS engine is configured on this console');
  const wav = await d.tts.synthesize(r.text, { ...(r.voice ? { voice: r.voice } : {}), ...(r.speed ? { speed: r.speed } : {}), ...(r.engine ? { engine: r.engine } : {}) });
  onProgress(0.3);
  const dir = ownedTempDir('loa-tts');
  try {
    writeFileSync(join(dir, 'tts.wav'), wav);
    return await importUpload(d, join(dir, 'tts.wav'), r.title, actor, (f) => onProgress(0.3 + 0.7 * f));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
