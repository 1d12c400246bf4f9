import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { LoaError } from '../protocol/errors.js';
import { ownedTempDir } from './owned-temp.js';

// An audio upload (multipart, one file) written to a private temporary
// folder, for the console's library and the panel's local announcements.
// The `title` field may come before or after the file (a browser sends its
// FormData in the order it was filled, curl in the order of its -F options),
// so the whole body is read, part by part. Nothing is left behind when it
// fails or is too large; on success the caller owns `dispose`. The folder
// names this process (lib/owned-temp.ts): if it is killed before `dispose`,
// the next console or village agent to start on this machine removes it.

export interface Upload {
  file: string;
  /** The `title` field, or the file name without its extension (NFC, trimmed). */
  title: string;
  dispose: () => void;
}

export async function receiveUpload(req: FastifyRequest): Promise<Upload> {
  let dir: string | null = null;
  const dispose = () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
  let filename: string | null = null;
  let titleField: string | null = null;
  try {
    for await (const part of req.parts()) {
      if (part.type === 'field') {
        if (part.fieldname === 'title' && typeof part.value === 'string') titleField = part.value;
        continue;
      }
      if (dir) throw Object.assign(new Error('a second file part'), { code: 'FST_FILES_LIMIT' });
      // INVARIANT: a file part is read to its end before the next part is asked for (busboy waits for it).
      dir = ownedTempDir('loa-upload');
      filename = part.filename;
      await pipeline(part.file, createWriteStream(join(dir, 'upload')));
      if (part.file.truncated) throw new LoaError('LOA_E_AUDIO_INVALID', 'the file is larger than the upload limit', { context: { reason: 'too-large' } });
    }
  } catch (e) {
    dispose();
    // The parser's own limit on file parts (one).
    if ((e as { code?: unknown }).code === 'FST_FILES_LIMIT') throw new LoaError('LOA_E_AUDIO_INVALID', 'send one file per upload', { context: { reason: 'several-files' } });
    throw e;
  }
  if (!dir || filename === null) throw new LoaError('LOA_E_AUDIO_INVALID', 'no file in the upload', { context: { reason: 'empty' } });
  const title = titleField?.trim() ? titleField.normalize('NFC').trim() : filename.normalize('NFC').replace(/\.[^.]+$/, '');
  return { file: join(dir, 'upload'), title, dispose };
}
