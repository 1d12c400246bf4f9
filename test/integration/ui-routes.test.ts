import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { uiRoutes } from '../../lib/ui-routes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

// The static UI of the console and the panel (lib/ui-routes.ts): read and
// compressed once at start, served from memory with ETags.

const APP_JS = `// the page's script\n${'export const greeting = "Xin chào bà con";\n'.repeat(40)}`;
let app: FastifyInstance;
let dir: string;
let common: string;

test.before(async () => {
  dir = tempDir('loa-ui-');
  common = tempDir('loa-ui-common-');
  mkdirSync(join(dir, 'views'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><html lang="vi"><title>Loa</title></html>');
  writeFileSync(join(dir, 'app.js'), APP_JS);
  writeFileSync(join(dir, 'views', 'plan.js'), 'export const plan = 1;\n');
  writeFileSync(join(common, 'dom.js'), 'export const dom = 1;\n');
  app = Fastify({ logger: false });
  await uiRoutes(app, dir, common);
  await app.ready();
});

test.after(async () => {
  await app.close();
  cleanupTempDirs();
});

test('files are read once at start: a request after they change or vanish on the disk gets what was there', async () => {
  writeFileSync(join(dir, 'app.js'), 'export const greeting = "changed";\n');
  rmSync(join(dir, 'index.html'));
  rmSync(common, { recursive: true });
  const js = await app.inject({ method: 'GET', url: '/ui/app.js' });
  assert.is(js.statusCode, 200);
  assert.is(js.body, APP_JS);
  assert.is((await app.inject({ method: 'GET', url: '/' })).statusCode, 200);
  assert.is((await app.inject({ method: 'GET', url: '/ui/common/dom.js' })).body, 'export const dom = 1;\n');
  assert.is((await app.inject({ method: 'GET', url: '/ui/views/plan.js' })).body, 'export const plan = 1;\n');
});

test('an ETag on every file; If-None-Match with it answers 304 with no body', async () => {
  const first = await app.inject({ method: 'GET', url: '/ui/app.js' });
  const etag = String(first.headers.etag);
  assert.match(etag, /^"[\w-]+"$/);
  const again = await app.inject({ method: 'GET', url: '/ui/app.js', headers: { 'if-none-match': etag } });
  assert.is(again.statusCode, 304);
  assert.is(again.rawPayload.length, 0);
  assert.is(again.headers.etag, etag);
  // A list with it, or its weak form, also matches (RFC 9110 §13.1.2); another tag does not.
  assert.is((await app.inject({ method: 'GET', url: '/ui/app.js', headers: { 'if-none-match': `"other", W/${etag}` } })).statusCode, 304);
  assert.is((await app.inject({ method: 'GET', url: '/ui/app.js', headers: { 'if-none-match': '"other"' } })).statusCode, 200);
  const other = await app.inject({ method: 'GET', url: '/ui/views/plan.js' });
  assert.is.not(other.headers.etag, etag);
});

test('gzip only when the browser accepts it, the same bytes once unzipped', async () => {
  const zipped = await app.inject({ method: 'GET', url: '/ui/app.js', headers: { 'accept-encoding': 'gzip, deflate, br' } });
  assert.is(zipped.headers['content-encoding'], 'gzip');
  assert.is(zipped.headers.vary, 'accept-encoding');
  assert.is(gunzipSync(zipped.rawPayload).toString('utf8'), APP_JS);
  assert.ok(zipped.rawPayload.length < Buffer.byteLength(APP_JS));
  const raw = await app.inject({ method: 'GET', url: '/ui/app.js', headers: { 'accept-encoding': 'identity' } });
  assert.is(raw.headers['content-encoding'], undefined);
  assert.is(raw.body, APP_JS);
  assert.match(String(raw.headers['content-type']), /^text\/javascript/);
  assert.match(String(raw.headers['content-security-policy']), /script-src 'self'/);
});

test('nothing outside the folders, and no folder itself', async () => {
  for (const url of ['/ui/../../etc/passwd', '/ui/%2e%2e/%2e%2e/etc/passwd', '/ui/views', '/ui/missing.js']) assert.is((await app.inject({ method: 'GET', url })).statusCode, 404, url);
});

test.run();
