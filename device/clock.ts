import type { TimeBeacon } from '../protocol/payloads.js';

// Is the clock right? A Pi has no RTC: until NTP has synchronised, or the
// province's signed time beacon has said what time it is, the agent plays no
// programme (DESIGN.md "Clock trust"). The beacon also corrects the agent's
// own notion of time without root rights: now() = system time + offset.
//
// A beacon is believed only if it is newer than the last one believed, taking
// the monotonic time elapsed since into account, so a recorded beacon played
// back later is refused. Trust from a beacon lasts `beaconTrustMs` of
// monotonic time; NTP trust lasts as long as the system says it is synchronised.

export type ClockSource = 'ntp' | 'rtc' | 'beacon' | 'none';

export interface ClockDeps {
  /** System wall clock (Date.now). */
  wall: () => number;
  /** Monotonic clock in ms (performance.now): immune to the wall clock being set. */
  mono: () => number;
  /** Whether the OS reports NTP synchronisation. */
  ntp: () => boolean;
  /** A battery-backed RTC the technician vouches for (config). */
  rtc: boolean;
  beaconTrustMs: number;
  /** A beacon this far from the system clock moves the agent's clock to it. */
  correctAboveMs: number;
}

export class ClockTrust {
  readonly #d: ClockDeps;
  #offset = 0;
  #beacon: { at: number; mono: number; seq: number } | null = null;

  constructor(deps: ClockDeps) {
    this.#d = deps;
  }

  /** The agent's best knowledge of the current time (epoch ms). */
  now(): number {
    return this.#d.wall() + this.#offset;
  }

  get source(): ClockSource {
    if (this.#d.ntp()) return 'ntp';
    if (this.#d.rtc) return 'rtc';
    if (this.#beacon && this.#d.mono() - this.#beacon.mono < this.#d.beaconTrustMs) return 'beacon';
    return 'none';
  }

  get trusted(): boolean {
    return this.source !== 'none';
  }

  /** Applies a verified beacon; returns why not when it is refused. */
  onBeacon(b: TimeBeacon): { ok: true; correctedByMs: number } | { ok: false; reason: string } {
    const at = Date.parse(b.at);
    const mono = this.#d.mono();
    if (this.#beacon) {
      const expected = this.#beacon.at + (mono - this.#beacon.mono);
      if (at < expected - b.validMs) return { ok: false, reason: `beacon ${b.seq} says ${b.at}, older than time known from beacon ${this.#beacon.seq} (a replay or a long delay)` };
    }
    this.#beacon = { at, mono, seq: b.seq };
    if (this.#d.ntp()) return { ok: true, correctedByMs: 0 }; // NTP knows better than a beacon that crossed a 3G link
    const drift = at - this.now();
    if (Math.abs(drift) > this.#d.correctAboveMs) {
      this.#offset += drift;
      return { ok: true, correctedByMs: drift };
    }
    return { ok: true, correctedByMs: 0 };
  }
}
