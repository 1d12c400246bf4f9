import type { Logger } from '../lib/log.js';
import type { Programme, TargetState } from '../protocol/payloads.js';
import { dayPlan, DEFAULT_CHIME_MS, type PlanItem } from '../schedules/plan.js';
import { addDays, DAY_MS, localDate } from '../schedules/time.js';
import type { ArbiterEvent, PlayLogData, PlayRequest, Segment } from './arbiter.js';

// Turns the day plan into arbiter requests at the right time. Each plan item
// is acted on once — started, refused or missed — and that is recorded
// before anything else happens (plan_done), so nothing plays twice: not after
// a restart, not after the clock jumps back. An item is started up to
// `graceMs` after its time (a late boot, a small clock step, its asset
// landing late); later than that it is not caught up.
//
// Nothing is acted on while the clock is not trusted: by an untrusted clock
// an item is not known to be due at all (marking it done then would lose it
// at its real time). When trust comes, what is due within the grace period
// plays; what fell due while the clock was untrusted is reported refused
// ('clock-untrusted'). An item whose asset is not on the device yet waits,
// within the grace period, for the asset to land.

export interface SchedulerDeps {
  now: () => number;
  mono: () => number;
  target: () => { state: TargetState; receivedAt: number } | null;
  /** Whether an asset is whole on the device (an item waits, within the grace period, for one that is not). */
  hasAsset: (sha256: string) => boolean;
  /** Whether the clock is known to be right. */
  clockTrusted: () => boolean;
  done: { has(key: string): boolean; add(key: string, atIso: string): void; prune(beforeIso: string): void };
  dispatch: (ev: ArbiterEvent) => void;
  record: (data: PlayLogData) => void;
  graceMs: number;
  chimeMs?: number;
  log: Logger;
}

const iso = (t: number) => new Date(t).toISOString();

export function requestFor(item: PlanItem, programme: Programme | undefined, durations: ReadonlyMap<string, number>, chimeMs: number): PlayRequest {
  const segments: Segment[] = [];
  if (programme?.chime) segments.push({ kind: 'tone', tone: 'chime', durationMs: chimeMs });
  for (const sha of item.playlist) segments.push({ kind: 'asset', sha256: sha, durationMs: durations.get(sha) ?? 0 });
  return {
    id: item.key,
    level: item.level,
    source: 'programme',
    title: item.title,
    segments,
    volume: item.volume,
    resumable: item.resumable,
    notAfter: item.windowEnd,
    endBy: item.status === 'shortened' ? item.end : item.windowEnd,
    requiresTrustedClock: true,
    programme: item.programme,
  };
}

export class Scheduler {
  readonly #d: SchedulerDeps;
  readonly #log: Logger;
  #cache = new Map<string, PlanItem[]>();
  #cacheVersion = -1;
  #last: { wall: number; mono: number } | null = null;
  /** Monotonic instant the scheduler started, and when its clock was last not trusted (null: trusted since). */
  readonly #startMono: number;
  /** now() when the scheduler started (by the clock of then). */
  readonly #startedAt: number;
  #untrustedMono: number | null = null;
  #prunedOn = '';

  constructor(deps: SchedulerDeps) {
    this.#d = deps;
    this.#log = deps.log.child({ mod: 'scheduler' });
    this.#startMono = deps.mono();
    this.#startedAt = deps.now();
  }

