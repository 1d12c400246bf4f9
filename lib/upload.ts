import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { LoaError } from '../protocol/errors.js';

// An audio upload (multipart, one file) written to a private temporary
// folder, for the console's library and the panel's local announcements.
// Nothing is left behind when it fails or is too large; on success the
// caller owns `dispose`.

export interface Upload {
  file: string;
  /** The `title` field, or the file name without its extension (NFC, trimmed). */
  title: string;
  dispose: () => void;
}

export async function receiveUpload(req: FastifyRequest): Promise<Upload> {
  const part = await req.file();
  if (!part) throw new LoaError('LOA_E_AUDIO_INVALID', 'no file in the upload', { context: { reason: 'empty' } });
  const titleField = part.fields.title as { value?: unknown } | undefined;
  const title = typeof titleField?.value === 'string' && titleField.value.trim() ? titleField.value.normalize('NFC').trim() : part.filename.normalize('NFC').replace(/\.[^.]+$/, '');
  const dir = mkdtempSync(join(tmpdir(), 'loa-upload-'));
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  const file = join(dir, 'upload');
  try {
    await pipeline(part.file, createWriteStream(file));
  } catch (e) {
    dispose();
    throw e;
  }
  if (part.file.truncated) {
    dispose();
    throw new LoaError('LOA_E_AUDIO_INVALID', 'the file is larger than the upload limit', { context: { reason: 'too-large' } });
  }
  return { file, title, dispose };
}
