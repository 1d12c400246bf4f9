import { randomBytes, randomInt, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

// Secrets at rest are scrypt hashes, never the secret itself:
//   scrypt$<log2 N>$<r>$<p>$<salt base64url>$<hash base64url>
// Hashing runs on libuv's thread pool (async scrypt) so a reconnect storm of
// thousands of devices does not stall the broker's event loop.

export interface ScryptParams {
  logN: number;
  r: number;
  p: number;
}

/** 2^15 × 8 × 1: about 30–60 ms on a server core, 32 MiB of memory per hash. */
export const DEFAULT_SCRYPT: ScryptParams = { logN: 15, r: 8, p: 1 };
const KEYLEN = 32;

function scrypt(secret: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.logN;
  const opts: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(secret.normalize('NFC'), salt, KEYLEN, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashSecret(secret: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, params);
  return `scrypt$${params.logN}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

const HASH_RE = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{32,})$/;

export function isSecretHash(s: string): boolean {
  return HASH_RE.test(s);
}

/** Constant-time comparison against a stored hash; false (never a throw) for a malformed hash. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const m = HASH_RE.exec(stored);
  if (!m) return false;
  const params = { logN: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.logN < 10 || params.logN > 20 || params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16) return false;
  const expected = Buffer.from(m[5]!, 'base64url');
  const key = await scrypt(secret, Buffer.from(m[4]!, 'base64url'), params);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A new random secret for a device or account: 32 bytes, base64url (43 characters). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A panel password an operator can type from a printed sheet: 4 groups of 4 from an unambiguous alphabet (~80 bits). */
export function newPanelPassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  let out = '';
  for (let i = 0; i < 16; i++) {
    if (i > 0 && i % 4 === 0) out += '-';
    out += alphabet[randomInt(alphabet.length)];
  }
  return out;
}

/**
 * What an operator typed, in the form newPanelPassword() prints: phones
 * capitalise the first letter and people drop or space the dashes. Anything
 * not of that form is left as it is (a password the province chose).
 */
export function panelPasswordInput(typed: string): string {
  const t = typed.normalize('NFC').trim();
  const m = /^([a-z0-9]{4})[-\s]?([a-z0-9]{4})[-\s]?([a-z0-9]{4})[-\s]?([a-z0-9]{4})$/i.exec(t);
  return m ? m.slice(1).join('-').toLowerCase() : t;
}
