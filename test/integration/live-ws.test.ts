import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { OpusDecoder } from '../../audio/opus.js';
import { sine } from '../../audio/tones.js';
import { pcmBytes } from '../../audio/types.js';
import { wavHeader } from '../../audio/wav-sink.js';
import { decodeSigned } from '../../protocol/codec.js';
import { decodeFrameBatch, isFrameBatch, sessionPublicKey, type FrameBatch } from '../../protocol/live-frames.js';
import { LiveControl } from '../../protocol/payloads.js';
import { Verifier } from '../../protocol/signing.js';
import { toneLevel } from '../helpers/audio.js';
import { consoleFixture, type ConsoleFixture } from '../helpers/console.js';
import { asDevice, connect, subscribe } from '../helpers/mqtt.js';
import { runLoa, spawnLoa } from '../helpers/processes.js';
import { cleanupTempDirs, sleep, tempDir, waitFor } from '../helpers/tmp.js';

// Speaking live through the console: a WebSocket presenter (the studio
// page's protocol) and `loa live` as a real process, heard as a village
// device hears it — the signed open, frame batches that verify against the
// open's key and decode to the tone that was sent, the close — through the
// real broker. And every way to be refused, with nothing reaching the air.

let f: ConsoleFixture;
let base = '';
let verifier: Verifier;

test.before(async () => {
  f = await consoleFixture();
  base = `127.0.0.1:${f.server.address!.port}`;
  verifier = new Verifier(f.p.registry.publicKeys('console'));
});
test.after(async () => {
  await f.stop();
  cleanupTempDirs();
});

/** Everything published on one live topic (or, with a filter, on all of them), as a device or the console receives it. */
async function listen(as: 'device' | 'console', filter: string): Promise<{ c: MqttClient; msgs: { topic: string; payload: Buffer }[] }> {
  const msgs: { topic: string; payload: Buffer }[] = [];
  const onMessage = (topic: string, payload: Buffer) => msgs.push({ topic, payload });
  const c =
    as === 'device'
      ? await asDevice(f.broker.url, 't3a', f.p.devices.t3a!.secret, {}, onMessage)
      : await connect(f.broker.url, { clientId: 'console:live-test', username: 'console', password: f.p.accounts.console!.secret }, onMessage);
  assert.equal(await subscribe(c, [filter]), [1], `subscribed to ${filter}`);
  return { c, msgs };
}

interface Heard {
  opens: Extract<LiveControl, { type: 'open' }>[];
  closes: Extract<LiveControl, { type: 'close' }>[];
  batches: FrameBatch[];
}

/** Verifies what a topic carried as an agent would: controls by the province's key (purpose 'live'), frames by the open's session key. */
function hear(msgs: { payload: Buffer }[]): Heard {
  const h: Heard = { opens: [], closes: [], batches: [] };
  const frames: Buffer[] = [];
  for (const { payload } of msgs) {
    if (isFrameBatch(payload)) {
      frames.push(payload);
      continue;
    }
    const c = decodeSigned('zone-live', 'live', LiveControl, payload, verifier).payload;
    if (c.type === 'open') h.opens.push(c);
    else h.closes.push(c);
  }
  assert.ok(h.opens.length >= 1 || frames.length === 0, 'frames without an open');
  for (const b of frames) h.batches.push(decodeFrameBatch(b, sessionPublicKey(h.opens[0]!.key)));
  return h;
}

/** The frames in sequence order, decoded as an agent decodes them (a missing one concealed, and counted). */
function decodeAll(batches: FrameBatch[]): { pcm: Int16Array; frames: number; gaps: number; firstSeq: number; lastSeq: number } {
  const bySeq = new Map<number, Buffer>();
  for (const b of batches) b.frames.forEach((fr, i) => bySeq.set(b.seq + i, fr));
  const seqs = [...bySeq.keys()].sort((a, b) => a - b);
  const [first, last] = [seqs[0]!, seqs.at(-1)!];
  const dec = new OpusDecoder();
  const parts: Int16Array[] = [];
  for (let q = first; q <= last; q++) parts.push(bySeq.has(q) ? dec.decode(bySeq.get(q)!) : dec.conceal());
  dec.close();
  const pcm = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) pcm.set(p, (at += p.length) - p.length);
  return { pcm, frames: seqs.length, gaps: last - first + 1 - seqs.length, firstSeq: first, lastSeq: last };
}

