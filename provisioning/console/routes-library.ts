import { createReadStream, statSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { LoaError } from '../../protocol/errors.js';
import { Text } from '../../protocol/payloads.js';
import { httpError, need, type Ctx } from './context.js';
import { parseWith } from '../../protocol/codec.js';
import { importUpload, speakToLibrary } from './media.js';
import { receiveUpload } from '../../lib/upload.js';

// The audio library: uploads and TTS bulletins both go through the same
// ingest (loudness normalisation, Opus) before they become assets. Both run
// as jobs the page polls for progress; a failure leaves nothing behind.

/** One byte range of a `Range: bytes=…` header (RFC 9110); null to send the whole file (absent, several ranges, or not bytes). */
export function byteRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    // The last N bytes.
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (start >= size || end < start) return 'unsatisfiable';
  }
  return { start, end };
}

export function libraryRoutes(app: FastifyInstance, ctx: Ctx): void {
  app.get('/api/library', async (req) => {
    need(req, 'read');
    return { assets: ctx.library.list() };
  });

  app.get<{ Params: { sha: string } }>('/api/library/:sha/audio', async (req, reply) => {
    need(req, 'read');
    const a = ctx.library.get(req.params.sha);
    if (!a) throw httpError('LOA_E_NOT_FOUND', 'no such asset');
    const file = ctx.library.path(a.sha256);
    const size = statSync(file).size;
    // Assets never change (named by content): cacheable, and seekable in the preview player with Range.
    reply.header('content-type', a.mime).header('accept-ranges', 'bytes').header('cache-control', 'private, max-age=86400, immutable').header('etag', `"${a.sha256}"`);
    const range = byteRange(req.headers.range, size);
    if (range === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${size}`).send();
    if (range) {
      reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`).header('content-length', range.end - range.start + 1);
      return reply.send(createReadStream(file, range));
    }
    reply.header('content-length', size);
    return reply.send(createReadStream(file));
  });

  app.post('/api/library', async (req) => {
    const p = need(req, 'edit');
    const { file, title, dispose } = await receiveUpload(req);
    const job = ctx.jobs.start('upload', p.name, async (progress) => {
      try {
        return await importUpload(ctx, file, title, p.name, progress);
      } finally {
        dispose();
      }
    });
    return { job: job.id };
  });

  const TtsRequest = z.strictObject({ text: Text(5000), title: Text(200), voice: z.string().max(40).optional(), speed: z.number().min(0.5).max(2).optional(), engine: z.string().max(40).optional() });
  app.post('/api/tts', async (req) => {
    const p = need(req, 'edit');
    const r = parseWith(TtsRequest, req.body ?? {}, 'TTS request');
    if (!ctx.tts) throw new LoaError('LOA_E_CONFIG_INVALID', 'no TTS engine is configured on this console');
    const job = ctx.jobs.start('tts', p.name, (progress) => speakToLibrary(ctx, r, p.name, progress));
    return { job: job.id };
  });

  app.get<{ Params: { id: string } }>('/api/jobs/:id', async (req) => {
    const p = need(req, 'read');
    const j = ctx.jobs.get(req.params.id);
    if (!j || j.account !== p.name) throw httpError('LOA_E_NOT_FOUND', 'no such job');
    return { job: { id: j.id, kind: j.kind, status: j.status, progress: j.progress, result: j.result, error: j.error } };
  });
}
