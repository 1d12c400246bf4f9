// Connection rate limiting: a global token bucket protects the broker's CPU
// (every CONNECT may cost a scrypt), a per-address bucket keeps one noisy
// source from using all of it. Mobile carriers put many villages behind one
// CGNAT address, so the per-address default is generous and configurable;
// devices back off with jitter when refused.

export class TokenBucket {
  #tokens: number;
  #last: number;
  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#last = now;
  }
  take(now: number): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.ratePerSec);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
  full(now: number): boolean {
    return Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.ratePerSec) >= this.burst;
  }
}

export interface RateLimitConfig {
  globalPerSec: number;
  globalBurst: number;
  perAddressPerSec: number;
  perAddressBurst: number;
}

export class ConnectionRateLimiter {
  readonly #global: TokenBucket;
  readonly #perAddress = new Map<string, TokenBucket>();
  readonly #cfg: RateLimitConfig;
  constructor(cfg: RateLimitConfig, now: number) {
    this.#cfg = cfg;
    this.#global = new TokenBucket(cfg.globalPerSec, cfg.globalBurst, now);
  }
  /** null when the connection may proceed, otherwise why not. */
  admit(address: string, now: number): 'address' | 'global' | null {
    let b = this.#perAddress.get(address);
    if (!b) {
      // Forget buckets that have refilled, so the map cannot grow without bound.
      if (this.#perAddress.size > 10_000) for (const [k, v] of this.#perAddress) if (v.full(now)) this.#perAddress.delete(k);
      b = new TokenBucket(this.#cfg.perAddressPerSec, this.#cfg.perAddressBurst, now);
      this.#perAddress.set(address, b);
    }
    if (!b.take(now)) return 'address';
    if (!this.#global.take(now)) return 'global';
    return null;
  }
}
