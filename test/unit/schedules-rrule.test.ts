import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isLoaError } from '../../protocol/errors.js';
import type { Recurrence } from '../../protocol/payloads.js';
import { nextOccurrence, occurrencesOn, validateRecurrence } from '../../schedules/recurrence.js';
import { parseRRule, rruleDates } from '../../schedules/rrule.js';
import { localToEpoch } from '../../schedules/time.js';

// Expected dates below were checked against python-dateutil's rrule, except
// where a comment says Loa differs on purpose.
const dates = (rule: string, start: string, from: string, to: string, time = '06:00') => rruleDates(parseRRule(rule), start, time, from, to);

function throwsCoded(rule: string, part: string | undefined, words: RegExp) {
  try {
    parseRRule(rule);
  } catch (e) {
    assert.ok(isLoaError(e, 'LOA_E_SCHEDULE_INVALID'), `${rule}: ${String(e)}`);
    assert.is((e as { context: { part?: string } }).context.part, part, rule);
    assert.match((e as Error).message, words);
    return;
  }
  assert.unreachable(`${rule} should be refused`);
}

test('monthly on the last Friday', () => {
  assert.equal(dates('FREQ=MONTHLY;BYDAY=-1FR', '2026-01-01', '2026-01-01', '2026-12-31'), [
    '2026-01-30', '2026-02-27', '2026-03-27', '2026-04-24', '2026-05-29', '2026-06-26',
    '2026-07-31', '2026-08-28', '2026-09-25', '2026-10-30', '2026-11-27', '2026-12-25',
  ]);
  // The prefix is optional and case does not matter.
  assert.equal(dates('rrule:freq=monthly;byday=-1fr', '2026-01-01', '2026-11-01', '2026-11-30'), ['2026-11-27']);
});

test('every second week on Monday and Thursday, weeks starting Monday', () => {
  // Thursday 26 November starts it; Monday 30 November lies in the skipped week.
  assert.equal(dates('FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;WKST=SU', '2026-11-26', '2026-11-01', '2027-01-15'), ['2026-11-26', '2026-12-07', '2026-12-10', '2026-12-21', '2026-12-24', '2027-01-04', '2027-01-07']);
  // Asking from a later date jumps to the right week.
  assert.equal(dates('FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH', '2026-11-26', '2026-12-22', '2027-01-05'), ['2026-12-24', '2027-01-04']);
});

test('COUNT counts from DTSTART, even when asked about later dates', () => {
  assert.equal(dates('FREQ=DAILY;INTERVAL=3;COUNT=5', '2026-11-26', '2026-11-29', '2026-12-31'), ['2026-11-29', '2026-12-02', '2026-12-05', '2026-12-08']);
  assert.equal(dates('FREQ=MONTHLY;BYDAY=MO;COUNT=7', '2026-11-26', '2026-01-01', '2027-12-31'), ['2026-11-30', '2026-12-07', '2026-12-14', '2026-12-21', '2026-12-28', '2027-01-04', '2027-01-11']);
  // A start that does not match the rule is not an occurrence (RFC 5545 would count it; see rrule.ts).
  assert.equal(dates('FREQ=MONTHLY;BYDAY=-1FR;COUNT=2', '2026-11-24', '2026-11-01', '2027-12-31'), ['2026-11-27', '2026-12-25']);
});

test('UNTIL as a date includes that day; as a local or UTC date-time it bounds the instant', () => {
  // dateutil would stop at 2026-11-29 (it reads the date as midnight); Loa keeps the whole day.
  assert.equal(dates('FREQ=DAILY;UNTIL=20261130', '2026-11-26', '2026-11-01', '2026-12-31'), ['2026-11-26', '2026-11-27', '2026-11-28', '2026-11-29', '2026-11-30']);
  assert.equal(dates('FREQ=WEEKLY;INTERVAL=3;UNTIL=20270128T055959', '2026-11-26', '2026-11-26', '2027-03-01'), ['2026-11-26', '2026-12-17', '2027-01-07']);
  assert.equal(dates('FREQ=WEEKLY;INTERVAL=3;UNTIL=20270128T060000', '2026-11-26', '2026-11-26', '2027-03-01'), ['2026-11-26', '2026-12-17', '2027-01-07', '2027-01-28']);
  // 23:00 UTC on the 27th is 06:00 on the 28th in Vietnam.
  assert.equal(dates('FREQ=WEEKLY;INTERVAL=3;UNTIL=20270127T225959Z', '2026-11-26', '2026-11-26', '2027-03-01'), ['2026-11-26', '2026-12-17', '2027-01-07']);
});

