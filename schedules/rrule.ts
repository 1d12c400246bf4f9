// RFC 5545 §3.3.10 recurrence rules, the subset a loudspeaker schedule needs.
//
// Supported: FREQ=DAILY|WEEKLY|MONTHLY|YEARLY, INTERVAL, COUNT, UNTIL (a date,
// a local date-time, or a UTC date-time with Z), BYDAY (with ordinals such as
// 1MO or -1FR for MONTHLY and YEARLY), BYMONTHDAY (negative counts from the
// end of the month), BYMONTH. WKST is accepted and ignored: weeks start on
// Monday (the RFC default and the Vietnamese calendar's), which only matters
// for WEEKLY with INTERVAL > 1.
// Refused with LOA_E_SCHEDULE_INVALID: every other part (BYSETPOS, BYWEEKNO,
// BYYEARDAY, BYHOUR, BYMINUTE, BYSECOND, RSCALE, SKIP), sub-daily FREQ (the
// time of day is the programme's `time`), COUNT with UNTIL (RFC: MUST NOT),
// ordinals in BYDAY for DAILY or WEEKLY and BYMONTHDAY with WEEKLY (RFC:
// MUST NOT), repeated parts and malformed values.
//
// DTSTART is the recurrence's local `start` date at its `time`. Unlike RFC
// 5545, which counts DTSTART as the first occurrence even when the rule does
// not match it, a start that does not match the rule only bounds the set (as
// python-dateutil does): "FREQ=MONTHLY;BYDAY=-1FR" created on a Tuesday must
// not sound on that Tuesday. COUNT counts occurrences from DTSTART on.

import { LoaError } from '../protocol/errors.js';
import { DAY_MS, localToEpoch } from './time.js';

export type Freq = 'DAILY' | 'WEEKLY' | 'MONTHLY' | 'YEARLY';

/** A BYDAY entry: ISO weekday (1 = Monday) and ordinal (0 = every such weekday of the period). */
export interface ByDay {
  weekday: number;
  ordinal: number;
}

export interface RRule {
  freq: Freq;
  interval: number;
  count: number | null;
  /** Last instant an occurrence may start (epoch ms, inclusive); a date UNTIL runs to the end of that local day. */
  until: number | null;
  byDay: ByDay[];
  byMonthDay: number[];
  byMonth: number[];
}

const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
const UNSUPPORTED = new Set(['BYSETPOS', 'BYWEEKNO', 'BYYEARDAY', 'BYHOUR', 'BYMINUTE', 'BYSECOND', 'RSCALE', 'SKIP']);
const SUPPORTED = 'FREQ, INTERVAL, COUNT, UNTIL, BYDAY, BYMONTHDAY, BYMONTH, WKST';

function invalid(rrule: string, message: string, part?: string): LoaError {
  return new LoaError('LOA_E_SCHEDULE_INVALID', `RRULE "${rrule}": ${message}`, { context: part === undefined ? { rrule } : { rrule, part } });
}

function positiveInt(rrule: string, key: string, value: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw invalid(rrule, `${key} must be a positive integer, not "${value}"`, key);
  return Number(value);
}

function intList(rrule: string, key: string, value: string, ok: (n: number) => boolean, range: string): number[] {
  return value.split(',').map((v) => {
    if (!/^[+-]?\d{1,2}$/.test(v) || !ok(Number(v))) throw invalid(rrule, `${key} value "${v}" must be ${range}`, key);
    return Number(v);
  });
}

function parseUntil(rrule: string, value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$/.exec(value);
  const bad = () => invalid(rrule, `UNTIL must be YYYYMMDD, YYYYMMDDTHHMMSS (local) or YYYYMMDDTHHMMSSZ (UTC), not "${value}"`, 'UNTIL');
  if (!m) throw bad();
  const [, y, mo, d, h, mi, s, z] = m;
  const date = `${y}-${mo}-${d}`;
  if (Number.isNaN(Date.parse(`${date}T00:00:00Z`)) || new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10) !== date) throw bad();
  if (h === undefined) return localToEpoch(date, '00:00') + DAY_MS - 1;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) throw bad();
  return z ? Date.parse(`${date}T${h}:${mi}:${s}Z`) : localToEpoch(date, `${h}:${mi}`) + Number(s) * 1000;
}