interface Client {
  ws: WebSocket;
  /** Text messages from the console, parsed, in order. */
  messages: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  next(type?: string): Promise<Record<string, unknown>>;
}

/** Opens /api/live; resolves once open, or with the HTTP refusal of the upgrade. */
function openLive(headers: Record<string, string>): Promise<Client | { status: number; body: { error: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${base}/api/live`, { headers });
    const messages: Record<string, unknown>[] = [];
    ws.on('message', (d, binary) => !binary && messages.push(JSON.parse(String(d)) as Record<string, unknown>));
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.once('open', () =>
      resolve({
        ws,
        messages,
        closed,
        next: (type) => waitFor(() => messages.find((m) => !type || m.type === type || m.type === 'error'), { timeoutMs: 10_000, what: `a ${type ?? ''} message; got ${JSON.stringify(messages)}` }),
      }),
    );
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(body) as { error: { code: string; message: string } } }));
    });
    ws.once('error', (e) => reject(e));
  });
}

async function login(name: string): Promise<{ cookie: string; csrf: string }> {
  const s = await f.as(name);
  return { cookie: s.cookie, csrf: s.csrf };
}

function client(c: Awaited<ReturnType<typeof openLive>>): Client {
  if (!('ws' in c)) throw new Error(`upgrade refused: ${c.status} ${JSON.stringify(c.body)}`);
  return c;
}

/** A first message refused: the error's code and message, and the socket closed by the console. */
async function refusedMessage(who: string, send: (c: Client, csrf: string) => void, headers: Record<string, string> = {}): Promise<{ code: string; message: string; close: number }> {
  const { cookie, csrf } = await login(who);
  const c = client(await openLive({ cookie, ...headers }));
  send(c, csrf);
  const err = await c.next('error');
  const { code: close } = await c.closed;
  assert.is(err.type, 'error', `refused, not ${JSON.stringify(err)}`);
  return { code: err.code as string, message: err.message as string, close };
}

const start = (csrf: string, zones: string[], extra: Record<string, unknown> = {}) => JSON.stringify({ type: 'start', csrf, zones, title: 'Thông báo trực tiếp', ...extra });

test('a presenter streams 3 s of a 1 kHz tone; a device of the zone hears the signed open, verified frames that decode to the tone, and the close', async () => {
  const device = await listen('device', 'loa/v1/live/z/qn/dak-ha');
  try {
    const { cookie, csrf } = await login('editor');
    const c = client(await openLive({ cookie, origin: `http://${base}` }));
    // A title typed with a combining dot below (NFD): what goes on air is NFC.
    c.ws.send(start(csrf, ['qn/dak-ha'], { title: 'Thông báo trực tiếp'.normalize('NFD') }));
    const onAir = await c.next('on-air');
    assert.is(onAir.type, 'on-air', JSON.stringify(onAir));
    assert.equal(onAir.zones, ['qn/dak-ha']);
    const id = onAir.id as string;

    // Who is on air where, within each account's scope.
    const sessions = async (who: string) => ((await (await f.as(who)).get('/api/live/sessions')).json() as { sessions: { id: string; by: string }[] }).sessions.map((s) => s.id);
    assert.equal(await sessions('editor-dak-ha'), [id]);
    assert.equal(await sessions('viewer-son-tay'), [], 'Sơn Tây does not see a session of Đắk Hà');

    // 3 s of tone at real-time pace, 60 ms a message, 200 ms ahead as a browser's capture buffer would be.
    const tone = sine(1000, 3000, 0.5);
    const chunk = pcmBytes(60);
    const t0 = performance.now();
    for (let off = 0, n = 0; off < tone.length; off += chunk, n++) {
      const due = t0 + n * 60 - 200;
      if (due > performance.now()) await sleep(due - performance.now());
      c.ws.send(tone.subarray(off, off + chunk));
    }
    c.ws.send(JSON.stringify({ type: 'end' }));
    const ended = await c.next('ended');
    assert.is(ended.endReason, 'ended by editor');
    assert.is((await c.closed).code, 1000);

    await waitFor(() => device.msgs.some((m) => m.payload[0] === 0x7b && hear([m]).closes.length), { timeoutMs: 5000, what: 'the close on the topic' });
    const h = hear(device.msgs);
    const open = h.opens[0]!;
    assert.equal({ id: open.id, zone: open.zone, by: open.by, source: open.source, title: open.title }, { id, zone: 'qn/dak-ha', by: 'editor', source: 'studio', title: 'Thông báo trực tiếp' });
    assert.ok(h.batches.every((b) => b.session === id), 'every batch names the session');
    const { pcm, frames, gaps, lastSeq } = decodeAll(h.batches);
    assert.ok(frames >= 140 && frames <= 151, `3 s is about 150 frames of 20 ms, got ${frames}`);
    assert.is(gaps, 0, 'a presenter 200 ms ahead leaves no gap');
    assert.is(ended.framesSent, frames, 'every frame the console sent reached the device');
    assert.is(h.closes.length, 1);
    // The close names the last frame slot, which may be one the session skipped after the last audio.
    const close = h.closes[0]!;
    assert.equal({ id: close.id, reason: close.reason }, { id, reason: 'ended by editor' });
    assert.ok(close.lastSeq >= lastSeq && close.lastSeq <= lastSeq + 5, `close after frame ${close.lastSeq}, last frame heard ${lastSeq}`);
    // The tone, every 100 ms of it past Opus' start-up: 1 kHz at about the level sent, nothing at 500 Hz or 2 kHz.
    const win = 4800;
    for (let at = 4 * win; at + win <= pcm.length - win; at += win) {
      const level = toneLevel(pcm, at, win, 1000);
      assert.ok(level > 0.35 && level < 0.65, `1 kHz at ${at / 48} ms: level ${level.toFixed(3)}`);
      assert.ok(toneLevel(pcm, at, win, 500) < 0.05 && toneLevel(pcm, at, win, 2000) < 0.05, `only the tone at ${at / 48} ms`);
    }
    const audit = f.p.registry.auditLog(20).filter((a) => a.subject === id).map((a) => [a.actor, a.action]);
    assert.equal(audit.sort(), [['editor', 'live.end'], ['editor', 'live.start']]);
  } finally {
    await device.c.endAsync();
  }
});

