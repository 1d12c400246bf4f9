import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RuleProfile } from '../../protocol/payloads.js';
import { allowedAt, effectiveRules } from '../../schedules/rules.js';
import { localToEpoch } from '../../schedules/time.js';

const ALL = [1, 2, 3, 4, 5, 6, 7];
const profile = (zone: string, windows: [string, string, number, number[]?][], extra: Partial<RuleProfile> = {}): RuleProfile => ({
  zone,
  windows: windows.map(([start, end, volumeCap, days]) => ({ days: days ?? ALL, start, end, volumeCap })),
  blackoutDates: [],
  ...extra,
});
const m = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));
const at = localToEpoch;
// Monday 23 November 2026 … Sunday 29 November 2026.

test('province 05:00–21:00 cap 80 and commune 06:00–20:00 cap 70 give 06:00–20:00 cap 70', () => {
  const r = effectiveRules([profile('quang-ngai', [['05:00', '21:00', 80]], { defaultVolume: 75 }), profile('quang-ngai/son-ha', [['06:00', '20:00', 70]], { defaultVolume: 90 })]);
  for (const d of ALL) assert.equal(r.week[d], [{ start: m('06:00'), end: m('20:00'), cap: 70 }], `weekday ${d}`);
  assert.is(r.defaultVolume, 75);
  assert.equal(allowedAt(r, at('2026-11-23', '05:30')), { allowed: false, cap: 0, windowEnd: null, rule: 'quiet-hours' });
  assert.equal(allowedAt(r, at('2026-11-23', '06:00')), { allowed: true, cap: 70, windowEnd: at('2026-11-23', '20:00') });
  assert.equal(allowedAt(r, at('2026-11-23', '20:00')).allowed, false);
});

test('caps: the lowest window covering an instant, across and within profiles', () => {
  const r = effectiveRules([
    profile('p', [['05:00', '21:00', 80]]),
    profile('p/c', [['05:30', '07:30', 90], ['07:30', '09:00', 60], ['06:00', '06:30', 50, [1]], ['17:00', '19:00', 70]]),
  ]);
  assert.equal(r.week[1], [
    { start: m('05:30'), end: m('06:00'), cap: 80 },
    { start: m('06:00'), end: m('06:30'), cap: 50 },
    { start: m('06:30'), end: m('07:30'), cap: 80 },
    { start: m('07:30'), end: m('09:00'), cap: 60 },
    { start: m('17:00'), end: m('19:00'), cap: 70 },
  ]);
  assert.equal(r.week[2], [{ start: m('05:30'), end: m('07:30'), cap: 80 }, { start: m('07:30'), end: m('09:00'), cap: 60 }, { start: m('17:00'), end: m('19:00'), cap: 70 }]);
  // Adjacent windows make one span even when their caps differ.
  assert.equal(allowedAt(r, at('2026-11-24', '07:00')), { allowed: true, cap: 80, windowEnd: at('2026-11-24', '09:00') });
  assert.equal(allowedAt(r, at('2026-11-23', '06:15')), { allowed: true, cap: 50, windowEnd: at('2026-11-23', '09:00') });
});

test('blackout dates from any profile are merged and refuse the whole day', () => {
  const r = effectiveRules([
    profile('p', [['00:00', '00:00', 100]], { blackoutDates: ['2026-11-29', '2026-09-02'] }),
    profile('p/c', [['20:00', '02:00', 60]], { blackoutDates: ['2026-11-25', '2026-11-29'] }),
  ]);
  assert.equal(r.blackoutDates, ['2026-09-02', '2026-11-25', '2026-11-29']);
  assert.equal(allowedAt(r, at('2026-11-25', '21:00')), { allowed: false, cap: 0, windowEnd: null, rule: 'blackout' });
  // The window crossing midnight into a blackout day stops at midnight …
  assert.equal(allowedAt(r, at('2026-11-24', '23:00')), { allowed: true, cap: 60, windowEnd: at('2026-11-25', '00:00') });
  // … and otherwise runs on to 02:00.
  assert.equal(allowedAt(r, at('2026-11-26', '23:00')), { allowed: true, cap: 60, windowEnd: at('2026-11-27', '02:00') });
  assert.equal(allowedAt(r, at('2026-11-27', '01:59')), { allowed: true, cap: 60, windowEnd: at('2026-11-27', '02:00') });
  assert.equal(allowedAt(r, at('2026-11-27', '02:00')).rule, 'quiet-hours');
});

