// The day plan: what a device's programmes do on one local date under its
// rules, item by item, with the rule behind every refusal or cut. The agent
// feeds the items to the playback arbiter (device/arbiter.ts) and logs the
// refusals; the console shows the same plan to the operator.
//
// Semantics (the arbiter and the airtime accounting must match these):
// - Which programmes: those with a zone containing the device's zone, each
//   occurrence starting on `date` (local). An occurrence's nominal start is
//   `scheduled`; `key` = programme id + '@' + scheduled (epoch ms), so a
//   delay never changes the key and the agent never plays one twice.
// - Length: durationMs = chimeMs (when `chime`) + the playlist's durations.
// - A refused item or part has start = end = the moment it was refused (its
//   nominal start for the checks below, its turn in the queue for the rest)
//   and volume 0.
// - Checks at the nominal start, in this order, each refusing the whole item:
//   the date is a blackout date → 'blackout'; no allowed window at the
//   nominal start → 'quiet-hours'; an asset of the playlist has no known
//   duration → 'missing-asset' (durationMs then counts only what is known).
// - One channel, simulated in time order. Whenever it is free, the next item is
//   the waiting one of the highest level, then the earliest nominal start,
//   then programme id (first come, first served — an interrupted remainder
//   keeps its nominal start, so it goes before items that arrived after it).
//   - A priority item starting while a normal one plays cuts it at once (a
//     priority never cuts a priority). The cut part is 'shortened'
//     ('overlap'). A resumable item's remainder is queued at once (a part with
//     offsetMs = how far it had got, key programme@scheduled+offsetMs) and
//     resumes when the channel frees, 'planned' with rule 'overlap'; a
//     non-resumable item's remainder is dropped (logged as interrupted).
//   - Anything else starting while the channel is busy waits. A waiting item
//     (or remainder) starts when its turn comes if that is before its
//     `windowEnd` (the end of the allowed span containing its nominal start,
//     adjacent windows merged — the arbiter's notAfter, same strict test); it
//     is then 'planned' with rule 'overlap' and a reason saying how late. If
//     the span has closed: 'refused' ('overlap').
//   - Every part ends at the earliest of: its natural end; its span's end
//     ('quiet-hours'); the continuous-airtime limit ('continuous-airtime'):
//     a run is airtime without any gap, so it counts from the first start
//     after silence, across items and levels; the daily limit
//     ('daily-airtime'): airtime of this date's items, in time order; a
//     priority start cutting a normal item ('overlap'). Ties go to the
//     natural end, then in the order listed. Cut short by a rule → 'shortened';
//     the limit already reached when its turn comes → 'refused' with that rule
//     (so items queued back-to-back behind a run at its limit are all refused).
// - Volume: min(defaultVolume, the lowest cap over the part's airtime) — the
//   cap at the start unless the span runs into a window with a lower cap, so
//   the volume never exceeds a cap while it plays. Programmes carry no volume
//   of their own. A 'planned' part whose volume the cap lowered below
//   defaultVolume carries rule 'volume-cap' (a cut, refusal or delay rule
//   takes the single rule field first).
// - Output sorted by start, then scheduled, then key.
// Limits: the plan of one date does not see the previous date's items still
// on air after midnight, and counts airtime per date of the items' start.

import { LoaError } from '../protocol/errors.js';
import { zoneContains } from '../protocol/ids.js';
import type { Programme, RuleProfile } from '../protocol/payloads.js';
import { occurrencesOn, validateRecurrence } from './recurrence.js';
import { allowedAt, capOver, effectiveRules, type EffectiveRules } from './rules.js';
import { localClock as clock } from './time.js';

export type PlanRule = 'blackout' | 'quiet-hours' | 'volume-cap' | 'continuous-airtime' | 'daily-airtime' | 'overlap' | 'missing-asset';
export type PlanStatus = 'planned' | 'shortened' | 'refused';

export interface PlanItem {
  /** programme@scheduled, or programme@scheduled+offsetMs for a resumed remainder. */
  key: string;
  programme: string;
  title: string;
  level: 'priority' | 'normal';
  /** Nominal start of the occurrence. */
  scheduled: number;
  /** Planned start and end of this part; equal when refused. */
  start: number;
  end: number;
  /** Where in the content (chime included) this part starts: 0, or where a resumed remainder picks up. */
  offsetMs: number;
  /** Full length of the content, chime included. */
  durationMs: number;
  volume: number;
  resumable: boolean;
  /** End of the allowed span of the nominal start: the arbiter's `notAfter`. Null when refused before that or unbounded. */
  windowEnd: number | null;
  status: PlanStatus;
  rule?: PlanRule;
  reason?: string;
  playlist: string[];
}

