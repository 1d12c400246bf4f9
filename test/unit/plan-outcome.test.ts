import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planOutcomes, type OutcomeItem, type OutcomeRecord } from '../../schedules/plan-outcome.js';
import { localToEpoch } from '../../schedules/time.js';

const DAY = '2026-11-27';
const at = (hhmm: string, s = 0) => localToEpoch(DAY, hhmm) + s * 1000;
const iso = (t: number) => new Date(t).toISOString();
const item = (programme: string, hhmm: string, seconds: number, startDelayS = 0): OutcomeItem => ({ programme, scheduled: at(hhmm), start: at(hhmm, startDelayS), end: at(hhmm, startDelayS + seconds) });
const rec = (programme: string, outcome: OutcomeRecord['outcome'], start: number, extra: Partial<OutcomeRecord> = {}): OutcomeRecord => ({ outcome, source: 'programme', programme, start: iso(start), ...extra });

test('what is still to come shows no outcome; what has passed shows its record; an item playing with no record yet shows none', () => {
  const items = [item('sang', '06:30', 20), item('trua', '11:00', 600), item('toi', '18:00', 600)];
  const out = planOutcomes(items, [rec('sang', 'played', at('06:30'))], at('11:05'));
  assert.equal(out, [
    { when: 'past', outcome: 'played' },
    { when: 'now', outcome: null },
    { when: 'next', outcome: null },
  ]);
});

test('interrupted, refused with its rule, missed (the scheduler\u2019s rule), and nothing logged at all', () => {
  const items = [item('a', '06:00', 60), item('b', '07:00', 0), item('c', '08:00', 60), item('d', '09:00', 60)];
  const records = [
    rec('a', 'interrupted', at('06:00'), { reason: 'an emergency' }),
    rec('b', 'refused', at('07:00'), { rule: 'quiet-hours' }),
    rec('c', 'refused', at('08:05'), { rule: 'missed', reason: 'due at …' }),
  ];
  assert.equal(planOutcomes(items, records, at('12:00')), [
    { when: 'past', outcome: 'interrupted', reason: 'an emergency' },
    { when: 'past', outcome: 'refused', rule: 'quiet-hours' },
    { when: 'past', outcome: 'missed', rule: 'missed', reason: 'due at …' },
    { when: 'past', outcome: 'absent' },
  ]);
});

test('a record goes to the occurrence it started after (a delayed start included), not to an earlier or later one of the same programme', () => {
  const items = [item('tin', '06:00', 60), item('tin', '12:00', 60, 90), item('tin', '18:00', 60)];
  // 12:00 waited 90 s behind another item; 18:00 has not come.
  const out = planOutcomes(items, [rec('tin', 'played', at('12:00', 90)), rec('khac', 'played', at('06:00'))], at('13:00'));
  assert.equal(out.map((o) => o.outcome), ['absent', 'played', null]);
});

test('several records of one occurrence: the last tells how it ended; local announcements and emergencies are not plan items', () => {
  const items = [item('tin', '06:00', 600)];
  const records = [rec('tin', 'interrupted', at('06:00')), rec('tin', 'played', at('06:03')), { outcome: 'played' as const, source: 'local', start: iso(at('06:01')) }];
  assert.equal(planOutcomes(items, records, at('07:00')), [{ when: 'past', outcome: 'played' }]);
});

test.run();
