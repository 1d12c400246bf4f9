import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ROOT_DIR } from './paths.js';

// A browser UI: a few static files bundled with Loa (no CDN: the console is
// used on slow provincial links and the village panel with no internet at
// all). `/ui/common/*` serves the modules the console and the panel share
// (lib/ui-common: DOM helpers, the API client, i18n and formatting).
//
// Why not @fastify/static: it is not a dependency, and this is ~35 files
// (~300 KB) that change only with a release. They are read once at start,
// text gzipped once (a third of the bytes on a 3G link), and served from
// memory with an ETag, so a request inside the agent never touches the disk
// nor compresses anything (docs/architecture.md, "Static UI"). A file
// edited on the disk shows after a restart.

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json' };
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json']);
const CSP = "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

export const UI_COMMON_DIR = join(ROOT_DIR, 'lib', 'ui-common');

interface UiFile {
  type: string;
  cacheControl: string;
  etag: string;
  body: Buffer;
  /** null when gzip would not pay (images) or does not shrink the file. */
  gzipped: Buffer | null;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Reads and compresses every file under `dir` once; keys are `/`-separated paths relative to it. */
export async function loadUiFiles(dir: string): Promise<Map<string, UiFile>> {
  const out = new Map<string, UiFile>();
  for (const file of await filesUnder(dir)) {
    const ext = extname(file);
    const body = await readFile(file);
    const z = COMPRESSIBLE.has(ext) ? await promisify(gzip)(body, { level: 9 }) : null;
    out.set(relative(dir, file).split(sep).join('/'), {
      type: TYPES[ext] ?? 'application/octet-stream',
      cacheControl: ext === '.html' ? 'no-store' : 'public, max-age=3600',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      body,
      gzipped: z && z.length < body.length ? z : null,
    });
  }
  return out;
}

/** If-None-Match holds this ETag (RFC 9110 §13.1.2: a list, `*`, weak tags compare weakly). */
function notModified(req: FastifyRequest, etag: string): boolean {
  const h = req.headers['if-none-match'];
  if (!h) return false;
  return h
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

const notFound = (reply: FastifyReply) => reply.code(404).send({ error: { code: 'LOA_E_NOT_FOUND', message: 'no such file' } });

/** Serves `dir` at `/` and `/ui/*`, and `common` at `/ui/common/*`, from memory (read at registration). */
export async function uiRoutes(app: FastifyInstance, dir: string, common = UI_COMMON_DIR): Promise<void> {
  const [own, shared] = await Promise.all([loadUiFiles(dir), loadUiFiles(common)]);
  const send = (f: UiFile | undefined, req: FastifyRequest, reply: FastifyReply) => {
    if (!f) return notFound(reply);
    reply.header('content-type', f.type).header('cache-control', f.cacheControl).header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('vary', 'accept-encoding').header('etag', f.etag);
    if (notModified(req, f.etag)) return reply.code(304).send();
    if (f.gzipped && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(f.gzipped);
    return reply.send(f.body);
  };
  // INVARIANT: only names loaded from the folder are served; a request path is a key, never a path on the disk.
  const serve = (files: Map<string, UiFile>) => (req: FastifyRequest, reply: FastifyReply) => send(files.get((req.params as { '*': string })['*']), req, reply);
  app.get('/', (req, reply) => send(own.get('index.html'), req, reply));
  app.get('/ui/common/*', serve(shared));
  app.get('/ui/*', serve(own));
}