test('BYMONTHDAY (negative from the month end), BYMONTH, yearly ordinals and impossible dates', () => {
  assert.equal(dates('FREQ=MONTHLY;BYMONTHDAY=-1,15', '2026-01-20', '2026-01-01', '2026-04-30'), ['2026-01-31', '2026-02-15', '2026-02-28', '2026-03-15', '2026-03-31', '2026-04-15', '2026-04-30']);
  assert.equal(dates('FREQ=MONTHLY;BYMONTHDAY=31', '2026-01-01', '2026-01-01', '2026-06-30'), ['2026-01-31', '2026-03-31', '2026-05-31']);
  assert.equal(dates('FREQ=YEARLY;BYMONTH=9;BYDAY=1MO', '2026-01-01', '2026-01-01', '2028-12-31'), ['2026-09-07', '2027-09-06', '2028-09-04']);
  assert.equal(dates('FREQ=YEARLY;BYDAY=20MO', '2026-01-01', '2026-01-01', '2027-12-31'), ['2026-05-18', '2027-05-17']);
  assert.equal(dates('FREQ=YEARLY', '2024-02-29', '2024-01-01', '2032-12-31'), ['2024-02-29', '2028-02-29', '2032-02-29']);
  assert.equal(dates('FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR', '2026-01-01', '2026-01-01', '2027-12-31'), ['2026-02-13', '2026-03-13', '2026-11-13', '2027-08-13']);
  assert.equal(dates('FREQ=DAILY;BYDAY=MO,WE;BYMONTH=3', '2026-01-01', '2026-01-01', '2026-03-10'), ['2026-03-02', '2026-03-04', '2026-03-09']);
  assert.equal(dates('FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;COUNT=2', '2026-01-01', '2026-01-01', '2040-12-31'), []);
});

test('rules outside the subset are refused with a coded error naming the part', () => {
  throwsCoded('FREQ=MONTHLY;BYDAY=1FR;BYSETPOS=-1', 'BYSETPOS', /BYSETPOS is not supported/);
  throwsCoded('FREQ=HOURLY', 'FREQ', /at most once a day/);
  throwsCoded('FREQ=FORTNIGHTLY', 'FREQ', /must be DAILY, WEEKLY, MONTHLY or YEARLY/);
  throwsCoded('INTERVAL=2', 'FREQ', /FREQ is required/);
  throwsCoded('FREQ=DAILY;COUNT=3;UNTIL=20261231', 'COUNT', /must not both be given/);
  throwsCoded('FREQ=WEEKLY;BYDAY=1MO', 'BYDAY', /only allowed with FREQ=MONTHLY or YEARLY/);
  throwsCoded('FREQ=MONTHLY;BYDAY=6MO', 'BYDAY', /must be 1 to 5/);
  throwsCoded('FREQ=MONTHLY;BYDAY=XX', 'BYDAY', /must be a weekday/);
  throwsCoded('FREQ=WEEKLY;BYMONTHDAY=1', 'BYMONTHDAY', /must not be used with FREQ=WEEKLY/);
  throwsCoded('FREQ=MONTHLY;BYMONTHDAY=0', 'BYMONTHDAY', /1 to 31/);
  throwsCoded('FREQ=YEARLY;BYMONTH=13', 'BYMONTH', /1 to 12/);
  throwsCoded('FREQ=DAILY;INTERVAL=0', 'INTERVAL', /positive integer/);
  throwsCoded('FREQ=DAILY;UNTIL=20261331', 'UNTIL', /UNTIL must be/);
  throwsCoded('FREQ=DAILY;FREQ=WEEKLY', 'FREQ', /given twice/);
  throwsCoded('FREQ=DAILY;COLOR=RED', 'COLOR', /not an RRULE part/);
  throwsCoded('FREQ=DAILY;;', undefined, /not KEY=VALUE/);
});

test('occurrencesOn and nextOccurrence cover every kind, RRULE included', () => {
  const rr: Recurrence = { kind: 'rrule', rrule: 'RRULE:FREQ=MONTHLY;BYDAY=-1FR', start: '2026-01-01', time: '07:15' };
  assert.equal(occurrencesOn(rr, '2026-11-27'), [localToEpoch('2026-11-27', '07:15')]);
  assert.equal(occurrencesOn(rr, '2026-11-20'), []);
  assert.equal(occurrencesOn({ kind: 'once', date: '2026-11-27', time: '09:00' }, '2026-11-27'), [localToEpoch('2026-11-27', '09:00')]);
  assert.equal(occurrencesOn({ kind: 'weekly', days: [5], time: '09:00', until: '2026-11-26' }, '2026-11-27'), []);
  assert.equal(occurrencesOn({ kind: 'daily', time: '09:00', from: '2026-11-27' }, '2026-11-27'), [localToEpoch('2026-11-27', '09:00')]);
  // From Thursday 26 November: this Friday; from Friday 08:00, past 07:15, the one in December.
  assert.is(nextOccurrence(rr, localToEpoch('2026-11-26', '08:00')), localToEpoch('2026-11-27', '07:15'));
  assert.is(nextOccurrence(rr, localToEpoch('2026-11-27', '08:00'), 31), localToEpoch('2026-12-25', '07:15'));
  assert.is(nextOccurrence(rr, localToEpoch('2026-11-27', '08:00')), null);
  // A broken rule never occurs for the sync planner; validation reports it.
  const broken: Recurrence = { kind: 'rrule', rrule: 'FREQ=MONTHLY;BYSETPOS=1', start: '2026-01-01', time: '07:15' };
  assert.is(nextOccurrence(broken, 0), null);
  assert.throws(() => validateRecurrence(broken), (e: unknown) => isLoaError(e, 'LOA_E_SCHEDULE_INVALID'));
  assert.throws(() => validateRecurrence({ kind: 'daily', time: '06:00', from: '2026-12-01', until: '2026-11-01' }), /"from" is after "until"/);
  validateRecurrence({ kind: 'weekly', days: [1], time: '06:00', from: '2026-11-01', until: '2026-11-01' });
});

test.run();
