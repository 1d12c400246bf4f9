import { timingSafeEqual } from 'node:crypto';

// What the province console and the village panel share about logging in:
// the CSRF double-submit check and the back-off after failed logins.

export function csrfMatches(expected: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Exponential back-off after failed logins, per key (account name, address):
 * free attempts, then 1 s, 2 s, 4 s … up to `maxDelayMs` before the next one
 * is even checked. A success clears the account's record.
 */
export class LoginThrottle {
  #fails = new Map<string, { count: number; until: number }>();
  constructor(
    readonly freeAttempts = 5,
    readonly maxDelayMs = 15 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds to wait before this key may try again (0: now). */
  waitMs(key: string): number {
    const f = this.#fails.get(key);
    return f ? Math.max(0, f.until - this.now()) : 0;
  }

  failed(key: string): void {
    const f = this.#fails.get(key) ?? { count: 0, until: 0 };
    f.count++;
    // The attempt after the last free one already waits.
    const over = f.count - this.freeAttempts + 1;
    f.until = over > 0 ? this.now() + Math.min(this.maxDelayMs, 1000 * 2 ** (over - 1)) : 0;
    this.#fails.set(key, f);
    if (this.#fails.size > 50_000) this.#fails.delete(this.#fails.keys().next().value!);
  }

  succeeded(key: string): void {
    this.#fails.delete(key);
  }
}
