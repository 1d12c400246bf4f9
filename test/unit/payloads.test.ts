import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomUUID } from 'node:crypto';
import { EmergencyCommand, TargetState, LogBatch, Telemetry } from '../../protocol/payloads.js';
import { decodeChunkFrame, decodePayload, encodeChunkFrame, decodeSigned } from '../../protocol/codec.js';
import { generateSigningKeyPair, Signer, Verifier } from '../../protocol/signing.js';
import { isLoaError, type ErrorCode } from '../../protocol/errors.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const now = '2026-11-26T01:00:00.000Z';

function throwsCode(fn: () => unknown, code: ErrorCode, match?: RegExp) {
  try {
    fn();
  } catch (e) {
    assert.ok(isLoaError(e, code), `expected ${code}, got ${String(e)}`);
    if (match) assert.match((e as Error).message, match);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

const target = {
  device: 't3a',
  zone: 'qn/dak-ha/thon-3',
  version: 7,
  issuedAt: now,
  assets: [{ sha256: 'a'.repeat(64), size: 1000, durationMs: 5000, mime: 'audio/ogg', title: 'Bản tin sáng' }],
  programmes: [{ id: 'ban-tin-sang', title: 'Bản tin sáng', level: 'normal', playlist: ['a'.repeat(64)], recurrence: { kind: 'weekly', days: [1, 3, 5], time: '06:30' }, resumable: true, zones: ['qn'] }],
  rules: [{ zone: 'qn', windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '05:00', end: '21:00', volumeCap: 80 }], blackoutDates: ['2026-12-25'] }],
};

test('a full target state parses', () => {
  const t = TargetState.parse(target);
  assert.is(t.programmes[0]!.title, 'Bản tin sáng');
});

test('unknown fields, bad times and decomposed diacritics are refused with the path', () => {
  throwsCode(() => decodePayload('target', TargetState, JSON.stringify({ ...target, extra: 1 })), 'LOA_E_PAYLOAD_SCHEMA', /extra/);
  throwsCode(() => decodePayload('target', TargetState, JSON.stringify({ ...target, rules: [{ ...target.rules[0], windows: [{ days: [1], start: '25:00', end: '21:00', volumeCap: 80 }] }] })), 'LOA_E_PAYLOAD_SCHEMA', /HH:MM/);
  const nfd = 'Bản tin sáng'.normalize('NFD');
  throwsCode(() => decodePayload('target', TargetState, JSON.stringify({ ...target, programmes: [{ ...target.programmes[0], title: nfd }] })), 'LOA_E_PAYLOAD_SCHEMA', /NFC/);
  throwsCode(() => decodePayload('target', TargetState, '{"device":'), 'LOA_E_PAYLOAD_JSON');
  throwsCode(() => decodePayload('telemetry', Telemetry, Buffer.alloc(8 * 1024, 32)), 'LOA_E_PAYLOAD_TOO_LARGE');
});

test('emergency commands: start and cancel share one schema; scope must name something', () => {
  const base = { id: randomUUID(), issuedAt: now, expiresAt: now };
  assert.is(EmergencyCommand.parse({ ...base, type: 'start', scope: { zones: ['qn'] }, level: 3, mode: 'exercise', content: { kind: 'standard', clip: 'siren' }, repeat: 2 }).type, 'start');
  assert.is(EmergencyCommand.parse({ ...base, type: 'cancel', cancels: randomUUID(), scope: { devices: ['t3a'] } }).type, 'cancel');
  assert.not.ok(EmergencyCommand.safeParse({ ...base, type: 'cancel', cancels: randomUUID(), scope: {} }).success);
  assert.not.ok(EmergencyCommand.safeParse({ ...base, type: 'start', scope: { zones: ['qn'] }, level: 6, mode: 'actual', content: { kind: 'standard', clip: 'siren' }, repeat: 1 }).success);
});

test('a signed payload is verified before its schema is applied', () => {
  const kp = generateSigningKeyPair();
  const v = new Verifier([kp.publicKey]);
  const env = new Signer(kp.privateKey).sign('target', target);
  assert.is(decodeSigned('target', 'target', TargetState, JSON.stringify(env), v).payload.version, 7);
  const tampered = { ...env, payload: { ...target, version: 8 } };
  throwsCode(() => decodeSigned('target', 'target', TargetState, JSON.stringify(tampered), v), 'LOA_E_SIGNATURE');
  const badSchema = new Signer(kp.privateKey).sign('target', { ...target, version: 0 });
  throwsCode(() => decodeSigned('target', 'target', TargetState, JSON.stringify(badSchema), v), 'LOA_E_PAYLOAD_SCHEMA');
  throwsCode(() => decodeSigned('target', 'target', TargetState, JSON.stringify({ payload: target }), v), 'LOA_E_PAYLOAD_SCHEMA');
});

test('log batches are bounded and typed per kind', () => {
  const rec = { key: 't3a:000001', at: now, kind: 'emergency-ack', data: { emergency: randomUUID(), status: 'received' } };
  assert.is(LogBatch.parse({ batch: randomUUID(), records: [rec] }).records.length, 1);
  assert.not.ok(LogBatch.safeParse({ batch: randomUUID(), records: [{ ...rec, data: { status: 'received' } }] }).success);
  assert.not.ok(LogBatch.safeParse({ batch: randomUUID(), records: [] }).success);
});

test('chunk frames round-trip and every malformation is caught', () => {
  const data = Buffer.alloc(20000, 7);
  const header = { asset: sha(Buffer.from('x')), index: 1, size: 32768, total: 32768 + 20000, sha256: sha(data) };
  const f = encodeChunkFrame(header, data);
  const d = decodeChunkFrame(f);
  assert.equal(d.header, header);
  assert.ok(d.data.equals(data));
  throwsCode(() => decodeChunkFrame(f.subarray(0, 1)), 'LOA_E_CHUNK_FRAME');
  throwsCode(() => decodeChunkFrame(f.subarray(0, f.length - 1)), 'LOA_E_CHUNK_FRAME', /expected 20000/);
  const bogusLen = Buffer.from(f);
  bogusLen.writeUInt16BE(60000, 0);
  throwsCode(() => decodeChunkFrame(bogusLen), 'LOA_E_CHUNK_FRAME', /runs past/);
  throwsCode(() => decodeChunkFrame(encodeChunkFrame({ ...header, index: 5 }, data)), 'LOA_E_CHUNK_FRAME', /past the end/);
  const err = decodeChunkFrame(encodeChunkFrame({ asset: header.asset, index: 0, error: { code: 'LOA_E_ASSET_UNKNOWN', message: 'no such asset' } }));
  assert.ok('error' in err.header);
});

test.run();