  /** The agent's time at a monotonic instant (by the clock now in force). */
  #timeAt(mono: number): number {
    return this.#d.now() - (this.#d.mono() - mono);
  }

  #missing(item: PlanItem): string[] {
    return item.playlist.filter((sha) => !this.#d.hasAsset(sha));
  }

  #plan(state: TargetState, date: string): PlanItem[] {
    if (this.#cacheVersion !== state.version) {
      this.#cache.clear();
      this.#cacheVersion = state.version;
    }
    let p = this.#cache.get(date);
    if (!p) {
      const durations = new Map(state.assets.map((a) => [a.sha256, a.durationMs]));
      try {
        p = dayPlan({ date, programmes: state.programmes, durations, rules: state.rules, zone: state.zone, chimeMs: this.#d.chimeMs ?? DEFAULT_CHIME_MS });
      } catch (e) {
        this.#log.error({ err: e, date }, 'cannot plan the day; nothing is scheduled for it');
        p = [];
      }
      this.#cache.set(date, p);
      if (this.#cache.size > 4) this.#cache.delete(this.#cache.keys().next().value!);
    }
    return p;
  }

  /** The day plan of the target in force for a local date (the panel shows it), or null without a target. */
  planFor(date: string): PlanItem[] | null {
    const t = this.#d.target();
    return t ? this.#plan(t.state, date) : null;
  }

  /** Items tick() hands over (not remainders), of the plans of the day before, the day and the day after `now`, by start. */
  #around(state: TargetState, now: number): PlanItem[] {
    const today = localDate(now);
    return [...this.#plan(state, addDays(today, -1)), ...this.#plan(state, today), ...this.#plan(state, addDays(today, 1))].filter((i) => i.offsetMs === 0).sort((a, b) => a.start - b.start || a.programme.localeCompare(b.programme));
  }

  /**
   * When tick() next has something to do: the start of the earliest plan item
   * not acted on yet (at or before now() when one is due already), or null
   * without a target or item. The Scheduler keeps no timer: the agent arms
   * one for this instant (device/ticker.ts) and looks again after every tick,
   * on a new target and at least every half second, as the clock may move.
   */
  nextDue(): number | null {
    const t = this.#d.target();
    if (!t || !this.#d.clockTrusted()) return null;
    for (const item of this.#around(t.state, this.#d.now())) if (!this.#d.done.has(item.key)) return item.start;
    return null;
  }

  /**
   * The requests tick() will hand to the arbiter when the clock reaches `at`
   * (items starting exactly then, not acted on and not refused by the plan),
   * in the order it will hand them over; for the player's pre-roll.
   */
  requestsAt(at: number): PlayRequest[] {
    const t = this.#d.target();
    if (!t) return [];
    const { state } = t;
    const durations = new Map(state.assets.map((a) => [a.sha256, a.durationMs]));
    return this.#around(state, at)
      .filter((i) => i.start === at && i.status !== 'refused' && !this.#d.done.has(i.key) && !this.#missing(i).length)
      .map((i) => requestFor(i, state.programmes.find((p) => p.id === i.programme), durations, this.#d.chimeMs ?? DEFAULT_CHIME_MS));
  }

  tick(): void {
    const now = this.#d.now();
    const mono = this.#d.mono();
    if (this.#last) {
      const jump = now - this.#last.wall - (mono - this.#last.mono);
      if (Math.abs(jump) > 60_000) this.#log.warn({ jumpMs: Math.round(jump) }, 'the clock jumped; due items are judged by the new time, none is played twice');
    }
    this.#last = { wall: now, mono };
    if (!this.#d.clockTrusted()) {
      this.#untrustedMono = mono;
      return;
    }
    const t = this.#d.target();
    if (!t) return;
    // Items due before this instant were due while the clock could not be believed (or before the agent ran).
    const trustedFrom = this.#untrustedMono === null ? null : this.#timeAt(this.#untrustedMono);
    // When it started, by the clock now or by the clock then (one of them jumped): items after either were due while it ran.
    const startedAt = Math.min(this.#timeAt(this.#startMono), this.#startedAt);
    const { state } = t;
    const today = localDate(now);
    const items = [...this.#plan(state, addDays(today, -1)), ...this.#plan(state, today)]
      .filter((i) => i.offsetMs === 0 && i.start <= now)
      // Same start: programme id order, as the day plan breaks ties.
      .sort((a, b) => a.start - b.start || a.programme.localeCompare(b.programme));
    const durations = new Map(state.assets.map((a) => [a.sha256, a.durationMs]));
    for (const item of items) {
      if (this.#d.done.has(item.key)) continue;
      const late = now - item.start;
      const missing = item.status === 'refused' ? [] : this.#missing(item);
      // Its asset is still on its way: wait for it within the grace period.
      if (missing.length && late <= this.#d.graceMs) continue;
      this.#d.done.add(item.key, iso(now));
      if (late > this.#d.graceMs) {
        // Due while the agent was not there to play it (off, or before this target): nothing to report.
        // Due while it ran with a clock it could not believe, or while it was waiting for its asset, or when the clock jumped past it: say so.
        if (item.start >= Math.max(startedAt, t.receivedAt) && item.status !== 'refused') {
          const base = { outcome: 'refused' as const, level: item.level, source: 'programme' as const, programme: item.programme, title: item.title, start: iso(now) };
          if (missing.length) this.#d.record({ ...base, rule: 'missing-asset', reason: `asset ${missing[0]} was still not on the device ${Math.round(late / 1000)} s after ${iso(item.start)}` });
          else if (trustedFrom !== null && item.start < trustedFrom) this.#d.record({ ...base, rule: 'clock-untrusted', reason: `due at ${iso(item.start)} while the clock was not known to be right; not caught up` });
          else this.#d.record({ ...base, rule: 'missed', reason: `due at ${iso(item.start)}, ${Math.round(late / 1000)} s ago (the clock jumped): not caught up` });
        }
        continue;
      }
      if (item.status === 'refused') {
        this.#d.record({ outcome: 'refused', level: item.level, source: 'programme', programme: item.programme, title: item.title, start: iso(item.start), ...(item.rule ? { rule: item.rule } : {}), ...(item.reason ? { reason: item.reason } : {}) });
        continue;
      }
      const programme = state.programmes.find((p) => p.id === item.programme);
      this.#d.dispatch({ type: 'request', req: requestFor(item, programme, durations, this.#d.chimeMs ?? DEFAULT_CHIME_MS), at: now });
    }
    // Keys name their day; three days back is enough to keep nothing twice.
    if (today !== this.#prunedOn) {
      this.#prunedOn = today;
      this.#d.done.prune(iso(now - 3 * DAY_MS));
    }
  }
}
