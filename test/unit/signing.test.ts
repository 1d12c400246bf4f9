import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson, generateSigningKeyPair, keyId, Signer, Verifier, SignedEnvelope } from '../../protocol/signing.js';
import { isLoaError } from '../../protocol/errors.js';

test('canonical JSON sorts keys at every depth and drops undefined', () => {
  assert.is(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  assert.is(canonicalJson({ 'ệ': 1, e: 2 }), '{"e":2,"ệ":1}');
});

test('canonical JSON refuses what JSON cannot carry', () => {
  for (const bad of [{ n: NaN }, { n: Infinity }, { d: new Date(0) }, { f: () => 1 }, { b: 1n }]) {
    try {
      canonicalJson(bad);
      assert.unreachable(`accepted ${String(Object.keys(bad))}`);
    } catch (e) {
      assert.ok(isLoaError(e, 'LOA_E_CANONICAL'), String(e));
    }
  }
});

test('a signature verifies after a JSON round trip with keys in another order', () => {
  const kp = generateSigningKeyPair();
  const signer = new Signer(kp.privateKey);
  const env = signer.sign('emergency', { id: 'x', scope: { zones: ['qn'] }, title: 'Bão số 5 — sơ tán' });
  const wire = JSON.parse(JSON.stringify({ sig: env.sig, payload: { title: env.payload.title, scope: env.payload.scope, id: env.payload.id }, kid: env.kid }));
  const v = new Verifier([kp.publicKey]);
  assert.equal(v.verify('emergency', SignedEnvelope.parse(wire)), env.payload);
  assert.is(env.kid, keyId(kp.publicKey));
});

test('a changed payload, another purpose, another key or an unknown key fail', () => {
  const a = generateSigningKeyPair();
  const b = generateSigningKeyPair();
  const env = new Signer(a.privateKey).sign('target', { version: 3 });
  const v = new Verifier([a.publicKey]);
  const expect = (fn: () => unknown, code: 'LOA_E_SIGNATURE' | 'LOA_E_KEY_UNKNOWN') => {
    try {
      fn();
      assert.unreachable('verified');
    } catch (e) {
      assert.ok(isLoaError(e, code), `expected ${code}, got ${String(e)}`);
    }
  };
  expect(() => v.verify('target', { ...env, payload: { version: 4 } }), 'LOA_E_SIGNATURE');
  expect(() => v.verify('emergency', env), 'LOA_E_SIGNATURE');
  const forged = new Signer(b.privateKey).sign('target', { version: 3 });
  expect(() => v.verify('target', { ...forged, kid: env.kid }), 'LOA_E_SIGNATURE');
  expect(() => v.verify('target', forged), 'LOA_E_KEY_UNKNOWN');
  // During a key rotation both keys are trusted.
  assert.equal(new Verifier([a.publicKey, b.publicKey]).verify('target', forged), { version: 3 });
});

test('malformed keys are coded errors', () => {
  try {
    new Verifier(['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n']);
    assert.unreachable();
  } catch (e) {
    assert.ok(isLoaError(e, 'LOA_E_KEY_INVALID'));
  }
});

test.run();
