import type { Recurrence } from '../protocol/payloads.js';
import { addDays, isoWeekday, localDate, localToEpoch } from './time.js';

/**
 * The first start of a recurrence at or after `fromMs`, or null when there is
 * none within `horizonDays` (or the rule is an RRULE, which the day planner
 * expands; callers that only need an ordering treat null as "later").
 */
export function nextOccurrence(r: Recurrence, fromMs: number, horizonDays = 14): number | null {
  if (r.kind === 'once') {
    const t = localToEpoch(r.date, r.time);
    return t >= fromMs ? t : null;
  }
  if (r.kind === 'rrule') return null;
  const today = localDate(fromMs);
  for (let i = 0; i <= horizonDays; i++) {
    const date = addDays(today, i);
    if (r.from && date < r.from) continue;
    if (r.until && date > r.until) return null;
    if (r.kind === 'weekly' && !r.days.includes(isoWeekday(date))) continue;
    const t = localToEpoch(date, r.time);
    if (t >= fromMs) return t;
  }
  return null;
}