/** Parses an RRULE value, with or without the "RRULE:" prefix; throws LOA_E_SCHEDULE_INVALID. */
export function parseRRule(text: string): RRule {
  const src = text.trim().replace(/^RRULE:/i, '');
  if (src === '') throw invalid(text, 'is empty');
  const parts = new Map<string, string>();
  for (const p of src.toUpperCase().split(';')) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw invalid(text, `"${p}" is not KEY=VALUE`);
    const key = p.slice(0, eq);
    const value = p.slice(eq + 1);
    if (UNSUPPORTED.has(key)) throw invalid(text, `${key} is not supported (supported: ${SUPPORTED})`, key);
    if (!SUPPORTED.split(', ').includes(key)) throw invalid(text, `${key} is not an RRULE part (supported: ${SUPPORTED})`, key);
    if (parts.has(key)) throw invalid(text, `${key} is given twice`, key);
    if (value === '') throw invalid(text, `${key} has no value`, key);
    parts.set(key, value);
  }
  const f = parts.get('FREQ');
  if (f === undefined) throw invalid(text, 'FREQ is required', 'FREQ');
  if (f === 'HOURLY' || f === 'MINUTELY' || f === 'SECONDLY') throw invalid(text, `FREQ=${f} is not supported: a programme sounds at most once a day, at its time`, 'FREQ');
  if (f !== 'DAILY' && f !== 'WEEKLY' && f !== 'MONTHLY' && f !== 'YEARLY') throw invalid(text, `FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, not "${f}"`, 'FREQ');
  const freq: Freq = f;
  const rule: RRule = { freq, interval: 1, count: null, until: null, byDay: [], byMonthDay: [], byMonth: [] };
  const v = (k: string) => parts.get(k);
  if (v('INTERVAL') !== undefined) rule.interval = positiveInt(text, 'INTERVAL', v('INTERVAL')!);
  if (v('COUNT') !== undefined && v('UNTIL') !== undefined) throw invalid(text, 'COUNT and UNTIL must not both be given (RFC 5545 §3.3.10)', 'COUNT');
  if (v('COUNT') !== undefined) rule.count = positiveInt(text, 'COUNT', v('COUNT')!);
  if (v('UNTIL') !== undefined) rule.until = parseUntil(text, v('UNTIL')!);
  if (v('WKST') !== undefined && !WEEKDAYS.includes(v('WKST')!)) throw invalid(text, `WKST must be one of ${WEEKDAYS.join(', ')}`, 'WKST');
  if (v('BYMONTH') !== undefined) rule.byMonth = intList(text, 'BYMONTH', v('BYMONTH')!, (n) => n >= 1 && n <= 12, '1 to 12');
  if (v('BYMONTHDAY') !== undefined) {
    if (freq === 'WEEKLY') throw invalid(text, 'BYMONTHDAY must not be used with FREQ=WEEKLY (RFC 5545 §3.3.10)', 'BYMONTHDAY');
    rule.byMonthDay = intList(text, 'BYMONTHDAY', v('BYMONTHDAY')!, (n) => n !== 0 && Math.abs(n) <= 31, '1 to 31 or -31 to -1');
  }
  if (v('BYDAY') !== undefined) {
    const maxOrd = freq === 'MONTHLY' || (freq === 'YEARLY' && rule.byMonth.length > 0) ? 5 : 53;
    rule.byDay = v('BYDAY')!.split(',').map((d) => {
      const m = /^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$/.exec(d);
      if (!m) throw invalid(text, `BYDAY value "${d}" must be a weekday (MO … SU), optionally after an ordinal (1MO, -1FR)`, 'BYDAY');
      const ordinal = m[1] === undefined ? 0 : Number(m[1]);
      if (m[1] !== undefined && (freq === 'DAILY' || freq === 'WEEKLY')) throw invalid(text, `BYDAY ordinal "${d}" is only allowed with FREQ=MONTHLY or YEARLY (RFC 5545 §3.3.10)`, 'BYDAY');
      if (m[1] !== undefined && (ordinal === 0 || Math.abs(ordinal) > maxOrd)) throw invalid(text, `BYDAY ordinal "${d}" must be 1 to ${maxOrd} or -${maxOrd} to -1`, 'BYDAY');
      return { weekday: WEEKDAYS.indexOf(m[2]!) + 1, ordinal };
    });
  }
  return rule;
}

// ------------------------------------------------------------------ expansion
// Dates are day numbers (days since 1970-01-01) so arithmetic stays integer.

