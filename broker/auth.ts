import { createHash, timingSafeEqual } from 'node:crypto';
import { verifySecret } from '../lib/secrets.js';
import { hasForbiddenIdChars } from '../protocol/ids.js';
import type { Principal, PrincipalSource } from './principals.js';
import type { AclPrincipal } from '../protocol/acl.js';

// Authentication of CONNECT against the principals of the province registry.
//
// scrypt costs tens of milliseconds by design; after a broker restart a few
// thousand clusters reconnect at once. A successful check is therefore
// remembered in memory as sha256(secret) keyed by account and stored hash:
// a rotation changes the stored hash and so misses the cache, a revocation is
// checked on every connect, and nothing of it ever reaches disk.

/** MQTT 3.1.1 CONNACK return codes (MQTT-3.2.2.3). */
export const CONNACK = { IDENTIFIER_REJECTED: 2, SERVER_UNAVAILABLE: 3, BAD_USERNAME_OR_PASSWORD: 4, NOT_AUTHORIZED: 5 } as const;

export type AuthResult = { ok: true; principal: AclPrincipal } | { ok: false; returnCode: (typeof CONNACK)[keyof typeof CONNACK]; reason: string };

export class Authenticator {
  readonly #source: Pick<PrincipalSource, 'principal'>;
  readonly #allowAnonymous: boolean;
  readonly #cache = new Map<string, Buffer>();
  readonly #cacheMax: number;

  constructor(deps: { source: Pick<PrincipalSource, 'principal'>; allowAnonymous: boolean; cacheMax?: number }) {
    this.#source = deps.source;
    this.#allowAnonymous = deps.allowAnonymous;
    this.#cacheMax = deps.cacheMax ?? 20_000;
  }

  async authenticate(clientId: string, username: string | undefined, password: Buffer | undefined): Promise<AuthResult> {
    if (hasForbiddenIdChars(clientId)) return { ok: false, returnCode: CONNACK.IDENTIFIER_REJECTED, reason: 'client id contains +, #, / or NUL' };
    if (username === undefined || username === '') {
      if (this.#allowAnonymous) return { ok: true, principal: { name: clientId || 'anonymous', role: 'console', zone: null, anonymous: true } };
      return { ok: false, returnCode: CONNACK.NOT_AUTHORIZED, reason: 'no username: anonymous connections are not allowed' };
    }
    if (hasForbiddenIdChars(username)) return { ok: false, returnCode: CONNACK.BAD_USERNAME_OR_PASSWORD, reason: 'username contains +, #, / or NUL' };
    const p = this.#source.principal(username);
    if (!p) return { ok: false, returnCode: CONNACK.BAD_USERNAME_OR_PASSWORD, reason: 'unknown username' };
    if (!p.active) return { ok: false, returnCode: CONNACK.NOT_AUTHORIZED, reason: `${p.kind} is revoked` };
    if (!password || password.length === 0) return { ok: false, returnCode: CONNACK.BAD_USERNAME_OR_PASSWORD, reason: 'no password' };
    if (password.length > 512) return { ok: false, returnCode: CONNACK.BAD_USERNAME_OR_PASSWORD, reason: 'password too long' };
    if (!(await this.#secretMatches(p, password.toString('utf8')))) return { ok: false, returnCode: CONNACK.BAD_USERNAME_OR_PASSWORD, reason: 'wrong secret' };
    // MQTT-3.1.3-5 lets a server restrict client ids; ours tie a session to its owner.
    if (p.kind === 'device' ? clientId !== p.name : clientId !== p.name && !clientId.startsWith(p.name + ':')) {
      const rule = p.kind === 'device' ? `must equal the device id "${p.name}"` : `must be "${p.name}" or start with "${p.name}:"`;
      return { ok: false, returnCode: CONNACK.IDENTIFIER_REJECTED, reason: `client id "${clientId}" ${rule}` };
    }
    return { ok: true, principal: { name: p.name, role: p.role, zone: p.zone } };
  }

  /** True while the principal a client authenticated as still has the same credentials and is active. */
  stillValid(name: string, anonymous: boolean, hashAtLogin: string | undefined): boolean {
    if (anonymous) return true;
    const p = this.#source.principal(name);
    return !!p && p.active && p.secretHash === hashAtLogin;
  }

  currentHash(name: string): string | undefined {
    return this.#source.principal(name)?.secretHash;
  }

  async #secretMatches(p: Principal, secret: string): Promise<boolean> {
    const key = `${p.name}\n${p.secretHash}`;
    const digest = createHash('sha256').update(secret).digest();
    const cached = this.#cache.get(key);
    if (cached) return timingSafeEqual(cached, digest);
    const ok = await verifySecret(secret, p.secretHash);
    if (ok) {
      if (this.#cache.size >= this.#cacheMax) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(key, digest);
    }
    return ok;
  }
}