test('windows ending at 00:00 join the next morning across midnight', () => {
  const r = effectiveRules([profile('p', [['20:00', '00:00', 70, [1]], ['00:00', '05:00', 40, [2]], ['05:00', '06:00', 40, [2]]])]);
  assert.equal(r.week[2], [{ start: 0, end: m('06:00'), cap: 40 }]);
  assert.equal(allowedAt(r, at('2026-11-23', '21:00')), { allowed: true, cap: 70, windowEnd: at('2026-11-24', '06:00') });
});

test('a profile with no windows allows nothing; no profile restricts nothing', () => {
  const none = effectiveRules([profile('p', [['05:00', '21:00', 80]]), profile('p/c', [])]);
  for (const d of ALL) assert.equal(none.week[d], []);
  assert.equal(allowedAt(none, at('2026-11-23', '12:00')).rule, 'quiet-hours');
  const free = effectiveRules([]);
  assert.equal(free, {
    week: Object.fromEntries(ALL.map((d) => [d, [{ start: 0, end: 1440, cap: 100 }]])),
    defaultVolume: 100,
    maxContinuousSec: null,
    maxDailySec: null,
    blackoutDates: [],
    emergencyVolume: 100,
    panelMayStopEmergency: false,
    liveAnyTime: false,
    liveVolume: 100,
  });
  assert.equal(allowedAt(free, at('2026-11-23', '03:00')), { allowed: true, cap: 100, windowEnd: null });
});

test('airtime limits take the lowest; emergency volume the deepest; the panel stop needs everyone who speaks', () => {
  const province = profile('p', [['05:00', '21:00', 80]], { maxContinuousSec: 1800, emergencyVolume: 100, panelMayStopEmergency: true, defaultVolume: 70 });
  const commune = profile('p/c', [['05:00', '21:00', 80]], { maxDailySec: 7200, maxContinuousSec: 2400, emergencyVolume: 85 });
  const village = profile('p/c/v', [['05:00', '21:00', 80]], { maxDailySec: 3600 });
  // Given out of order: the deeper zone still wins for the emergency volume.
  const r = effectiveRules([commune, village, province]);
  assert.is(r.maxContinuousSec, 1800);
  assert.is(r.maxDailySec, 3600);
  assert.is(r.defaultVolume, 70);
  assert.is(r.emergencyVolume, 85);
  assert.is(r.panelMayStopEmergency, true);
  assert.is(effectiveRules([province, { ...village, panelMayStopEmergency: false }]).panelMayStopEmergency, false);
  assert.is(effectiveRules([commune, village]).panelMayStopEmergency, false);
  assert.is(effectiveRules([village]).emergencyVolume, 100);
});

test('live may sound outside the windows only when every profile of the lineage says so, at the live volume', () => {
  const base = { windows: [{ days: ALL, start: '06:00', end: '21:00', volumeCap: 70 }], blackoutDates: [] };
  const one = effectiveRules([{ zone: 'qn', ...base, liveAnyTime: true, liveVolume: 85, emergencyVolume: 95 }]);
  assert.is(one.liveAnyTime, true);
  assert.is(one.liveVolume, 85);
  const mixed = effectiveRules([{ zone: 'qn', ...base, liveAnyTime: true }, { zone: 'qn/dak-ha', ...base, liveAnyTime: false }]);
  assert.is(mixed.liveAnyTime, false, 'a commune that says no wins');
  assert.is(effectiveRules([{ zone: 'qn', ...base, emergencyVolume: 90 }]).liveVolume, 90, 'the emergency volume when no live volume is set');
});

test.run();