export interface DayPlanInput {
  date: string;
  programmes: readonly Programme[];
  /** Asset durations by sha256 (from the target state's asset list). */
  durations: ReadonlyMap<string, number>;
  /** Rule profiles of the device's zone lineage. */
  rules: readonly RuleProfile[];
  /** The device's zone. */
  zone: string;
  /** Length of the pre-announcement chime of programmes with `chime: true`. */
  chimeMs?: number;
}

export const DEFAULT_CHIME_MS = 3000;
const RANK = { priority: 1, normal: 0 } as const;

/** Every programme whose recurrence cannot be expanded, as coded errors (empty when all are fine). */
export function checkProgrammes(programmes: readonly Programme[]): LoaError[] {
  const out: LoaError[] = [];
  for (const p of programmes) {
    try {
      validateRecurrence(p.recurrence);
    } catch (e) {
      const err = e as LoaError;
      out.push(new LoaError('LOA_E_SCHEDULE_INVALID', `programme ${p.id}: ${err.message}`, { cause: err, context: { ...err.context, programme: p.id } }));
    }
  }
  return out;
}

interface Job {
  p: Programme;
  scheduled: number;
  /** When it joined the queue: the nominal start, or the moment it was cut. */
  ready: number;
  offsetMs: number;
  durationMs: number;
  spanEnd: number;
  windowEnd: number | null;
}

const secs = (ms: number) => `${Math.round(ms / 1000)} s`;

