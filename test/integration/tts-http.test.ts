import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectedCode } from '../helpers/errors.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpEngine, createTtsEngine, textToSpeech } from '../../audio/tts/engine.js';
import { parseWav } from '../../audio/tts/wav.js';
import { sine } from '../../audio/tones.js';
import { wavHeader } from '../../audio/wav-sink.js';

// The HTTP engine against a real local server on 127.0.0.1 playing a TTS
// service: a good answer, a server error, a wrong content type, a server
// that never answers, answers that are too large.

const pcm = sine(440, 500);
const WAV = Buffer.concat([wavHeader(pcm.length), pcm]);
const seen: { url: string; headers: IncomingMessage['headers']; body: unknown }[] = [];

const routes: Record<string, (res: ServerResponse) => void> = {
  '/tts': (res) => res.writeHead(200, { 'content-type': 'audio/wav' }).end(WAV),
  '/x-wav': (res) => res.writeHead(200, { 'content-type': 'audio/x-wav; charset=binary' }).end(WAV),
  '/fail': (res) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"model vi-hn not loaded"}'),
  '/html': (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Đăng nhập</body></html>'),
  '/mp3': (res) => res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00 mp3 frames')),
  '/hang': () => {},
  '/drip': (res) => {
    res.writeHead(200, { 'content-type': 'audio/wav' });
    res.write(WAV.subarray(0, 100));
  },
  '/big': (res) => res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': String(WAV.length) }).end(WAV),
  '/big-chunked': (res) => {
    res.writeHead(200, { 'content-type': 'audio/wav' });
    for (let i = 0; i < WAV.length; i += 1000) res.write(WAV.subarray(i, i + 1000));
    res.end();
  },
};

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => (body += d));
  req.on('end', () => {
    seen.push({ url: req.url ?? '', headers: req.headers, body: JSON.parse(body || 'null') });
    (routes[req.url ?? ''] ?? ((r: ServerResponse) => r.writeHead(404).end()))(res);
  });
});
let base = '';

test.before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
test.after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

async function rejects(p: Promise<unknown>, words: RegExp, reason: string): Promise<void> {
  const e = await rejectedCode(p, 'LOA_E_TTS_FAILED');
  assert.match(e.message, words);
  assert.is(e.context.reason, reason);
}

test('OK: POSTs { text, voice, speed } as JSON and returns the WAV', async () => {
  const engine = createTtsEngine({ engine: 'http', url: `${base}/tts`, voice: 'vi-hn-female', headers: { authorization: 'Bearer k' } });
  const wav = await textToSpeech('Họp lúc 7h30.', { engine, speed: 1.2 });
  assert.ok(wav.equals(WAV));
  assert.is(parseWav(wav).durationMs, 500);
  const req = seen.at(-1)!;
  assert.equal(req.body, { text: 'Họp lúc bảy giờ ba mươi phút.', voice: 'vi-hn-female', speed: 1.2 });
  assert.is(req.headers['content-type'], 'application/json');
  assert.is(req.headers.authorization, 'Bearer k');
  // No voice anywhere: null, and the service picks its own.
  await new HttpEngine({ url: `${base}/x-wav` }).synthesize('xin chào');
  assert.equal(seen.at(-1)!.body, { text: 'xin chào', voice: null, speed: 1 });
});

test('500: the status and the start of the body are in the error', async () => {
  await rejects(new HttpEngine({ url: `${base}/fail` }).synthesize('xin chào'), /answered 500 Internal Server Error: \{"error":"model vi-hn not loaded"\}/, 'http-status');
  await rejects(new HttpEngine({ url: `${base}/nowhere` }).synthesize('xin chào'), /answered 404/, 'http-status');
});

test('a wrong content type is refused; audio that is not WAV is refused by textToSpeech', async () => {
  await rejects(new HttpEngine({ url: `${base}/html` }).synthesize('xin chào'), /answered text\/html, not audio/, 'content-type');
  await rejects(textToSpeech('xin chào', { engine: new HttpEngine({ url: `${base}/mp3` }) }), /TTS engine http returned .*RIFF\/WAVE/, 'not-wav');
});

test('timeout: no answer, or an answer that never finishes', async () => {
  const t0 = Date.now();
  await rejects(new HttpEngine({ url: `${base}/hang`, timeoutMs: 300 }).synthesize('xin chào'), /did not answer within 300 ms/, 'timeout');
  await rejects(new HttpEngine({ url: `${base}/drip`, timeoutMs: 300 }).synthesize('xin chào'), /did not finish its answer within 300 ms/, 'timeout');
  assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
});

test('size cap: by Content-Length, and while streaming', async () => {
  await rejects(new HttpEngine({ url: `${base}/big`, maxBytes: 10_000 }).synthesize('xin chào'), /answered 48044 bytes, more than the 10000 allowed/, 'too-large');
  await rejects(new HttpEngine({ url: `${base}/big-chunked`, maxBytes: 10_000 }).synthesize('xin chào'), /more than the 10000 bytes allowed/, 'too-large');
});

test('nobody listening', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/tts`;
  await new Promise<void>((r) => closed.close(() => r()));
  await rejects(new HttpEngine({ url }).synthesize('xin chào'), /cannot reach .*ECONNREFUSED/, 'unreachable');
});

test.run();
