import { LoaError } from '../protocol/errors.js';
import type { Recurrence } from '../protocol/payloads.js';
import { parseRRule, rruleDates } from './rrule.js';
import { addDays, isoWeekday, localDate, localToEpoch } from './time.js';

/**
 * Throws LOA_E_SCHEDULE_INVALID when a recurrence can never be expanded: an
 * RRULE outside the supported subset, or `from` after `until`. The agent
 * checks every programme when it accepts a target state, so the day planner
 * never meets one of these.
 */
export function validateRecurrence(r: Recurrence): void {
  if (r.kind === 'rrule') parseRRule(r.rrule);
  else if (r.kind !== 'once' && r.from && r.until && r.from > r.until) {
    throw new LoaError('LOA_E_SCHEDULE_INVALID', `recurrence runs from ${r.from} until ${r.until}: "from" is after "until"`, { context: { from: r.from, until: r.until } });
  }
}

/**
 * The starts (epoch ms) of a recurrence on one local date, earliest first.
 * Throws LOA_E_SCHEDULE_INVALID for an RRULE that cannot be parsed.
 */
export function occurrencesOn(r: Recurrence, date: string): number[] {
  switch (r.kind) {
    case 'once':
      return r.date === date ? [localToEpoch(date, r.time)] : [];
    case 'daily':
    case 'weekly':
      if ((r.from && date < r.from) || (r.until && date > r.until)) return [];
      if (r.kind === 'weekly' && !r.days.includes(isoWeekday(date))) return [];
      return [localToEpoch(date, r.time)];
    case 'rrule':
      return rruleDates(parseRRule(r.rrule), r.start, r.time, date, date).map((d) => localToEpoch(d, r.time));
  }
}

/**
 * The first start of a recurrence at or after `fromMs`, or null when there is
 * none within `horizonDays` (a 'once' is found at any distance). An RRULE that
 * cannot be parsed also gives null — callers that only need an ordering (the
 * sync planner) treat null as "later"; the target state's validation is what
 * reports it (validateRecurrence).
 */
export function nextOccurrence(r: Recurrence, fromMs: number, horizonDays = 14): number | null {
  if (r.kind === 'once') {
    const t = localToEpoch(r.date, r.time);
    return t >= fromMs ? t : null;
  }
  const today = localDate(fromMs);
  if (r.kind === 'rrule') {
    let rule;
    try {
      rule = parseRRule(r.rrule);
    } catch {
      return null;
    }
    const starts = rruleDates(rule, r.start, r.time, today, addDays(today, horizonDays)).map((d) => localToEpoch(d, r.time));
    return starts.find((t) => t >= fromMs) ?? null;
  }
  for (let i = 0; i <= horizonDays; i++) {
    for (const t of occurrencesOn(r, addDays(today, i))) if (t >= fromMs) return t;
  }
  return null;
}
