import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isLoaError } from '../../protocol/errors.js';
import type { Programme, Recurrence, RuleProfile } from '../../protocol/payloads.js';
import { checkProgrammes, dayPlan, type PlanItem } from '../../schedules/plan.js';
import { addDays, localToEpoch } from '../../schedules/time.js';

const sha = (c: string) => c.repeat(64);
const MIN = 60_000;
const ALL = [1, 2, 3, 4, 5, 6, 7];
const VILLAGE = 'quang-ngai/son-ha/thon-3';

const prog = (id: string, level: 'priority' | 'normal', recurrence: Recurrence, asset: string, extra: Partial<Programme> = {}): Programme => ({
  id,
  title: id,
  level,
  playlist: [sha(asset)],
  recurrence,
  resumable: false,
  zones: [VILLAGE],
  ...extra,
});
const daily = (time: string): Recurrence => ({ kind: 'daily', time });
const once = (date: string, time: string): Recurrence => ({ kind: 'once', date, time });
const window = (start: string, end: string, volumeCap: number) => ({ days: ALL, start, end, volumeCap });
/** Local wall clock of an instant, HH:MM:SS. */
const hms = (t: number) => new Date(t + 7 * 3600_000).toISOString().slice(11, 19);
/** The observable shape of an item: programme, start, end, status, rule, volume. */
const row = (i: PlanItem) => `${i.programme} ${hms(i.start)}-${hms(i.end)} ${i.status}${i.rule ? ` ${i.rule}` : ''} v${i.volume}`;

function everyCutHasAReason(items: PlanItem[]) {
  for (const i of items) {
    if (i.status !== 'planned') assert.ok(i.rule && i.reason && i.reason.length > 10, `${i.key} needs a rule and a reason`);
    if (i.rule) assert.ok(i.reason, `${i.key} has a rule without a reason`);
  }
}

// ------------------------------------------------------------------ the week

// A village in Sơn Hà commune, Quảng Ngãi. The province allows 05:00–21:00 at
// cap 80 with a default volume of 75; the commune adds a blackout on Sunday 29
// November (an election day) and a 30-minute continuous limit; the village
// sounds only 05:30–07:30 (cap 90, so 80 holds) and 17:00–19:00 (cap 70), and
// at most 45 minutes a day.
const rules: RuleProfile[] = [
  { zone: 'quang-ngai', windows: [window('05:00', '21:00', 80)], defaultVolume: 75, blackoutDates: [] },
  { zone: 'quang-ngai/son-ha', windows: [window('05:00', '22:00', 85)], maxContinuousSec: 1800, blackoutDates: ['2026-11-29'] },
  { zone: VILLAGE, windows: [window('05:30', '07:30', 90), window('17:00', '19:00', 70)], maxDailySec: 2700, blackoutDates: [] },
];
const durations = new Map([
  [sha('a'), 20 * MIN],
  [sha('b'), 5 * MIN],
  [sha('c'), 20 * MIN],
  [sha('d'), 30 * MIN],
  [sha('e'), 10 * MIN],
  [sha('g'), 5 * MIN],
]);
const programmes: Programme[] = [
  // The province's morning bulletin: 3 s chime + 20 min, resumable.
  prog('ban-tin-sang', 'normal', daily('06:00'), 'a', { resumable: true, chime: true, zones: ['quang-ngai'] }),
  // The commune's notice on Monday and Thursday, in the middle of the bulletin.
  prog('thong-bao-xa', 'priority', { kind: 'weekly', days: [1, 4], time: '06:10' }, 'b', { zones: ['quang-ngai/son-ha'] }),
  prog('chuong-trinh-toi', 'normal', daily('18:50'), 'c'),
  prog('nhac-trua', 'normal', once('2026-11-24', '12:00'), 'b'),
  prog('sinh-hoat', 'normal', { kind: 'rrule', rrule: 'RRULE:FREQ=WEEKLY;BYDAY=WE,SU', start: '2026-11-01', time: '17:15' }, 'e'),
  prog('phong-dich', 'normal', once('2026-11-25', '07:00'), 'f'),
  prog('tuyen-truyen', 'normal', once('2026-11-27', '17:30'), 'd'),
  prog('loa-xa', 'normal', once('2026-11-28', '06:05'), 'g', { zones: ['quang-ngai/son-ha'] }),
  // Other places: a sibling village, and a commune whose slug is a prefix of ours.
  prog('thon-4', 'normal', daily('06:30'), 'g', { zones: ['quang-ngai/son-ha/thon-4'] }),
  prog('son', 'priority', daily('06:30'), 'g', { zones: ['quang-ngai/son'] }),
];