/** Plans one local date; throws LOA_E_SCHEDULE_INVALID for a recurrence checkProgrammes would report. */
export function dayPlan(input: DayPlanInput): PlanItem[] {
  const { date, durations, zone } = input;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new LoaError('LOA_E_SCHEDULE_INVALID', `day plan date "${date}" is not YYYY-MM-DD`, { context: { date } });
  const chimeMs = input.chimeMs ?? DEFAULT_CHIME_MS;
  const rules: EffectiveRules = effectiveRules(input.rules);
  const out: PlanItem[] = [];

  const item = (j: Job, start: number, end: number, status: PlanStatus, rule?: PlanRule, reason?: string, volume = 0): PlanItem => ({
    key: j.offsetMs ? `${j.p.id}@${j.scheduled}+${j.offsetMs}` : `${j.p.id}@${j.scheduled}`,
    programme: j.p.id,
    title: j.p.title,
    level: j.p.level,
    scheduled: j.scheduled,
    start,
    end,
    offsetMs: j.offsetMs,
    durationMs: j.durationMs,
    volume,
    resumable: j.p.resumable,
    windowEnd: j.windowEnd,
    status,
    ...(rule ? { rule } : {}),
    ...(reason ? { reason } : {}),
    playlist: [...j.p.playlist],
  });
  const refuse = (j: Job, rule: PlanRule, reason: string) => out.push(item(j, j.ready, j.ready, 'refused', rule, reason));

  // Occurrences and the checks at their nominal start.
  const jobs: Job[] = [];
  for (const p of input.programmes) {
    if (!p.zones.some((z) => zoneContains(z, zone))) continue;
    for (const scheduled of occurrencesOn(p.recurrence, date)) {
      const missing = p.playlist.filter((sha) => !durations.has(sha));
      const durationMs = (p.chime ? chimeMs : 0) + p.playlist.reduce((n, sha) => n + (durations.get(sha) ?? 0), 0);
      const j: Job = { p, scheduled, ready: scheduled, offsetMs: 0, durationMs, spanEnd: scheduled, windowEnd: null };
      const a = allowedAt(rules, scheduled);
      if (a.rule === 'blackout') refuse(j, 'blackout', `${date} is a blackout date`);
      else if (!a.allowed) refuse(j, 'quiet-hours', `${clock(scheduled)} is outside every allowed window`);
      else if (missing.length) refuse(j, 'missing-asset', `no duration is known for asset ${missing[0]}${missing.length > 1 ? ` and ${missing.length - 1} more` : ''}`);
      else jobs.push({ ...j, spanEnd: a.windowEnd ?? Infinity, windowEnd: a.windowEnd });
    }
  }
  const order = (a: Job, b: Job) => RANK[b.p.level] - RANK[a.p.level] || a.scheduled - b.scheduled || (a.p.id < b.p.id ? -1 : a.p.id > b.p.id ? 1 : 0) || a.offsetMs - b.offsetMs;
  const arrivals = [...jobs].sort((a, b) => a.scheduled - b.scheduled || order(a, b));

  const maxCont = rules.maxContinuousSec === null ? Infinity : rules.maxContinuousSec * 1000;
  const maxDaily = rules.maxDailySec === null ? Infinity : rules.maxDailySec * 1000;
  const queue: Job[] = [];
  let next = 0;
  let now = -Infinity;
  let usedMs = 0;
  let runStart = -Infinity;
  let lastEnd = -Infinity;
  let lastTitle = '';

  for (;;) {
    if (!queue.length) {
      const a = arrivals[next];
      if (!a) break;
      now = Math.max(now, a.scheduled);
    }
    while (next < arrivals.length && arrivals[next]!.scheduled <= now) queue.push(arrivals[next++]!);
    queue.sort(order);
    const j = queue.shift()!;
    if (now >= j.spanEnd) {
      refuse({ ...j, ready: now }, 'overlap', `waited behind ${lastTitle} until ${clock(now)}, after its window closed at ${clock(j.spanEnd)}`);
      continue;
    }
    if (lastEnd !== now) runStart = now;
    const contEnd = runStart + maxCont;
    const dailyEnd = now + (maxDaily - usedMs);
    if (contEnd <= now) {
      refuse({ ...j, ready: now }, 'continuous-airtime', `${secs(now - runStart)} of continuous airtime at ${clock(now)} reaches the limit of ${secs(maxCont)}`);
      continue;
    }
    if (dailyEnd <= now) {
      refuse({ ...j, ready: now }, 'daily-airtime', `the daily airtime of ${secs(maxDaily)} is used up by ${clock(now)}`);
      continue;
    }
    const natural = now + (j.durationMs - j.offsetMs);
    const cutter = j.p.level === 'normal' ? arrivals.slice(next).find((a) => a.p.level === 'priority' && a.scheduled > now) : undefined;
    const ends: [number, PlanRule | null][] = [
      [natural, null],
      [j.spanEnd, 'quiet-hours'],
      [contEnd, 'continuous-airtime'],
      [dailyEnd, 'daily-airtime'],
      [cutter ? cutter.scheduled : Infinity, 'overlap'],
    ];
    const [end, cutRule] = ends.reduce((best, e) => (e[0] < best[0] ? e : best));
    const volume = Math.min(rules.defaultVolume, capOver(rules, now, end));
    const late = now > j.ready;
    let status: PlanStatus = 'planned';
    let rule: PlanRule | undefined;
    let reason: string | undefined;
    if (cutRule) {
      status = 'shortened';
      rule = cutRule;
      if (cutRule === 'quiet-hours') reason = `its allowed window ends at ${clock(end)}`;
      else if (cutRule === 'continuous-airtime') reason = `continuous airtime since ${clock(runStart)} reaches the limit of ${secs(maxCont)} at ${clock(end)}`;
      else if (cutRule === 'daily-airtime') reason = `the daily airtime of ${secs(maxDaily)} is used up at ${clock(end)}`;
      else reason = `interrupted at ${clock(end)} by priority programme ${cutter!.p.id}; ${j.p.resumable ? 'resumes after it' : 'not resumable'}`;
    } else if (j.offsetMs) {
      rule = 'overlap';
      reason = `resumes at ${clock(now)}, ${secs(j.offsetMs)} in, after an interruption at ${clock(j.ready)}`;
    } else if (late) {
      rule = 'overlap';
      reason = `starts at ${clock(now)} instead of ${clock(j.scheduled)}, after ${lastTitle}`;
    } else if (volume < rules.defaultVolume) {
      rule = 'volume-cap';
      reason = `volume ${volume} instead of the default ${rules.defaultVolume}: the window cap is ${volume}`;
    }
    if (cutRule && (j.offsetMs || late)) reason += j.offsetMs ? ` (resumed at ${clock(now)})` : ` (started late at ${clock(now)})`;
    out.push(item(j, now, end, status, rule, reason, volume));
    if (cutRule === 'overlap' && j.p.resumable) queue.push({ ...j, ready: end, offsetMs: j.offsetMs + (end - now) });
    usedMs += end - now;
    lastEnd = end;
    lastTitle = `${j.p.level} programme ${j.p.id}`;
    now = end;
  }
  return out.sort((a, b) => a.start - b.start || a.scheduled - b.scheduled || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