test('refusals: no session, another site, a viewer, a zone out of scope, a bad CSRF token, malformed or oversize messages; nothing reaches the air', async () => {
  const air = await listen('console', 'loa/v1/live/#');
  try {
    const { cookie, csrf } = await login('editor');

    const anon = await openLive({});
    assert.ok(!('ws' in anon) && anon.status === 401 && anon.body.error.code === 'LOA_E_UNAUTHENTICATED', JSON.stringify(anon));
    const forged = await openLive({ cookie: 'loa_session=not-a-session' });
    assert.ok(!('ws' in forged) && forged.status === 401, 'an unknown session id');

    const evil = await openLive({ cookie, origin: 'http://evil.example' });
    assert.ok(!('ws' in evil) && evil.status === 403 && evil.body.error.code === 'LOA_E_FORBIDDEN', JSON.stringify(evil));
    const nullOrigin = await openLive({ cookie, origin: 'null' });
    assert.ok(!('ws' in nullOrigin) && nullOrigin.status === 403, 'a sandboxed page (Origin: null)');
    // The console's own page is let in (and an end with nothing on air just closes).
    const own = client(await openLive({ cookie, origin: `http://${base}` }));
    own.ws.send(JSON.stringify({ type: 'end' }));
    assert.is((await own.closed).code, 1000);

    const viewer = await openLive({ cookie: (await login('viewer-son-tay')).cookie });
    assert.ok(!('ws' in viewer) && viewer.status === 403 && viewer.body.error.code === 'LOA_E_FORBIDDEN', JSON.stringify(viewer));
    assert.match(viewer.body.error.message, /viewer accounts may not speak live/);

    const scope = await refusedMessage('editor-dak-ha', (c, t) => c.ws.send(start(t, ['qn/dak-ha/thon-3', 'qn/son-tay'])));
    assert.equal([scope.code, scope.close], ['LOA_E_FORBIDDEN', 1008]);
    assert.match(scope.message, /qn\/son-tay lies outside your zone qn\/dak-ha/);
    const missing = await refusedMessage('editor', (c, t) => c.ws.send(start(t, ['qn/no-such-commune'])));
    assert.equal([missing.code, missing.message], ['LOA_E_ZONE_NOT_FOUND', 'zone qn/no-such-commune does not exist']);

    const csrfBad = await refusedMessage('editor', (c) => c.ws.send(start('x'.repeat(32), ['qn/dak-ha'])));
    assert.is(csrfBad.code, 'LOA_E_CSRF');
    const csrfOther = await refusedMessage('editor', (c) => c.ws.send(start(csrf, ['qn/dak-ha'])), {});
    assert.is(csrfOther.code, 'LOA_E_CSRF', "another session's token");

    const notJson = await refusedMessage('editor', (c) => c.ws.send('start please'));
    assert.is(notJson.code, 'LOA_E_PAYLOAD_JSON');
    const noZones = await refusedMessage('editor', (c, t) => c.ws.send(start(t, [])));
    assert.is(noZones.code, 'LOA_E_PAYLOAD_SCHEMA');
    assert.match(noZones.message, /zones/);
    const longTitle = await refusedMessage('editor', (c, t) => c.ws.send(start(t, ['qn/dak-ha'], { title: 'a'.repeat(201) })));
    assert.match(longTitle.message, /title/);
    const badZone = await refusedMessage('editor', (c, t) => c.ws.send(start(t, ['QN/Đắk Hà'])));
    assert.match(badZone.message, /zones/);
    const extra = await refusedMessage('editor', (c, t) => c.ws.send(start(t, ['qn/dak-ha'], { volume: 100 })));
    assert.match(extra.message, /volume/);
    const audioFirst = await refusedMessage('editor', (c) => c.ws.send(Buffer.alloc(3840)));
    assert.equal([audioFirst.code, audioFirst.message], ['LOA_E_LIVE_REFUSED', 'audio came before the start message: send {"type":"start",…} and wait for "on-air"']);
    const huge = await refusedMessage('editor', (c) => c.ws.send(Buffer.alloc(64 * 1024 + 2)));
    assert.equal([huge.code, huge.close], ['LOA_E_PAYLOAD_TOO_LARGE', 1009]);

    await sleep(300);
    assert.equal(air.msgs.map((m) => m.topic), [], 'nothing was published on any live topic');

    // On air, an oversize message ends the session: its audio never goes out, the close does.
    const c = client(await openLive({ cookie }));
    c.ws.send(start(csrf, ['qn/son-tay']));
    const onAir = await c.next('on-air');
    c.ws.send(Buffer.alloc(65 * 1024));
    const err = await c.next('error');
    assert.is(err.code, 'LOA_E_PAYLOAD_TOO_LARGE');
    assert.is((await c.closed).code, 1009);
    await waitFor(() => hear(air.msgs).closes.length, { what: 'the close' });
    const h = hear(air.msgs);
    assert.is(h.batches.length, 0, 'no audio went out');
    assert.equal(h.closes.map((x) => [x.id, x.reason]), [[onAir.id, "the presenter's connection was refused: LOA_E_PAYLOAD_TOO_LARGE"]]);

    assert.is((await f.server.app.inject({ method: 'GET', url: '/api/live/sessions' })).statusCode, 401);
  } finally {
    await air.c.endAsync();
  }
});

