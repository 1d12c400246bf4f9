import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../../lib/sqlite.js';
import type { Registry } from '../registry.js';
import type { Principal } from './access.js';

// Console sessions: a random id in an HttpOnly, SameSite=Strict cookie, kept
// in the registry only as its sha256 (a stolen database does not yield live
// sessions), expiring after `ttlMs`. Each session has a CSRF token the page
// sends back in a header on every change (double submit with a same-site
// cookie). Logins are throttled per account and per address (lib/http-auth.ts).
// The sessions table is this module's: its SQL lives here alone, on the
// registry's connection (Registry.openStore).

export const SESSION_COOKIE = 'loa_session';
const hash = (id: string) => createHash('sha256').update(id).digest('hex');

export class Sessions {
  readonly #reg: Registry;
  readonly #db: Db;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(reg: Registry, opts: { ttlMs?: number; now?: () => number } = {}) {
    this.#reg = reg;
    this.#db = reg.openStore((db) => db);
    this.#ttlMs = opts.ttlMs ?? 12 * 3600_000;
    this.#now = opts.now ?? Date.now;
  }

  create(account: string): { id: string; csrf: string; expiresAt: string } {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    const now = this.#now();
    const expiresAt = new Date(now + this.#ttlMs).toISOString();
    this.#db.prepare('INSERT INTO sessions (id_hash, account, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)').run(hash(id), account, csrf, new Date(now).toISOString(), expiresAt);
    this.#db.prepare('DELETE FROM sessions WHERE expires_at < ?').run(new Date(now).toISOString());
    return { id, csrf, expiresAt };
  }

  /** The live session's account and CSRF token, or null (unknown, expired, or the account revoked). */
  lookup(id: string | undefined): { principal: Principal; csrf: string } | null {
    if (!id || id.length > 100) return null;
    const row = this.#db.prepare('SELECT account, csrf, expires_at FROM sessions WHERE id_hash = ?').get(hash(id)) as { account: string; csrf: string; expires_at: string } | undefined;
    if (!row) return null;
    if (Date.parse(row.expires_at) <= this.#now()) {
      this.destroy(id);
      return null;
    }
    const a = this.#reg.account(row.account);
    if (!a || a.status !== 'active') return null;
    return { principal: { name: a.name, role: a.role, zone: a.zone }, csrf: row.csrf };
  }

  destroy(id: string): void {
    this.#db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(hash(id));
  }
}
