import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { LoaError } from './errors.js';

// Ed25519 signatures over a canonical serialisation.
//
// Canonical form: JSON with object keys sorted by UTF-16 code unit order, no
// whitespace, no `undefined`, finite numbers only, strings as JSON.stringify
// writes them. That is the RFC 8785 (JCS) ordering; integers and short decimals
// (all Loa payloads use) serialise identically under JCS and JSON.stringify.
//
// The signed message is `loa/v1/<purpose>\n<canonical payload>`: the purpose
// prefix separates domains, so a signed target state can never be replayed as
// an emergency command or a time beacon.

export type SignPurpose = 'target' | 'emergency' | 'time' | 'live';

export function canonicalJson(value: unknown): string {
  return write(value, []);
}

function write(v: unknown, path: string[]): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw canonErr(path, 'a non-finite number');
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) return '[' + v.map((x, i) => write(x, [...path, String(i)])).join(',') + ']';
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw canonErr(path, `an object of class ${proto?.constructor?.name ?? '?'}`);
      const keys = Object.keys(v as object)
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + write((v as Record<string, unknown>)[k], [...path, k])).join(',') + '}';
    }
    default:
      throw canonErr(path, `a ${typeof v}`);
  }
}

function canonErr(path: string[], what: string): LoaError {
  return new LoaError('LOA_E_CANONICAL', `cannot serialise ${what} at ${path.length ? path.join('.') : '(root)'}`, { context: { path: path.join('.') } });
}

export function signedMessage(purpose: SignPurpose, payload: unknown): Buffer {
  return Buffer.from(`loa/v1/${purpose}\n${canonicalJson(payload)}`, 'utf8');
}

export interface KeyPairPem {
  publicKey: string;
  privateKey: string;
}

export function generateSigningKeyPair(): KeyPairPem {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export function loadPublicKey(pem: string): KeyObject {
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an ed25519 key, got ${key.asymmetricKeyType}`);
    return key;
  } catch (e) {
    throw new LoaError('LOA_E_KEY_INVALID', `public key cannot be loaded: ${(e as Error).message}`, { cause: e });
  }
}

export function loadPrivateKey(pem: string): KeyObject {
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an ed25519 key, got ${key.asymmetricKeyType}`);
    return key;
  } catch (e) {
    throw new LoaError('LOA_E_KEY_INVALID', `private key cannot be loaded: ${(e as Error).message}`, { cause: e });
  }
}

/** Key id: the first 16 hex digits of sha256 over the raw 32-byte public key. */
export function keyId(publicKey: KeyObject | string): string {
  const key = typeof publicKey === 'string' ? loadPublicKey(publicKey) : publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
  const der = key.export({ type: 'spki', format: 'der' });
  const raw = der.subarray(der.length - 32);
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

/** A signed payload as it travels: the payload itself, the signer's key id and the signature. */
export const SignedEnvelope = z.strictObject({
  payload: z.unknown(),
  kid: z.string().regex(/^[0-9a-f]{16}$/),
  sig: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'must be a base64 Ed25519 signature'),
});
export type SignedEnvelope = z.infer<typeof SignedEnvelope>;

export interface Signed<T> {
  payload: T;
  kid: string;
  sig: string;
}

export class Signer {
  readonly kid: string;
  readonly #key: KeyObject;
  constructor(privateKeyPem: string) {
    this.#key = loadPrivateKey(privateKeyPem);
    this.kid = keyId(createPublicKey(this.#key));
  }
  sign<T>(purpose: SignPurpose, payload: T): Signed<T> {
    const sig = sign(null, signedMessage(purpose, payload), this.#key).toString('base64');
    return { payload, kid: this.kid, sig };
  }
}

/** Verifies envelopes against a set of trusted public keys (old and new during a rotation). */
export class Verifier {
  readonly #keys = new Map<string, KeyObject>();
  constructor(publicKeysPem: readonly string[]) {
    for (const pem of publicKeysPem) {
      const key = loadPublicKey(pem);
      this.#keys.set(keyId(key), key);
    }
  }
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }
  /**
   * Returns the still-unparsed payload when the signature verifies; throws
   * LOA_E_KEY_UNKNOWN or LOA_E_SIGNATURE otherwise. The caller parses the
   * payload with its schema afterwards: a valid signature does not make a
   * payload well-formed (a signer may run an older or newer version).
   */
  verify(purpose: SignPurpose, envelope: SignedEnvelope): unknown {
    const key = this.#keys.get(envelope.kid);
    if (!key) throw new LoaError('LOA_E_KEY_UNKNOWN', `signed by key ${envelope.kid}, which is not trusted here`, { context: { kid: envelope.kid, trusted: this.keyIds } });
    let message: Buffer;
    try {
      message = signedMessage(purpose, envelope.payload);
    } catch (e) {
      throw new LoaError('LOA_E_SIGNATURE', 'signed payload cannot be canonicalised', { cause: e });
    }
    const ok = verify(null, message, key, Buffer.from(envelope.sig, 'base64'));
    if (!ok) throw new LoaError('LOA_E_SIGNATURE', `${purpose} signature does not verify against key ${envelope.kid}`, { context: { kid: envelope.kid, purpose } });
    return envelope.payload;
  }
}
