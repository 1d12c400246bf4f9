import { readFileSync, existsSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import type { FastifyInstance } from 'fastify';

// The browser UI: a few static files bundled with Loa (no CDN: the console is
// used on slow provincial links and must work without the internet).

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json' };

export function uiRoutes(app: FastifyInstance, dir: string): void {
  const send = (file: string, reply: import('fastify').FastifyReply) =>
    reply
      .header('content-type', TYPES[extname(file)] ?? 'application/octet-stream')
      .header('cache-control', extname(file) === '.html' ? 'no-store' : 'public, max-age=3600')
      .header('content-security-policy', "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
      .header('x-content-type-options', 'nosniff')
      .send(readFileSync(file));
  app.get('/', (_req, reply) => send(join(dir, 'index.html'), reply));
  app.get('/ui/*', (req, reply) => {
    const rel = normalize((req.params as { '*': string })['*']).replace(/^(\.\.(\/|\\|$))+/, '');
    const file = join(dir, rel);
    if (!file.startsWith(dir) || !existsSync(file)) return reply.code(404).send({ error: { code: 'LOA_E_NOT_FOUND', message: 'no such file' } });
    return send(file, reply);
  });
}