test('a simulated week: windows, caps, a blackout and overlapping programmes of both levels give the expected plan, refusals and reasons', () => {
  const week = Array.from({ length: 7 }, (_, i) => addDays('2026-11-23', i));
  const plans = week.map((date) => dayPlan({ date, programmes, durations, rules, zone: VILLAGE }));
  const rows = plans.map((p) => p.map(row));
  const monThu = [
    'ban-tin-sang 06:00:00-06:10:00 shortened overlap v75',
    'thong-bao-xa 06:10:00-06:15:00 planned v75',
    'ban-tin-sang 06:15:00-06:25:03 planned overlap v75',
    'chuong-trinh-toi 18:50:00-19:00:00 shortened quiet-hours v70',
  ];
  assert.equal(rows[0], monThu, 'Monday');
  assert.equal(rows[1], [
    'ban-tin-sang 06:00:00-06:20:03 planned v75',
    'nhac-trua 12:00:00-12:00:00 refused quiet-hours v0',
    'chuong-trinh-toi 18:50:00-19:00:00 shortened quiet-hours v70',
  ], 'Tuesday');
  assert.equal(rows[2], [
    'ban-tin-sang 06:00:00-06:20:03 planned v75',
    'phong-dich 07:00:00-07:00:00 refused missing-asset v0',
    'sinh-hoat 17:15:00-17:25:00 planned volume-cap v70',
    'chuong-trinh-toi 18:50:00-19:00:00 shortened quiet-hours v70',
  ], 'Wednesday');
  assert.equal(rows[3], monThu, 'Thursday');
  // 20:03 in the morning leaves 24:57 of the 45 minutes.
  assert.equal(rows[4], [
    'ban-tin-sang 06:00:00-06:20:03 planned v75',
    'tuyen-truyen 17:30:00-17:54:57 shortened daily-airtime v70',
    'chuong-trinh-toi 18:50:00-18:50:00 refused daily-airtime v0',
  ], 'Friday');
  assert.equal(rows[5], [
    'ban-tin-sang 06:00:00-06:20:03 planned v75',
    'loa-xa 06:20:03-06:25:03 planned overlap v75',
    'chuong-trinh-toi 18:50:00-19:00:00 shortened quiet-hours v70',
  ], 'Saturday');
  assert.equal(rows[6], [
    'ban-tin-sang 06:00:00-06:00:00 refused blackout v0',
    'sinh-hoat 17:15:00-17:15:00 refused blackout v0',
    'chuong-trinh-toi 18:50:00-18:50:00 refused blackout v0',
  ], 'Sunday');

  // Keys, offsets and reasons on Monday: the bulletin is cut and resumes 10 minutes in.
  const t6 = localToEpoch('2026-11-23', '06:00');
  const [cut, notice, rest, evening] = plans[0]!;
  assert.equal([cut!.key, notice!.key, rest!.key], [`ban-tin-sang@${t6}`, `thong-bao-xa@${t6 + 10 * MIN}`, `ban-tin-sang@${t6}+${10 * MIN}`]);
  assert.equal([cut!.offsetMs, rest!.offsetMs, rest!.scheduled, rest!.durationMs], [0, 10 * MIN, t6, 20 * MIN + 3000]);
  assert.is(cut!.reason, 'interrupted at 06:10 by priority programme thong-bao-xa; resumes after it');
  assert.is(rest!.reason, 'resumes at 06:15, 600 s in, after an interruption at 06:10');
  assert.is(rest!.windowEnd, localToEpoch('2026-11-23', '07:30'));
  assert.is(evening!.reason, 'its allowed window ends at 19:00');
  assert.equal(plans[1]![1]!.reason, '12:00 is outside every allowed window');
  assert.equal(plans[2]![1]!.reason, `no duration is known for asset ${sha('f')}`);
  assert.equal(plans[2]![2]!.reason, 'volume 70 instead of the default 75: the window cap is 70');
  assert.equal(plans[4]![1]!.reason, 'the daily airtime of 2700 s is used up at 17:54:57');
  assert.equal(plans[4]![2]!.reason, 'the daily airtime of 2700 s is used up by 18:50');
  assert.equal(plans[5]![1]!.reason, 'starts at 06:20:03 instead of 06:05, after normal programme ban-tin-sang');
  assert.equal(plans[6]![0]!.reason, '2026-11-29 is a blackout date');
  plans.forEach(everyCutHasAReason);
});

// ------------------------------------------------------------ single rules

const morning: RuleProfile[] = [{ zone: 'quang-ngai', windows: [window('06:00', '06:30', 80)], defaultVolume: 80, blackoutDates: [] }];
const D = '2026-11-26';
const plan = (ps: Programme[], r: RuleProfile[] = morning) => dayPlan({ date: D, programmes: ps, durations, rules: r, zone: VILLAGE }).map(row);