test('a presenter whose connection drops goes off air', async () => {
  const air = await listen('console', 'loa/v1/live/#');
  try {
    const { cookie, csrf } = await login('dispatch-dak-ha');
    const c = client(await openLive({ cookie }));
    c.ws.send(start(csrf, ['qn/dak-ha/thon-4'], { source: 'terminal' }));
    const onAir = await c.next('on-air');
    c.ws.send(sine(1000, 200));
    c.ws.terminate();
    await waitFor(() => hear(air.msgs).closes.length, { what: 'the close' });
    const h = hear(air.msgs);
    assert.equal([h.opens[0]!.source, h.opens[0]!.by], ['terminal', 'dispatch-dak-ha']);
    assert.equal(h.closes.map((x) => [x.id, x.reason]), [[onAir.id, "the presenter's connection closed"]]);
  } finally {
    await air.c.endAsync();
  }
});

test('loa live sends a 2 s WAV file at real-time pace: open, ≥ 90 frames, close; exit 0', async () => {
  const dir = tempDir();
  const wav = join(dir, 'tone.wav');
  const pcm = sine(1000, 2000, 0.5);
  writeFileSync(wav, Buffer.concat([wavHeader(pcm.length), pcm]));
  const device = await listen('device', 'loa/v1/live/z/qn/dak-ha/thon-3');
  try {
    const t = performance.now();
    const r = await runLoa(['live', '--console', `http://${base}`, '--user', 'editor-dak-ha', '--zone', 'qn/dak-ha/thon-3', '--input', wav, '--title', 'Loa thử'], { LOA_PASSWORD: f.p.accounts['editor-dak-ha']!.secret }, 30_000);
    const took = performance.now() - t;
    assert.is(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Đang phát trực tiếp \(on air\) to qn\/dak-ha\/thon-3: Loa thử/);
    assert.match(r.stdout, /Đã kết thúc \(off air\): \d+ frames/);
    assert.ok(took >= 1900, `real-time pace: 2 s of audio took ${Math.round(took)} ms`);
    await waitFor(() => hear(device.msgs).closes.length, { what: 'the close' });
    const h = hear(device.msgs);
    assert.equal([h.opens[0]!.source, h.opens[0]!.by, h.opens[0]!.title], ['terminal', 'editor-dak-ha', 'Loa thử']);
    const { pcm: heard, frames, gaps, lastSeq } = decodeAll(h.batches);
    assert.ok(frames >= 90, `2 s is 100 frames, got ${frames}`);
    assert.ok(gaps <= 5, `${gaps} frames missing in the middle`);
    assert.ok(h.closes[0]!.lastSeq >= lastSeq && h.closes[0]!.lastSeq <= lastSeq + 5, `close after frame ${h.closes[0]!.lastSeq}, last frame heard ${lastSeq}`);
    assert.is(h.closes[0]!.reason, 'ended by editor-dak-ha');
    assert.ok(toneLevel(heard, 48_000, 4800, 1000) > 0.35, 'the file\'s tone');

    // Refused: a zone out of the account's scope, printed as the CLI prints errors.
    const out = await runLoa(['live', '--console', `http://${base}`, '--user', 'editor-dak-ha', '--zone', 'qn/son-tay', '--input', wav], { LOA_PASSWORD: f.p.accounts['editor-dak-ha']!.secret }, 30_000);
    assert.is(out.code, 1, out.stderr);
    assert.match(out.stderr, /^loa live: LOA_E_FORBIDDEN: zone qn\/son-tay lies outside your zone qn\/dak-ha$/m);
  } finally {
    await device.c.endAsync();
  }
});

test('loa live stopped by Ctrl-C (SIGINT) ends the session cleanly and exits 0', async () => {
  const wav = join(tempDir(), 'long.wav');
  const pcm = sine(1000, 30_000, 0.5);
  writeFileSync(wav, Buffer.concat([wavHeader(pcm.length), pcm]));
  const air = await listen('console', 'loa/v1/live/#');
  try {
    const proc = spawnLoa(['live', '--console', `http://${base}`, '--user', 'dispatch-dak-ha', '--zone', 'qn/dak-ha', '--input', wav], { LOA_PASSWORD: f.p.accounts['dispatch-dak-ha']!.secret });
    await waitFor(() => /on air/.test(proc.out()), { timeoutMs: 15_000, what: () => `on air: ${proc.out()}` });
    await waitFor(() => hear(air.msgs).batches.length >= 10, { what: 'audio on the topic' });
    assert.is(await proc.stop('SIGINT'), 0, proc.out());
    assert.match(proc.out(), /Đã kết thúc \(off air\)/);
    const h = hear(air.msgs);
    assert.equal(h.closes.map((c) => [c.id, c.reason]), [[h.opens[0]!.id, 'ended by dispatch-dak-ha']]);
  } finally {
    await air.c.endAsync();
  }
});

test.run();
