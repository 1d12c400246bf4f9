import { randomBytes } from 'node:crypto';
import type { TimeBeacon } from '../protocol/payloads.js';

// Is the clock right? A Pi has no RTC: until NTP has synchronised, or the
// province has told the device the time in a way it can check, the agent
// plays no programme (DESIGN.md "Clock trust"), and an emergency's expiry is
// judged by what the device can prove (device/emergency-desk.ts). The rules,
// and why (docs/reliability.md "Time"):
//
// - A signed beacon is evidence only that the time is *at least* its `at`: it
//   may have waited in a TCP buffer or a broker queue (an agent stopped for
//   100 s read beacons 100 s old). So an unsolicited beacon (the province's
//   periodic one) can move the clock forward, never back, and never makes an
//   untrusted clock trusted.
// - The device asks for the time with a nonce in its status message (on every
//   connect, and whenever a beacon disagrees with its clock); the province
//   answers on the device's own topic with a beacon carrying that nonce. That
//   beacon was made after the question, so the time lies in [at, at + round
//   trip]: it sets the clock both ways and makes it trusted.
// - Once set from a beacon, the agent's time runs on the monotonic clock
//   (anchor + elapsed), so a wall clock stepped by hand, by a bad RTC or to
//   1970 does not move it. NTP (systemd-timesyncd) and a vouched-for RTC use
//   the wall clock as it is.
// - Whatever the trust, every verified beacon raises a floor: a time the
//   device knows has passed. It survives restarts (the agent stores it), so a
//   stale command can be recognised as expired even before the clock is set.

export type ClockSource = 'ntp' | 'rtc' | 'beacon' | 'none';

/** An answer slower than this is used, and asked for again: a faster one sets the clock closer. */
const SLOW_ANSWER_MS = 400;

export interface ClockDeps {
  /** System wall clock (Date.now). */
  wall: () => number;
  /** Monotonic clock in ms: immune to the wall clock being set. */
  mono: () => number;
  /** Whether the OS reports NTP synchronisation. */
  ntp: () => boolean;
  /** A battery-backed RTC the technician vouches for (config). */
  rtc: boolean;
  /** How long an answered time request keeps the clock trusted (extended by agreeing beacons). */
  beaconTrustMs: number;
  /** An unsolicited beacon further ahead than this moves the clock forward to it. */
  correctAboveMs: number;
  /** An answer that took longer than this is too uncertain to set the clock. Default 30 s. */
  maxRoundTripMs?: number;
  /** Nonces for time requests (default: 12 random bytes, base64url). */
  nonce?: () => string;
}

export type BeaconResult =
  | { ok: true; correctedByMs: number; answered: boolean; wantTime: boolean; roundTripMs?: number }
  | { ok: false; reason: string; wantTime: boolean };

interface Anchor {
  at: number;
  mono: number;
}

export class ClockTrust {
  readonly #d: ClockDeps;
  /** Where the agent's time comes from once a beacon set it: anchor.at + (mono - anchor.mono). */
  #anchor: Anchor | null = null;
  /** Monotonic instant until which the beacon trust holds. */
  #trustUntil = -Infinity;
  /** Open time requests: nonce → monotonic instant asked. */
  #asked = new Map<string, number>();
  /** The newest unsolicited beacon believed, for the replay check. */
  #last: { at: number; mono: number; seq: number } | null = null;
  /** A time known to have passed, at a monotonic instant. */
  #floor: Anchor | null = null;
  /** How far off the anchor may have been when set (half the round trip of the answer that set it). */
  #anchorError = Infinity;

  constructor(deps: ClockDeps) {
    this.#d = deps;
  }