test('a priority item cuts a non-resumable one for good, and a remainder whose window closed is refused', () => {
  assert.equal(plan([prog('n', 'normal', daily('06:00'), 'a'), prog('p', 'priority', daily('06:05'), 'b')]), [
    'n 06:00:00-06:05:00 shortened overlap v80',
    'p 06:05:00-06:10:00 planned v80',
  ]);
  const items = dayPlan({ date: D, programmes: [prog('n', 'normal', daily('06:00'), 'd', { resumable: true }), prog('p', 'priority', daily('06:20'), 'c')], durations, rules: morning, zone: VILLAGE });
  assert.equal(items.map(row), [
    'n 06:00:00-06:20:00 shortened overlap v80',
    'p 06:20:00-06:30:00 shortened quiet-hours v80',
    'n 06:30:00-06:30:00 refused overlap v0',
  ]);
  assert.is(items[2]!.key, `n@${localToEpoch(D, '06:00')}+${20 * MIN}`);
  assert.is(items[2]!.reason, 'waited behind priority programme p until 06:30, after its window closed at 06:30');
});

test('the same level waits its turn, first come first served, and is refused once its window has closed', () => {
  assert.equal(plan([prog('a', 'normal', daily('06:00'), 'a'), prog('c', 'normal', daily('06:15'), 'g'), prog('b', 'normal', daily('06:10'), 'a')]), [
    'a 06:00:00-06:20:00 planned v80',
    'b 06:20:00-06:30:00 shortened quiet-hours v80',
    'c 06:30:00-06:30:00 refused overlap v0',
  ]);
  // At the same instant the priority goes first; the normal one waits behind it.
  assert.equal(plan([prog('n', 'normal', daily('06:00'), 'g'), prog('p', 'priority', daily('06:00'), 'g')]), [
    'p 06:00:00-06:05:00 planned v80',
    'n 06:05:00-06:10:00 planned overlap v80',
  ]);
});

test('continuous airtime counts across back-to-back items; any gap starts a new run', () => {
  const r: RuleProfile[] = [{ ...morning[0]!, windows: [window('06:00', '07:00', 80)], maxContinuousSec: 900 }];
  assert.equal(plan([prog('a', 'normal', daily('06:00'), 'e'), prog('b', 'normal', daily('06:10'), 'e'), prog('c', 'priority', daily('06:15'), 'g'), prog('d', 'normal', daily('06:16'), 'g')], r), [
    'a 06:00:00-06:10:00 planned v80',
    'b 06:10:00-06:15:00 shortened continuous-airtime v80',
    'c 06:15:00-06:15:00 refused continuous-airtime v0',
    'd 06:16:00-06:21:00 planned v80',
  ]);
});

test('volume: the lowest cap over the airtime, and volume-cap only when the cap lowered the default', () => {
  const r: RuleProfile[] = [{ zone: 'quang-ngai', windows: [window('06:00', '07:00', 80), window('07:00', '08:00', 60)], defaultVolume: 75, blackoutDates: [] }];
  const items = dayPlan({ date: D, programmes: [prog('a', 'normal', daily('06:00'), 'e'), prog('b', 'normal', daily('06:55'), 'e')], durations, rules: r, zone: VILLAGE });
  assert.equal(items.map(row), ['a 06:00:00-06:10:00 planned v75', 'b 06:55:00-07:05:00 planned volume-cap v60']);
  assert.is(items[1]!.windowEnd, localToEpoch(D, '08:00'));
  // No rules at all: everything plays at 100, whenever it is scheduled.
  assert.equal(plan([prog('a', 'normal', daily('03:00'), 'e', { chime: true })], []), ['a 03:00:00-03:10:03 planned v100']);
});

test('a programme whose rule cannot be expanded is reported up front, and the planner refuses to guess', () => {
  const bad = prog('x', 'normal', { kind: 'rrule', rrule: 'FREQ=MONTHLY;BYSETPOS=-1', start: D, time: '06:00' }, 'a');
  const errs = checkProgrammes([prog('ok', 'normal', daily('06:00'), 'a'), bad]);
  assert.is(errs.length, 1);
  assert.is(errs[0]!.code, 'LOA_E_SCHEDULE_INVALID');
  assert.is(errs[0]!.context.programme, 'x');
  assert.match(errs[0]!.message, /^programme x: RRULE "FREQ=MONTHLY;BYSETPOS=-1": BYSETPOS is not supported/);
  assert.throws(() => plan([bad]), (e: unknown) => isLoaError(e, 'LOA_E_SCHEDULE_INVALID'));
});

test.run();
