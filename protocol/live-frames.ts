import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { LoaError } from './errors.js';
import { contractFor } from './contract.js';

// Live audio on the wire (docs/live.md): batches of 20 ms Opus frames on a
// zone's live topic, beside the signed JSON open/close of their session.
// Binary, so a 60-byte frame costs 60 bytes on a metered 3G link:
//
//   0  'L' 'F'        magic (JSON controls start with '{')
//   2  u8  version    1
//   3  u8  count      frames in the batch, 1–50
//   4  16 bytes       session id (the open's UUID)
//  20  u32 BE seq     sequence number of the first frame (each next one +1)
//  24  f64 BE playAt  epoch ms at which the first frame's first sample sounds
//  32  count × (u16 BE length, Opus packet)
//  -64 Ed25519 signature by the session key over 'loa/v1/live-frames\n' + all bytes before it
//
// The session key is a fresh pair per session; its public half travels in
// the open, which the province's live key signs. A frame batch verifies
// only against the key of a session the agent accepted, so whoever can
// merely reach the broker cannot make a horn speak.

const MAGIC = 0x4c46;
const VERSION = 1;
const HEADER = 32;
const SIG = 64;
export const MAX_FRAMES_PER_BATCH = 50;
const DOMAIN = Buffer.from('loa/v1/live-frames\n', 'utf8');

export interface FrameBatch {
  session: string;
  seq: number;
  playAt: number;
  frames: Buffer[];
}

/** Whether a live-topic payload is a frame batch (else it is a JSON control). */
export const isFrameBatch = (bytes: Buffer): boolean => bytes.length >= 2 && bytes.readUInt16BE(0) === MAGIC;

export interface SessionKey {
  /** Raw 32-byte public key, base64url: what the open carries. */
  publicKey: string;
  privateKey: KeyObject;
}

export function newSessionKey(): SessionKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return { publicKey: der.subarray(der.length - 32).toString('base64url'), privateKey };
}

/** The public key an open names, ready to verify with. */
export function sessionPublicKey(raw: string): KeyObject {
  const bytes = Buffer.from(raw, 'base64url');
  if (bytes.length !== 32) throw new LoaError('LOA_E_KEY_INVALID', `a session key is 32 bytes, got ${bytes.length}`);
  // SPKI DER of an Ed25519 key: a fixed 12-byte prefix, then the raw key.
  return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), bytes]), format: 'der', type: 'spki' });
}

const uuidBytes = (id: string): Buffer => Buffer.from(id.replace(/-/g, ''), 'hex');
const uuidString = (b: Buffer): string => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

export function encodeFrameBatch(batch: FrameBatch, key: KeyObject): Buffer {
  const n = batch.frames.length;
  if (n < 1 || n > MAX_FRAMES_PER_BATCH) throw new LoaError('LOA_E_LIVE_FRAME', `a batch carries 1–${MAX_FRAMES_PER_BATCH} frames, not ${n}`);
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(batch.session)) throw new LoaError('LOA_E_LIVE_FRAME', `session id ${batch.session} is not a UUID`);
  const head = Buffer.alloc(HEADER);
  head.writeUInt16BE(MAGIC, 0);
  head.writeUInt8(VERSION, 2);
  head.writeUInt8(n, 3);
  uuidBytes(batch.session).copy(head, 4);
  head.writeUInt32BE(batch.seq >>> 0, 20);
  head.writeDoubleBE(batch.playAt, 24);
  const parts: Buffer[] = [head];
  for (const f of batch.frames) {
    if (f.length < 1 || f.length > 1275) throw new LoaError('LOA_E_LIVE_FRAME', `an Opus packet is 1–1275 bytes, not ${f.length}`);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(f.length, 0);
    parts.push(len, f);
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([body, sign(null, Buffer.concat([DOMAIN, body]), key)]);
}

/** The session a batch claims, read before anything is trusted (to pick the key to verify with). */
export function frameBatchSession(bytes: Buffer): string {
  if (bytes.length < HEADER + SIG) throw new LoaError('LOA_E_LIVE_FRAME', `a frame batch is at least ${HEADER + SIG} bytes, got ${bytes.length}`);
  return uuidString(bytes.subarray(4, 20));
}

/**
 * Parses and verifies a batch: the layout exactly as above (no byte left
 * over, every length inside the message), then the signature by `key`.
 */
export function decodeFrameBatch(bytes: Buffer, key: KeyObject): FrameBatch {
  const max = contractFor('zone-live').maxBytes;
  if (bytes.length > max) throw new LoaError('LOA_E_PAYLOAD_TOO_LARGE', `zone-live frame batch of ${bytes.length} bytes exceeds ${max}`);
  const session = frameBatchSession(bytes);
  if (!isFrameBatch(bytes)) throw new LoaError('LOA_E_LIVE_FRAME', 'not a frame batch (bad magic)');
  if (bytes.readUInt8(2) !== VERSION) throw new LoaError('LOA_E_LIVE_FRAME', `frame batch version ${bytes.readUInt8(2)} is not ${VERSION}`);
  const n = bytes.readUInt8(3);
  if (n < 1 || n > MAX_FRAMES_PER_BATCH) throw new LoaError('LOA_E_LIVE_FRAME', `a batch carries 1–${MAX_FRAMES_PER_BATCH} frames, not ${n}`);
  const end = bytes.length - SIG;
  if (!verify(null, Buffer.concat([DOMAIN, bytes.subarray(0, end)]), key, bytes.subarray(end))) throw new LoaError('LOA_E_SIGNATURE', `frame batch of session ${session} is not signed by its session key`);
  const seq = bytes.readUInt32BE(20);
  const playAt = bytes.readDoubleBE(24);
  if (!Number.isFinite(playAt) || playAt <= 0) throw new LoaError('LOA_E_LIVE_FRAME', 'frame batch has no valid playout instant');
  const frames: Buffer[] = [];
  let at = HEADER;
  for (let i = 0; i < n; i++) {
    if (at + 2 > end) throw new LoaError('LOA_E_LIVE_FRAME', `frame ${i} of ${n}: its length runs past the batch`);
    const len = bytes.readUInt16BE(at);
    at += 2;
    if (len < 1 || at + len > end) throw new LoaError('LOA_E_LIVE_FRAME', `frame ${i} of ${n}: ${len} bytes do not fit in the batch`);
    frames.push(bytes.subarray(at, at + len));
    at += len;
  }
  if (at !== end) throw new LoaError('LOA_E_LIVE_FRAME', `${end - at} bytes after the last frame`);
  return { session, seq, playAt, frames };
}