const dayNum = (date: string) => Math.round(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
const dateOf = (n: number) => new Date(n * DAY_MS).toISOString().slice(0, 10);
/** 1970-01-01 was a Thursday (ISO 4). */
const weekdayOf = (n: number) => ((((n + 3) % 7) + 7) % 7) + 1;
const ymd = (n: number) => {
  const d = new Date(n * DAY_MS);
  return { y: d.getUTCFullYear(), m: d.getUTCMonth() + 1, d: d.getUTCDate() };
};
const fromYmd = (y: number, m: number, d: number) => Math.round(Date.UTC(y, m - 1, d) / DAY_MS);
const daysInMonth = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();

/** The period (day, Monday-based week, month or year) a day falls in, as a counter. */
function unitOf(freq: Freq, n: number): number {
  if (freq === 'DAILY') return n;
  if (freq === 'WEEKLY') return Math.floor((n + 3) / 7);
  const { y, m } = ymd(n);
  return freq === 'MONTHLY' ? y * 12 + m - 1 : y;
}

function unitStart(freq: Freq, u: number): number {
  if (freq === 'DAILY') return u;
  if (freq === 'WEEKLY') return u * 7 - 3;
  if (freq === 'MONTHLY') return fromYmd(Math.floor(u / 12), (u % 12) + 1, 1);
  return fromYmd(u, 1, 1);
}

/** BYDAY expanded over the days a..b (inclusive), ordinals counted within that range. */
function byDayIn(byDay: ByDay[], a: number, b: number): Set<number> {
  const out = new Set<number>();
  for (const bd of byDay) {
    const first = a + ((bd.weekday - weekdayOf(a) + 7) % 7);
    const all: number[] = [];
    for (let n = first; n <= b; n += 7) all.push(n);
    if (bd.ordinal === 0) all.forEach((n) => out.add(n));
    else {
      const n = bd.ordinal > 0 ? all[bd.ordinal - 1] : all[all.length + bd.ordinal];
      if (n !== undefined) out.add(n);
    }
  }
  return out;
}

function monthDay(y: number, m: number, md: number): number | null {
  const dim = daysInMonth(y, m);
  const d = md > 0 ? md : dim + md + 1;
  return d >= 1 && d <= dim ? fromYmd(y, m, d) : null;
}

/** Days of one month selected by BYMONTHDAY and BYDAY (RFC 5545 table: BYMONTHDAY expands, BYDAY then limits), or DTSTART's day. */
function inMonth(rule: RRule, y: number, m: number, startDay: number, byDayScope: Set<number> | null): number[] {
  const dim = daysInMonth(y, m);
  const scope = byDayScope ?? (rule.byDay.length ? byDayIn(rule.byDay, fromYmd(y, m, 1), fromYmd(y, m, dim)) : null);
  if (rule.byMonthDay.length) {
    const days = rule.byMonthDay.map((md) => monthDay(y, m, md)).filter((n): n is number => n !== null);
    return scope ? days.filter((n) => scope.has(n)) : days;
  }
  if (scope) return [...scope];
  const d = monthDay(y, m, startDay);
  return d === null ? [] : [d];
}

/** The candidate days of one period, sorted, before DTSTART, UNTIL and COUNT apply. */
function candidates(rule: RRule, u: number, start: number): number[] {
  const s = ymd(start);
  let days: number[];
  switch (rule.freq) {
    case 'DAILY': {
      const { y, m, d } = ymd(u);
      const dim = daysInMonth(y, m);
      const ok =
        (!rule.byMonthDay.length || rule.byMonthDay.some((md) => (md > 0 ? md : dim + md + 1) === d)) &&
        (!rule.byDay.length || rule.byDay.some((bd) => bd.weekday === weekdayOf(u)));
      days = ok ? [u] : [];
      break;
    }
    case 'WEEKLY': {
      const wds = rule.byDay.length ? rule.byDay.map((bd) => bd.weekday) : [weekdayOf(start)];
      days = wds.map((w) => unitStart('WEEKLY', u) + w - 1);
      break;
    }
    case 'MONTHLY':
      days = inMonth(rule, Math.floor(u / 12), (u % 12) + 1, s.d, null);
      break;
    case 'YEARLY': {
      const y = u;
      if (rule.byMonth.length) days = rule.byMonth.flatMap((m) => inMonth(rule, y, m, s.d, null));
      else if (rule.byDay.length || rule.byMonthDay.length) {
        // Without BYMONTH, BYDAY ordinals count within the year ("20MO" = the 20th Monday).
        const yearScope = rule.byDay.length ? byDayIn(rule.byDay, fromYmd(y, 1, 1), fromYmd(y, 12, 31)) : null;
        days = rule.byMonthDay.length ? [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].flatMap((m) => inMonth(rule, y, m, s.d, yearScope)) : [...yearScope!];
      } else days = inMonth(rule, y, s.m, s.d, null);
      break;
    }
  }
  if (rule.byMonth.length && rule.freq !== 'YEARLY') days = days.filter((n) => rule.byMonth.includes(ymd(n).m));
  return [...new Set(days)].sort((a, b) => a - b);
}

/**
 * The local dates in [from, to] on which the rule, started on `start` at
 * `time`, has an occurrence. Without COUNT it jumps straight to `from`; with
 * COUNT it counts from DTSTART, so the work grows with the distance from it.
 */
export function rruleDates(rule: RRule, start: string, time: string, from: string, to: string): string[] {
  const s = dayNum(start);
  const f = Math.max(dayNum(from), s);
  const t = dayNum(to);
  const out: string[] = [];
  if (f > t) return out;
  const u0 = unitOf(rule.freq, s);
  let k = rule.count === null ? Math.max(0, Math.floor((unitOf(rule.freq, f) - u0) / rule.interval)) : 0;
  let n = 0;
  for (; ; k++) {
    const u = u0 + k * rule.interval;
    if (unitStart(rule.freq, u) > t) return out;
    for (const d of candidates(rule, u, s)) {
      if (d < s) continue;
      const date = dateOf(d);
      if (rule.until !== null && localToEpoch(date, time) > rule.until) return out;
      if (rule.count !== null && ++n > rule.count) return out;
      if (d > t) return out;
      if (d >= f) out.push(date);
    }
  }
}
