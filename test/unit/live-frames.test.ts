import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID, sign as edSign } from 'node:crypto';
import { decodeFrameBatch, encodeFrameBatch, frameBatchSession, isFrameBatch, newSessionKey, sessionPublicKey } from '../../protocol/live-frames.js';
import { isLoaError } from '../../protocol/errors.js';

// The live frame batch: what the session key signs is exactly what an agent
// plays, and every malformed or foreign batch is refused with its reason.

const key = newSessionKey();
const pub = sessionPublicKey(key.publicKey);
const batch = { session: randomUUID(), seq: 4242, playAt: 1_780_000_000_123.5, frames: [Buffer.from([0x48, 1, 2, 3]), Buffer.alloc(120, 7), Buffer.from([0x48])] };

const refused = (f: () => unknown, code: string, msg: RegExp) => {
  try {
    f();
  } catch (e) {
    assert.ok(isLoaError(e), String(e));
    assert.is(e.code, code, e.message);
    assert.match(e.message, msg);
    return;
  }
  assert.unreachable('accepted');
};

test('a batch round-trips: session, sequence, playout instant and every frame', () => {
  const bytes = encodeFrameBatch(batch, key.privateKey);
  assert.ok(isFrameBatch(bytes));
  assert.not.ok(isFrameBatch(Buffer.from('{"type":"open"}')), 'a JSON control is not a batch');
  assert.is(frameBatchSession(bytes), batch.session);
  const back = decodeFrameBatch(bytes, pub);
  assert.is(back.session, batch.session);
  assert.is(back.seq, 4242);
  assert.is(back.playAt, batch.playAt);
  assert.equal(back.frames.map((f) => f.toString('hex')), batch.frames.map((f) => f.toString('hex')));
  assert.is(bytes.length, 32 + 2 * 3 + 4 + 120 + 1 + 64, 'binary: no base64, no JSON');
});

test('a batch signed by another key, or changed in any byte, is refused', () => {
  const bytes = encodeFrameBatch(batch, key.privateKey);
  refused(() => decodeFrameBatch(bytes, sessionPublicKey(newSessionKey().publicKey)), 'LOA_E_SIGNATURE', /not signed by its session key/);
  for (const at of [3, 10, 22, 30, 40, bytes.length - 70, bytes.length - 1]) {
    const bad = Buffer.from(bytes);
    bad[at] = bad[at]! ^ 0x01;
    assert.throws(() => decodeFrameBatch(bad, pub), undefined, `byte ${at}`);
  }
});

test('malformed batches are refused with what is wrong', () => {
  refused(() => decodeFrameBatch(Buffer.alloc(50), pub), 'LOA_E_LIVE_FRAME', /at least 96 bytes/);
  refused(() => encodeFrameBatch({ ...batch, frames: [] }, key.privateKey), 'LOA_E_LIVE_FRAME', /1–50 frames, not 0/);
  refused(() => encodeFrameBatch({ ...batch, frames: [Buffer.alloc(1276)] }, key.privateKey), 'LOA_E_LIVE_FRAME', /1–1275 bytes/);
  refused(() => encodeFrameBatch({ ...batch, session: 'not-a-uuid' }, key.privateKey), 'LOA_E_LIVE_FRAME', /not a UUID/);
  refused(() => decodeFrameBatch(Buffer.alloc(9000, 0x4c), pub), 'LOA_E_PAYLOAD_TOO_LARGE', /exceeds 8192/);
  refused(() => sessionPublicKey('AAAA'), 'LOA_E_KEY_INVALID', /32 bytes/);
  // A batch whose frame lengths run past its end, correctly signed by the session key (a buggy or hostile sender holding it).
  const good = encodeFrameBatch(batch, key.privateKey);
  const body = Buffer.from(good.subarray(0, good.length - 64));
  body.writeUInt16BE(5000, 32);
  refused(() => decodeFrameBatch(Buffer.concat([body, signWith(body)]), pub), 'LOA_E_LIVE_FRAME', /do not fit/);
});

const signWith = (body: Buffer) => edSign(null, Buffer.concat([Buffer.from('loa/v1/live-frames\n'), body]), key.privateKey);

test.run();
