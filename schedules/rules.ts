// Rule profiles down the zone lineage, combined into the rules one device
// enforces (DESIGN.md "Rules enforced on the device": the most restrictive
// wins; only an emergency may pass them).
//
// effectiveRules(profiles), precisely:
// - Windows: an instant is allowed only when EVERY profile has a window
//   covering it; a profile with no windows allows nothing. The cap at an
//   instant is the lowest volumeCap of all windows covering it, across and
//   within profiles.
// - A window's `days` are the weekdays it STARTS on; `end` is exclusive, and an
//   end at or before `start` lies on the next day: '00:00' means midnight,
//   '22:00'–'02:00' crosses midnight into the next weekday, '06:00'–'06:00'
//   lasts 24 hours.
// - defaultVolume, maxContinuousSec, maxDailySec: the lowest value given;
//   defaultVolume is 100 and the airtime limits are unbounded (null) when no
//   profile gives one.
// - blackoutDates: the union. A blackout date refuses the whole local day,
//   00:00 to 24:00, including the part of a window that began the day before.
// - emergencyVolume: the value of the deepest profile (longest zone path) that
//   sets one, else 100. It is not the minimum: an emergency is the one thing
//   that passes every rule (TT39 levels, DESIGN.md "Priorities"), and whoever
//   is closest to the speakers knows how loud an evacuation call must be there
//   (a commune may lower it beside a clinic, or raise it over a river).
// - panelMayStopEmergency: true only when at least one profile sets it and
//   every profile that sets it says true.
// - No profile at all: no restriction — every instant allowed, cap 100,
//   default volume 100, no airtime limit, no blackout. A device that has no
//   rules yet has no target state either, so nothing of the province plays.
// Profiles are ordered by zone depth (root first) whatever order they come in.

import type { RuleProfile } from '../protocol/payloads.js';
import { DAY_MS, addDays, isoWeekday, localDate, localToEpoch } from './time.js';

/** An allowed stretch of a weekday, in minutes since local midnight; `end` is exclusive, 1440 = midnight. */
export interface Segment {
  start: number;
  end: number;
  cap: number;
}

export interface EffectiveRules {
  /** Allowed segments per ISO weekday (keys 1 = Monday … 7 = Sunday), sorted, adjacent ones with the same cap merged. */
  week: Readonly<Record<number, readonly Segment[]>>;
  defaultVolume: number;
  maxContinuousSec: number | null;
  maxDailySec: number | null;
  /** Sorted, without duplicates. */
  blackoutDates: string[];
  emergencyVolume: number;
  panelMayStopEmergency: boolean;
  /** Live may sound outside the windows, at liveVolume (docs/live.md). */
  liveAnyTime: boolean;
  liveVolume: number;
}

export type RestrictionRule = 'quiet-hours' | 'blackout';

