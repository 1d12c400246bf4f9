import { z } from 'zod';
import { LoaError } from './errors.js';
import { contractFor, type TopicKind } from './contract.js';
import { ChunkHeader } from './payloads.js';
import { SignedEnvelope, type Signed, type SignPurpose, type Verifier } from './signing.js';

// Payloads are `unknown` until one of these functions says otherwise. Each
// failure is a LoaError with a code a caller can report back and a message a
// technician can act on.

export function schemaError(what: string, error: z.ZodError): LoaError {
  return new LoaError('LOA_E_PAYLOAD_SCHEMA', `${what}: ${z.prettifyError(error).replace(/\n\s*/g, ' ')}`, { context: { issues: error.issues.slice(0, 10) } });
}

export function parseJson(bytes: Buffer | string, what: string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (e) {
    throw new LoaError('LOA_E_PAYLOAD_JSON', `${what} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The one "parse with a schema or fail with a coded error" of the code base:
 * MQTT payloads (below), HTTP bodies and queries of the console and the
 * panel (an absent body is passed as `{}` by the route), stored documents.
 */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw schemaError(what, r.error);
  return r.data;
}

function checkSize(kind: TopicKind, bytes: Buffer | string): void {
  const n = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
  const max = contractFor(kind).maxBytes;
  if (n > max) throw new LoaError('LOA_E_PAYLOAD_TOO_LARGE', `${kind} payload of ${n} bytes exceeds ${max}`, { context: { kind, bytes: n, max } });
}

/** Decodes an unsigned JSON payload of the given topic kind. */
export function decodePayload<S extends z.ZodType>(kind: TopicKind, schema: S, bytes: Buffer | string): z.output<S> {
  checkSize(kind, bytes);
  return parseWith(schema, parseJson(bytes, kind), `${kind} payload`);
}

export function encodePayload(kind: TopicKind, value: unknown): Buffer {
  const buf = Buffer.from(JSON.stringify(value), 'utf8');
  checkSize(kind, buf);
  return buf;
}

/**
 * Decodes a signed payload: size, JSON, envelope shape, signature, then the
 * payload schema. Any step failing throws; nothing of an unverified payload
 * is returned.
 */
export function decodeSigned<S extends z.ZodType>(kind: TopicKind, purpose: SignPurpose, schema: S, bytes: Buffer | string, verifier: Verifier): { payload: z.output<S>; kid: string } {
  checkSize(kind, bytes);
  const env = parseWith(SignedEnvelope, parseJson(bytes, kind), `${kind} envelope`);
  const raw = verifier.verify(purpose, env);
  return { payload: parseWith(schema, raw, `${kind} payload`), kid: env.kid };
}

export function encodeSigned(kind: TopicKind, signed: Signed<unknown>): Buffer {
  return encodePayload(kind, signed);
}

// ------------------------------------------------------------- chunk frames
// A chunk response is binary so 64 KiB of audio costs 64 KiB on a metered
// 3G link, not 85 KiB of base64: [u16 BE header length][JSON header][bytes].

export function encodeChunkFrame(header: ChunkHeader, data?: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  if (h.length > 0xffff) throw new LoaError('LOA_E_CHUNK_FRAME', 'chunk header too long');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(h.length, 0);
  return Buffer.concat([len, h, data ?? Buffer.alloc(0)]);
}

export function decodeChunkFrame(frame: Buffer): { header: ChunkHeader; data: Buffer } {
  checkSize('chunk/res', frame);
  if (frame.length < 2) throw new LoaError('LOA_E_CHUNK_FRAME', 'chunk frame shorter than its length prefix');
  const hlen = frame.readUInt16BE(0);
  if (2 + hlen > frame.length) throw new LoaError('LOA_E_CHUNK_FRAME', `chunk header length ${hlen} runs past the frame (${frame.length} bytes)`);
  const header = parseWith(ChunkHeader, parseJson(frame.subarray(2, 2 + hlen), 'chunk header'), 'chunk header');
  const data = frame.subarray(2 + hlen);
  if ('error' in header) {
    if (data.length) throw new LoaError('LOA_E_CHUNK_FRAME', 'error frame carries data');
  } else {
    const expected = Math.min(header.size, header.total - header.index * header.size);
    if (expected <= 0) throw new LoaError('LOA_E_CHUNK_FRAME', `chunk ${header.index} lies past the end of a ${header.total}-byte asset`);
    if (data.length !== expected) throw new LoaError('LOA_E_CHUNK_FRAME', `chunk ${header.index} carries ${data.length} bytes, expected ${expected}`);
  }
  return { header, data };
}