  get #wallTrusted(): boolean {
    return this.#d.ntp() || this.#d.rtc;
  }

  /** The agent's best knowledge of the current time (epoch ms). */
  now(): number {
    if (this.#wallTrusted) return this.#d.wall();
    if (this.#anchor) return this.#anchor.at + (this.#d.mono() - this.#anchor.mono);
    const f = this.floor();
    return f === null ? this.#d.wall() : Math.max(this.#d.wall(), f);
  }

  /** The monotonic clock this clock runs on (ms). */
  mono(): number {
    return this.#d.mono();
  }

  /** The agent's time at an earlier monotonic instant (the same clock as now(), so differences are exact). */
  timeAt(mono: number): number {
    return this.now() - (this.#d.mono() - mono);
  }

  get source(): ClockSource {
    if (this.#d.ntp()) return 'ntp';
    if (this.#d.rtc) return 'rtc';
    if (this.#d.mono() < this.#trustUntil) return 'beacon';
    return 'none';
  }

  get trusted(): boolean {
    return this.source !== 'none';
  }

  /** How far off the agent's time may be now: the anchor's error, growing with a crystal's drift (100 ppm) since. */
  #uncertainty(): number {
    return this.#anchor ? this.#anchorError + (this.#d.mono() - this.#anchor.mono) * 1e-4 : Infinity;
  }

  /** A time the device knows has passed (from beacons, signed payloads and the stored floor), or null. */
  floor(): number | null {
    return this.#floor ? this.#floor.at + (this.#d.mono() - this.#floor.mono) : null;
  }

  /** Evidence that the time is at least `at` now (a signed payload's issue time, the floor stored before a restart). */
  observeFloor(at: number): void {
    if (!Number.isFinite(at)) return;
    const cur = this.floor();
    if (cur === null || at > cur) this.#floor = { at, mono: this.#d.mono() };
  }

  /** A nonce to ask the province for the time with (sent in the status message). */
  requestTime(): string {
    const mono = this.#d.mono();
    const max = this.#d.maxRoundTripMs ?? 30_000;
    for (const [n, t] of this.#asked) if (mono - t > max || this.#asked.size > 8) this.#asked.delete(n);
    const nonce = this.#d.nonce?.() ?? randomBytes(12).toString('base64url');
    this.#asked.set(nonce, mono);
    return nonce;
  }

  /** Applies a verified beacon: an answer to a request (it carries the nonce) or the province's periodic one. */
  onBeacon(b: TimeBeacon): BeaconResult {
    const at = Date.parse(b.at);
    const mono = this.#d.mono();
    if (b.nonce !== undefined) return this.#answer(b, at, mono);
    if (this.#last) {
      const expected = this.#last.at + (mono - this.#last.mono);
      if (at < expected - b.validMs) return { ok: false, reason: `beacon ${b.seq} says ${b.at}, older than time known from beacon ${this.#last.seq} (a replay or a long delay)`, wantTime: false };
    }
    this.#last = { at, mono, seq: b.seq };
    const est = this.now();
    this.observeFloor(at);
    if (this.#wallTrusted) return { ok: true, correctedByMs: 0, answered: false, wantTime: false }; // NTP knows better than a beacon that crossed a 3G link
    if (at > est + this.#d.correctAboveMs) {
      // Behind: a beacon is never from the future, so the time is at least `at`. Step forward now, then ask how far.
      this.#anchor = { at, mono };
      this.#anchorError = Infinity;
      return { ok: true, correctedByMs: at - est, answered: false, wantTime: true };
    }
    if (est - at > b.validMs) {
      // Ahead of the beacon by more than it can be late: the beacon is stale, or this clock is ahead. Only an answer can tell.
      return { ok: true, correctedByMs: 0, answered: false, wantTime: true };
    }
    // Agrees: it extends trust already held, but an old beacon cannot make an untrusted clock trusted.
    if (this.#anchor && mono < this.#trustUntil) this.#trustUntil = mono + this.#d.beaconTrustMs;
    return { ok: true, correctedByMs: 0, answered: false, wantTime: !this.trusted };
  }

  #answer(b: TimeBeacon, at: number, mono: number): BeaconResult {
    const asked = this.#asked.get(b.nonce!);
    if (asked === undefined) return { ok: false, reason: `beacon ${b.seq} answers a time request this agent did not make, or made long ago`, wantTime: false };
    this.#asked.delete(b.nonce!);
    const rtt = mono - asked;
    if (rtt > (this.#d.maxRoundTripMs ?? 30_000) || this.#wallTrusted) this.observeFloor(at);
    if (rtt > (this.#d.maxRoundTripMs ?? 30_000)) return { ok: false, reason: `beacon ${b.seq} answered after ${Math.round(rtt)} ms, too late to set the clock by`, wantTime: true };
    if (this.#wallTrusted) return { ok: true, correctedByMs: 0, answered: true, wantTime: false };
    // Made after the question and received now: the time lies in [at, at + rtt], so its middle is right to within rtt / 2.
    const before = this.now();
    this.observeFloor(at);
    const agrees = this.trusted && this.#anchor !== null && before >= at && before <= at + rtt;
    this.#trustUntil = mono + this.#d.beaconTrustMs;
    // A slow answer (a busy link or province) is rough: ask again, and keep the best answer (NTP's clock filter, in small).
    const wantTime = rtt > SLOW_ANSWER_MS;
    // A trusted clock inside that interval keeps running as it is, unless this answer is sharper than the one it runs on.
    if (agrees && rtt / 2 >= this.#uncertainty()) return { ok: true, correctedByMs: 0, answered: true, wantTime, roundTripMs: rtt };
    this.#anchor = { at: at + rtt / 2, mono };
    this.#anchorError = rtt / 2;
    return { ok: true, correctedByMs: this.now() - before, answered: true, wantTime, roundTripMs: rtt };
  }
}

/** The system's monotonic clock in ms (CLOCK_MONOTONIC: shared by every process of one boot, unlike performance.now()). */
export function systemMono(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}
