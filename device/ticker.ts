import type { Logger } from '../lib/log.js';
import type { PlayRequest } from './arbiter.js';

// Wakes the scheduler when its next item is due, instead of on a fixed grid:
// a 500 ms interval started programmes 0–500 ms late, depending on when the
// agent happened to boot, and four horns of one commune drifted that far
// apart (docs/benchmarks.md, start-skew). The Scheduler itself stays free of
// timers (it is given the time); this class owns the one timer:
//
// - after every tick it asks the scheduler for its next due instant and arms
//   a timeout for it, never longer than `maxWaitMs` (a clock step, a beacon
//   correction or a new plan is noticed within that);
// - `leadMs` before that instant it gives the player the requests due then,
//   so the decoder and the amplifier are ready when it comes (pre-roll);
// - rearm() looks again at once (a new target).
//
// Ticks are whatever tick() does: an exception in it propagates, as it did
// from the interval (the service restarts the agent).

export interface TickerScheduler {
  nextDue(): number | null;
  requestsAt(at: number): PlayRequest[];
  tick(): void;
}

export interface TickerPlayer {
  readonly leadMs: number;
  preroll(req: PlayRequest, at: number): void;
}

/** Timers, injected so tests run in virtual time. */
export interface TickerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: TickerTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface TickerDeps {
  scheduler: TickerScheduler;
  /** Gets due requests ready ahead; none: no pre-roll. */
  player?: TickerPlayer | null;
  /** The agent's clock: the scheduler's time. */
  now: () => number;
  /** False once the agent has stopped: nothing is ticked or armed after that. */
  alive?: () => boolean;
  /** Pre-roll failures are logged here: they must not stop the schedule. */
  log?: Logger;
  /** Longest wait between two ticks. Default 500. */
  maxWaitMs?: number;
  /**
   * Default: real timeouts, unref'd — the agent's own intervals keep the
   * process up, and a timeout left after stop() only finds alive() false.
   */
  timers?: TickerTimers;
}

export class ScheduleTicker {
  readonly #d: TickerDeps;
  readonly #timers: TickerTimers;
  readonly #maxWaitMs: number;
  #handle: unknown = null;
  /** The due instant last pre-rolled, so each is pre-rolled once. */
  #prerolled: number | null = null;
  /** now() when the last tick ran: an item due by then and still pending is not waited on again at once. */
  #tickedAt = -Infinity;
  #running = false;

  constructor(deps: TickerDeps) {
    this.#d = deps;
    this.#timers = deps.timers ?? systemTimers;
    this.#maxWaitMs = deps.maxWaitMs ?? 500;
  }

  /** Ticks now, then keeps ticking at each due instant. */
  start(): void {
    this.#running = true;
    this.#wake();
  }

  stop(): void {
    this.#running = false;
    this.#clear();
  }

  /** Looks at the scheduler again now (its plan changed) and re-arms; does not tick. */
  rearm(): void {
    this.#prerolled = null;
    this.#arm();
  }

  #alive(): boolean {
    return this.#running && (this.#d.alive?.() ?? true);
  }

  #clear(): void {
    if (this.#handle !== null) this.#timers.clearTimeout(this.#handle);
    this.#handle = null;
  }

  #wake(): void {
    this.#handle = null;
    if (!this.#alive()) return;
    this.#tickedAt = this.#d.now();
    try {
      this.#d.scheduler.tick();
    } finally {
      this.#arm();
    }
  }

  #arm(): void {
    this.#clear();
    if (!this.#alive()) return;
    const now = this.#d.now();
    let wakeAt = now + this.#maxWaitMs;
    let due = this.#d.scheduler.nextDue();
    // Due by the last tick and not acted on: that tick could not (it threw), so do not spin on it; the cap retries.
    if (due !== null && due <= this.#tickedAt) due = null;
    if (due !== null) {
      const player = this.#d.player;
      if (player && this.#prerolled !== due && now < due) {
        if (now >= due - player.leadMs) {
          this.#prerolled = due;
          const [first] = this.#d.scheduler.requestsAt(due);
          // Items due at one instant are handed over in order and the first plays: that is the one to get ready.
          if (first) {
            try {
              player.preroll(first, due);
            } catch (err) {
              this.#d.log?.warn({ err, id: first.id }, 'cannot pre-roll; the item is decoded when it plays');
            }
          }
        } else wakeAt = Math.min(wakeAt, due - player.leadMs);
      }
      wakeAt = Math.min(wakeAt, due);
    }
    this.#handle = this.#timers.setTimeout(() => this.#wake(), Math.max(0, wakeAt - now));
  }
}
