// Virtual time for timer-driven code (the relay controller, the schedule
// ticker, the player's pre-roll): a tiny scheduler stands in for setTimeout;
// runTo() fires due timers in order at once, advance() also lets promise
// chains settle between them.

export const flush = () => new Promise<void>((r) => setImmediate(r));

export class VirtualTime {
  t = 0;
  #seq = 0;
  #timers: { at: number; seq: number; fn: () => void }[] = [];

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const h = { at: this.t + ms, seq: this.#seq++, fn };
    this.#timers.push(h);
    return h;
  }
  clearTimeout(h: unknown): void {
    this.#timers = this.#timers.filter((x) => x !== h);
  }
  get pending(): number {
    return this.#timers.length;
  }

  #next(end: number) {
    const next = this.#timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
    if (next) {
      this.#timers = this.#timers.filter((x) => x !== next);
      this.t = next.at;
    }
    return next;
  }

  /** Moves to `end`, firing due timers in order, synchronously. */
  runTo(end: number): void {
    for (let n = this.#next(end); n; n = this.#next(end)) n.fn();
    this.t = end;
  }

  /** Moves time to now + ms, firing due timers in order and letting promises settle between them. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      const n = this.#next(end);
      if (!n) break;
      n.fn();
    }
    this.t = end;
    await flush();
  }

  /** advance() to an absolute instant. */
  async advanceTo(t: number): Promise<void> {
    await this.advance(t - this.t);
  }
}
