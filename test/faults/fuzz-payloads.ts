import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { generateSigningKeyPair, Signer, type SignPurpose } from '../../protocol/signing.js';

// Hostile payloads for the fuzz case of the fault suite (fuzz.test.ts), made
// from a seeded PRNG so that a failure is replayed by running the same seed:
// random bytes, truncated and bit-flipped copies of valid payloads, valid
// JSON of the wrong shape, strings as long as the topic allows, deep
// nesting, numbers JSON should not carry, text that is not NFC or holds
// control characters, and for signed topics wrong signatures, a valid
// signature over a different payload, correctly signed payloads that break
// the schema, and replays of old valid messages.

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Rand {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) | 0;
    let t = Math.imul(this.#a ^ (this.#a >>> 15), 1 | this.#a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** 0 ≤ n < max. */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  hex(n: number): string {
    return this.bytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
  }
  /** An RFC 9562 version-4 UUID. */
  uuid(): string {
    const b = this.bytes(16);
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = b.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}

/** A JSON token written as it is: what JSON.stringify cannot produce (NaN, 1e999, a lone surrogate, a duplicate key). */
export class Raw {
  constructor(readonly text: string) {}
}

export function toJson(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

const NUMBERS = [new Raw('NaN'), new Raw('Infinity'), new Raw('-Infinity'), new Raw('1e999'), new Raw('-1e999'), new Raw('1e-400'), new Raw('-0'), new Raw('01'), new Raw('0x10'), -1, -2147483649, 0.5, 1e308, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER];
const TEXTS = [
  '',
  ' ',
  'Thông báo khẩn của Ủy ban nhân dân xã'.normalize('NFD'),
  'Diễn tập\u0000phòng chống lụt bão',
  '\u0007\u001b[2J\u001b[31mBÁO ĐỘNG',
  '\u202eevil.wav',
  new Raw('"\\ud800 lone surrogate"'),
  '\ufeffbom',
  'a\u200d\u200b\u2060b',
  '<img src=x onerror=alert(1)>',
  '../../../../etc/passwd',
  '%s%s%n%x',
  '${process.exit(1)}',
  '1970-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '2026-02-30T25:61:61Z',
  'LOA_E_',
  'qn/../qn',
  'Ư'.repeat(201),
];
const SHAPES = [null, true, false, [], {}, [[[[[]]]]], new Raw('{"__proto__":{"polluted":true}}'), new Raw('{"constructor":{"prototype":{"polluted":true}}}'), new Raw('{"id":1,"id":2}')];

/** A value no field should accept as it is. */
export function hostileLeaf(r: Rand): unknown {
  const k = r.int(10);
  if (k < 4) return r.pick(NUMBERS);
  if (k < 8) return r.pick(TEXTS);
  return r.pick(SHAPES);
}

type Path = (string | number)[];
function paths(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (v !== null && typeof v === 'object' && !(v instanceof Raw)) for (const [k, x] of Object.entries(v)) paths(x, [...at, Array.isArray(v) ? Number(k) : k], out);
  return out;
}
function setAt(root: unknown, p: Path, fn: (old: unknown, parent: Record<string | number, unknown>, key: string | number) => void): unknown {
  if (!p.length) {
    const box: Record<string, unknown> = { v: root };
    fn(root, box, 'v');
    return box.v;
  }
  let o = root as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const key = p.at(-1)!;
  fn(o[key], o, key);
  return root;
}

/** A copy of a JSON value with one to three hostile changes: a field replaced, removed, added, or wrapped. */
export function mutate(r: Rand, value: unknown): unknown {
  let v = JSON.parse(JSON.stringify(value)) as unknown;
  for (let n = 1 + r.int(3); n > 0; n--) {
    const all = paths(v);
    const p = r.pick(all);
    v = setAt(v, p, (old, parent, key) => {
      const op = r.int(6);
      if (op === 0 && p.length && !Array.isArray(parent)) delete parent[key];
      else if (op === 1 && old !== null && typeof old === 'object' && !Array.isArray(old)) (old as Record<string, unknown>)[r.pick(['extra', '__proto__', 'id', 'sig', 'payload'])] = hostileLeaf(r);
      else if (op === 2) parent[key] = [old];
      else parent[key] = hostileLeaf(r);
    });
  }
  return v;
}

export function truncate(r: Rand, b: Buffer): Buffer {
  return b.subarray(0, r.int(b.length));
}

export function bitFlip(r: Rand, b: Buffer): Buffer {
  const c = Buffer.from(b);
  for (let n = 1 + r.int(8); n > 0 && c.length; n--) {
    const i = r.int(c.length);
    c[i] = c[i]! ^ (1 << r.int(8));
  }
  return c;
}

/** Arrays or objects nested as deep as `bytes` allows. */
export function deep(r: Rand, bytes: number): string {
  if (r.int(2)) {
    const d = Math.floor(bytes / 2);
    return '['.repeat(d) + ']'.repeat(d);
  }
  const d = Math.floor(bytes / 6);
  return '{"a":'.repeat(d) + '1' + '}'.repeat(d);
}

/** The value with one of its strings (or, with none, a new field) as long as the whole may be within `maxBytes`. */
export function huge(r: Rand, value: unknown, maxBytes: number): unknown {
  const v = JSON.parse(JSON.stringify(value)) as unknown;
  const strings = paths(v).filter((p) => p.length && typeof get(v, p) === 'string');
  const unit = r.pick(['A', 'ệ', '\u0000', '"']);
  const room = Math.max(0, maxBytes - Buffer.byteLength(toJson(v)) - 64);
  const s = unit.repeat(Math.floor(room / Buffer.byteLength(JSON.stringify(unit).slice(1, -1))));
  if (!strings.length) return { ...(v as object), huge: s };
  return setAt(v, r.pick(strings), (_, parent, key) => (parent[key] = s));
}
function get(v: unknown, p: Path): unknown {
  let o = v as Record<string | number, unknown> | undefined;
  for (const k of p) o = o?.[k] as Record<string | number, unknown> | undefined;
  return o;
}

/** A topic to fuzz: how to make a valid payload, and for a signed one, how it is signed and what its receiver checks. */
export interface FuzzTopic {
  topic: string;
  maxBytes: number;
  /** A valid payload (a fresh one each call): for a signed topic, what goes inside the envelope. */
  valid: () => unknown;
  /** Valid payloads of other topics: right JSON, wrong shape. */
  others: () => unknown[];
  signed?: { purpose: SignPurpose; signer: Signer; schema: z.ZodType; otherPurpose: SignPurpose };
  /** Old valid messages, as they were sent. */
  replays?: Buffer[];
  /** Binary frames instead of JSON (chunk responses). */
  frame?: (header: unknown, data: Buffer) => Buffer;
}

export interface Hostile {
  kind: string;
  payload: Buffer;
}

const stranger = new Signer(generateSigningKeyPair().privateKey);

/** One hostile payload for `t`, never larger than it allows and never one its receiver should accept. */
export function hostile(r: Rand, t: FuzzTopic): Hostile {
  const fit = (kind: string, payload: Buffer | string): Hostile => {
    const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
    return { kind, payload: b.length > t.maxBytes ? b.subarray(0, t.maxBytes) : b };
  };
  const s = t.signed;
  const envelope = (payload: unknown) => (s ? s.signer.sign(s.purpose, payload) : payload);
  const validBytes = () => (t.frame ? (t.valid() as Buffer) : Buffer.from(JSON.stringify(envelope(t.valid()))));
  const kinds = ['random-bytes', 'truncated', 'bit-flipped', 'wrong-shape', 'huge', 'deep', 'hostile-fields', ...(t.replays?.length ? ['replay'] : []), ...(s ? ['wrong-signature', 'signature-of-another-payload', 'signed-malformed', 'wrong-purpose'] : []), ...(t.frame ? ['frame-lies'] : [])];
  const kind = r.pick(kinds);
  switch (kind) {
    case 'random-bytes':
      return fit(kind, r.bytes(r.int(8) === 0 ? r.int(t.maxBytes) : r.int(600)));
    case 'truncated':
      return fit(kind, truncate(r, validBytes()));
    case 'bit-flipped':
      return fit(kind, bitFlip(r, validBytes()));
    case 'wrong-shape':
      return fit(kind, toJson(r.int(2) ? r.pick(t.others()) : hostileLeaf(r)));
    case 'huge':
      if (t.frame) return fit(kind, t.frame(huge(r, { asset: r.hex(64), index: 0, size: 65536, total: 1, sha256: r.hex(64) }, 2000), Buffer.alloc(0)));
      return fit(kind, toJson(s ? { ...s.signer.sign(s.purpose, t.valid()), payload: huge(r, t.valid(), t.maxBytes - 300) } : huge(r, t.valid(), t.maxBytes)));
    case 'deep':
      if (t.frame) return fit(kind, t.frame(new Raw(deep(r, 60_000)), Buffer.alloc(0)));
      return fit(kind, s && r.int(2) ? `{"payload":${deep(r, t.maxBytes - 200)},"kid":"${s.signer.kid}","sig":"${'A'.repeat(86)}=="}` : deep(r, t.maxBytes - 8));
    case 'hostile-fields': {
      if (t.frame) return fit(kind, t.frame(mutate(r, { asset: r.hex(64), index: 0, size: 65536, total: 70000, sha256: r.hex(64) }), r.bytes(r.int(2000))));
      const bad = mutate(r, t.valid());
      // Signed by someone else's key under the province's kid, or with the signature of the payload before the change.
      return fit(kind, toJson(s ? { payload: bad, kid: s.signer.kid, sig: (r.int(2) ? stranger : s.signer).sign(s.purpose, t.valid()).sig } : bad));
    }
    case 'replay':
      return fit(kind, r.pick(t.replays!));
    case 'wrong-signature': {
      const payload = t.valid();
      const how = r.int(4);
      if (how === 0) return fit(kind, toJson({ payload, kid: s!.signer.kid, sig: `${r.bytes(64).toString('base64').slice(0, 86)}==` }));
      if (how === 1) return fit(kind, toJson({ ...stranger.sign(s!.purpose, payload), kid: s!.signer.kid }));
      if (how === 2) return fit(kind, toJson(stranger.sign(s!.purpose, payload)));
      return fit(kind, toJson({ payload, kid: r.hex(16), sig: s!.signer.sign(s!.purpose, payload).sig.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }));
    }
    case 'signature-of-another-payload':
      return fit(kind, toJson({ ...s!.signer.sign(s!.purpose, t.valid()), payload: t.valid() }));
    case 'signed-malformed': {
      // Signed with the province's own key, so only the schema stands between it and the horn: never one the schema takes.
      for (;;) {
        const text = toJson(r.int(3) ? mutate(r, t.valid()) : r.pick(t.others()));
        if (!isJson(text)) return fit(kind, `{"payload":${text},"kid":"${s!.signer.kid}","sig":"${'A'.repeat(86)}=="}`);
        const parsed = JSON.parse(text) as unknown;
        if (s!.schema.safeParse(parsed).success) continue;
        try {
          return fit(kind, JSON.stringify(s!.signer.sign(s!.purpose, parsed)));
        } catch {
          // Not canonicalisable (1e999 parses as Infinity): nobody can sign it, the province no more than a forger.
          return fit(kind, `{"payload":${text},"kid":"${s!.signer.kid}","sig":"${'A'.repeat(86)}=="}`);
        }
      }
    }
    case 'wrong-purpose':
      return fit(kind, JSON.stringify(s!.signer.sign(s!.otherPurpose, t.valid())));
    case 'frame-lies': {
      const header = Buffer.from(JSON.stringify({ asset: r.hex(64), index: r.int(4), size: 65536, total: 200_000, sha256: r.hex(64) }));
      const len = r.pick([0, 1, header.length + 1 + r.int(100), 0xffff]);
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(len, 0);
      return fit(kind, Buffer.concat([prefix, header, r.bytes(r.int(3000))]));
    }
  }
  throw new Error(`no generator for ${kind}`);
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