export interface Allowance {
  allowed: boolean;
  /** The volume cap now; 0 when nothing is allowed. */
  cap: number;
  /** When the allowed span containing the instant ends (adjacent windows merged, across midnight); null when not allowed, or when it does not end within 8 days. */
  windowEnd: number | null;
  rule?: RestrictionRule;
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const DAYS = [1, 2, 3, 4, 5, 6, 7];
/** How far allowedAt follows an allowed span before calling it endless. */
const HORIZON_DAYS = 8;

/** One profile's windows as per-weekday minute intervals, a midnight-crossing window split in two. */
function profileWeek(p: RuleProfile): Map<number, Segment[]> {
  const week = new Map<number, Segment[]>(DAYS.map((d) => [d, []]));
  for (const w of p.windows) {
    const s = minutes(w.start);
    const dur = (minutes(w.end) - s + 1440) % 1440 || 1440;
    for (const d of new Set(w.days)) {
      week.get(d)!.push({ start: s, end: Math.min(1440, s + dur), cap: w.volumeCap });
      if (s + dur > 1440) week.get((d % 7) + 1)!.push({ start: 0, end: s + dur - 1440, cap: w.volumeCap });
    }
  }
  return week;
}

/** The combination of the profiles of a device's zone lineage. */
export function effectiveRules(profiles: readonly RuleProfile[]): EffectiveRules {
  const ps = [...profiles].sort((a, b) => a.zone.split('/').length - b.zone.split('/').length);
  const weeks = ps.map(profileWeek);
  const week: Record<number, Segment[]> = {};
  for (const d of DAYS) {
    if (!ps.length) {
      week[d] = [{ start: 0, end: 1440, cap: 100 }];
      continue;
    }
    const cuts = new Set([0, 1440]);
    for (const w of weeks) for (const seg of w.get(d)!) cuts.add(seg.start).add(seg.end);
    const points = [...cuts].sort((a, b) => a - b);
    const out: Segment[] = [];
    for (let i = 0; i + 1 < points.length; i++) {
      const a = points[i]!;
      const b = points[i + 1]!;
      let cap = 100;
      // INVARIANT: allowed only if every profile covers [a, b).
      const everyCovers = weeks.every((w) => {
        const covering = w.get(d)!.filter((seg) => seg.start <= a && seg.end >= b);
        for (const seg of covering) cap = Math.min(cap, seg.cap);
        return covering.length > 0;
      });
      if (!everyCovers) continue;
      const last = out[out.length - 1];
      if (last && last.end === a && last.cap === cap) last.end = b;
      else out.push({ start: a, end: b, cap });
    }
    week[d] = out;
  }
  const min = (xs: (number | undefined)[]) => {
    const given = xs.filter((x): x is number => x !== undefined);
    return given.length ? Math.min(...given) : null;
  };
  const panel = ps.map((p) => p.panelMayStopEmergency).filter((x): x is boolean => x !== undefined);
  const emergency = ps.map((p) => p.emergencyVolume).filter((x): x is number => x !== undefined);
  const anyTime = ps.map((p) => p.liveAnyTime).filter((x): x is boolean => x !== undefined);
  const liveVolume = ps.map((p) => p.liveVolume).filter((x): x is number => x !== undefined);
  return {
    week,
    defaultVolume: min(ps.map((p) => p.defaultVolume)) ?? 100,
    maxContinuousSec: min(ps.map((p) => p.maxContinuousSec)),
    maxDailySec: min(ps.map((p) => p.maxDailySec)),
    blackoutDates: [...new Set(ps.flatMap((p) => p.blackoutDates ?? []))].sort(),
    emergencyVolume: emergency[emergency.length - 1] ?? 100,
    panelMayStopEmergency: panel.length > 0 && panel.every((x) => x),
    liveAnyTime: anyTime.length > 0 && anyTime.every((x) => x),
    liveVolume: liveVolume[liveVolume.length - 1] ?? emergency[emergency.length - 1] ?? 100,
  };
}

/** An allowed stretch as instants: [start, end), at `cap`. */
export interface Span {
  start: number;
  end: number;
  cap: number;
}

/** Allowed stretches of `days` local dates from `date` on, blackout days left out, in order. */
export function allowedSpans(rules: EffectiveRules, date: string, days: number): Span[] {
  const out: Span[] = [];
  for (let i = 0; i < days; i++) {
    const d = addDays(date, i);
    if (rules.blackoutDates.includes(d)) continue;
    const midnight = localToEpoch(d, '00:00');
    for (const seg of rules.week[isoWeekday(d)] ?? []) out.push({ start: midnight + seg.start * 60_000, end: midnight + seg.end * 60_000, cap: seg.cap });
  }
  return out;
}

/** Whether programmes may sound at an instant, at what cap, and until when. */
export function allowedAt(rules: EffectiveRules, epochMs: number): Allowance {
  const date = localDate(epochMs);
  if (rules.blackoutDates.includes(date)) return { allowed: false, cap: 0, windowEnd: null, rule: 'blackout' };
  const spans = allowedSpans(rules, date, HORIZON_DAYS);
  const i = spans.findIndex((s) => s.start <= epochMs && epochMs < s.end);
  if (i < 0) return { allowed: false, cap: 0, windowEnd: null, rule: 'quiet-hours' };
  let end = spans[i]!.end;
  for (let j = i + 1; j < spans.length && spans[j]!.start === end; j++) end = spans[j]!.end;
  const endless = end >= localToEpoch(date, '00:00') + HORIZON_DAYS * DAY_MS;
  return { allowed: true, cap: spans[i]!.cap, windowEnd: endless ? null : end };
}

/** The lowest cap over [from, to) — the volume that never exceeds a cap while it plays. */
export function capOver(rules: EffectiveRules, from: number, to: number): number {
  const days = Math.ceil((to - from) / DAY_MS) + 2;
  let cap = 100;
  for (const s of allowedSpans(rules, localDate(from), days)) if (s.start < Math.max(to, from + 1) && s.end > from) cap = Math.min(cap, s.cap);
  return cap;
}
