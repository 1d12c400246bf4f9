import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ROOT_DIR } from './paths.js';

// A browser UI: a few static files bundled with Loa (no CDN: the console is
// used on slow provincial links and the village panel with no internet at
// all). Text files go gzipped to browsers that accept it — a third of the
// bytes on a 3G link — compressed once per file version and kept in memory.
// `/ui/common/*` serves the modules the console and the panel share
// (lib/ui-common: DOM helpers, the API client, i18n and formatting).

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json' };
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json']);

export const UI_COMMON_DIR = join(ROOT_DIR, 'lib', 'ui-common');

export function uiRoutes(app: FastifyInstance, dir: string, common = UI_COMMON_DIR): void {
  const gz = new Map<string, { mtimeMs: number; body: Buffer }>();
  const gzipped = (file: string): Buffer => {
    const mtimeMs = statSync(file).mtimeMs;
    const hit = gz.get(file);
    if (hit && hit.mtimeMs === mtimeMs) return hit.body;
    const body = gzipSync(readFileSync(file), { level: 9 });
    gz.set(file, { mtimeMs, body });
    return body;
  };
  const send = (file: string, req: FastifyRequest, reply: FastifyReply) => {
    if (!existsSync(file) || !statSync(file).isFile()) return reply.code(404).send({ error: { code: 'LOA_E_NOT_FOUND', message: 'no such file' } });
    const ext = extname(file);
    reply
      .header('content-type', TYPES[ext] ?? 'application/octet-stream')
      .header('cache-control', ext === '.html' ? 'no-store' : 'public, max-age=3600')
      .header('content-security-policy', "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
      .header('x-content-type-options', 'nosniff')
      .header('vary', 'accept-encoding');
    if (COMPRESSIBLE.has(ext) && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(gzipped(file));
    return reply.send(readFileSync(file));
  };
  app.get('/', (req, reply) => send(join(dir, 'index.html'), req, reply));
  const serve = (base: string) => (req: FastifyRequest, reply: FastifyReply) => {
    const rel = normalize((req.params as { '*': string })['*']).replace(/^(\.\.(\/|\\|$))+/, '');
    const file = join(base, rel);
    if (!file.startsWith(base)) return reply.code(404).send({ error: { code: 'LOA_E_NOT_FOUND', message: 'no such file' } });
    return send(file, req, reply);
  };
  app.get('/ui/common/*', serve(common));
  app.get('/ui/*', serve(dir));
}
