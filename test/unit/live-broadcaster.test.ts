import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LiveBroadcaster } from '../../provisioning/live-broadcaster.js';
import { decodeFrameBatch, isFrameBatch, sessionPublicKey } from '../../protocol/live-frames.js';
import { Signer, Verifier, generateSigningKeyPair } from '../../protocol/signing.js';
import { SignedEnvelope } from '../../protocol/signing.js';
import { LiveControl } from '../../protocol/payloads.js';
import { silentLogger } from '../../lib/log.js';
import { sleep } from '../helpers/tmp.js';

// The province's side of a live session, as the clusters see it on the
// topic: paced by the console's clock whatever pace the source sends at,
// gaps where the source was late, every frame sent before the close.

const keys = generateSigningKeyPair();
const verifier = new Verifier([keys.publicKey]);

function world() {
  const sent: { topic: string; payload: Buffer; qos: number; at: number }[] = [];
  const live = new LiveBroadcaster({ signer: new Signer(keys.privateKey), publish: (topic, payload, qos) => sent.push({ topic, payload, qos, at: Date.now() }), log: silentLogger() });
  const controls = () => sent.filter((m) => !isFrameBatch(m.payload)).map((m) => LiveControl.parse(verifier.verify('live', SignedEnvelope.parse(JSON.parse(m.payload.toString())))));
  const frames = () => {
    const open = controls().find((c) => c.type === 'open')!;
    if (open.type !== 'open') throw new Error('no open');
    const key = sessionPublicKey(open.key);
    return sent.filter((m) => isFrameBatch(m.payload)).map((m) => ({ ...decodeFrameBatch(m.payload, key), sentAt: m.at, qos: m.qos }));
  };
  return { live, sent, controls, frames };
}

const pcm = (ms: number) => Buffer.alloc((ms * 48) * 2, 1);

test('a source that sends a second at once is sent at real-time pace, stamped 400 ms after each frame\'s time, all of it before the close', async () => {
  const w = world();
  const s = w.live.open({ zones: ['qn/dak-ha'], title: 'Thông báo', by: 'editor', source: 'terminal' });
  const t0 = Date.now();
  s.write(pcm(1000));
  await sleep(500);
  const early = w.frames().reduce((n, b) => n + b.frames.length, 0);
  assert.ok(early >= 20 && early <= 30, `${early} frames sent in the first 500 ms`);
  s.end('xong');
  const batches = w.frames();
  const seqs = batches.flatMap((b) => b.frames.map((_, i) => b.seq + i));
  assert.equal(seqs, Array.from({ length: 50 }, (_, i) => i), 'every frame, once, in order');
  for (const b of batches) {
    assert.ok(Math.abs(b.playAt - (t0 + b.seq * 20 + 400)) <= 15, `batch ${b.seq} stamped ${Math.round(b.playAt - t0)} ms after the start`);
    assert.is(b.qos, 0, 'frames at QoS 0: a late frame is no use');
  }
  const close = w.controls().find((c) => c.type === 'close')!;
  assert.is(close.type === 'close' && close.lastSeq, 49);
  assert.is(s.info().endReason, 'xong');
  assert.is(w.sent.filter((m) => !isFrameBatch(m.payload)).every((m) => m.qos === 1), true, 'open and close at QoS 1');
});

test('a source that stalls leaves a gap in the sequence, not frames stamped too late to play', async () => {
  const w = world();
  const s = w.live.open({ zones: ['qn/dak-ha/thon-3', 'qn/son-tay'], title: 'Họp', by: 'editor', source: 'studio' });
  s.write(pcm(200));
  await sleep(700);
  s.write(pcm(200));
  await sleep(300);
  s.end('xong');
  const batches = w.frames().filter((_, i) => i % 2 === 0); // each batch went to both zones
  const seqs = batches.flatMap((b) => b.frames.map((_, i) => b.seq + i));
  assert.is(seqs.length, 20, JSON.stringify(seqs));
  assert.ok(seqs[10]! - seqs[9]! >= 15, `a gap of about 500 ms after the stall: ${JSON.stringify(seqs)}`);
  for (const b of w.frames()) assert.ok(b.playAt - b.sentAt >= 200, `sent ${Math.round(b.playAt - b.sentAt)} ms before its instant`);
  assert.equal([...new Set(w.sent.map((m) => m.topic))].sort(), ['loa/v1/live/z/qn/dak-ha/thon-3', 'loa/v1/live/z/qn/son-tay']);
});

test('a session with no zone, or with one zone inside another, is refused', () => {
  const w = world();
  assert.throws(() => w.live.open({ zones: [], title: 'x', by: 'e', source: 'studio' }), /at least one zone/);
  assert.throws(() => w.live.open({ zones: ['qn/dak-ha', 'qn/dak-ha/thon-3'], title: 'x', by: 'e', source: 'studio' }), /qn\/dak-ha\/thon-3 lies inside another zone/);
  assert.throws(() => w.live.open({ zones: ['QN/../x'], title: 'x', by: 'e', source: 'studio' }));
  assert.is(w.sent.length, 0, 'nothing published');
});

test.run();
