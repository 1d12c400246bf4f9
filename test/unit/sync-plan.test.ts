import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planSync, type DiskBudget } from '../../device/sync-plan.js';
import type { TargetState } from '../../protocol/payloads.js';
import { nextOccurrence } from '../../schedules/recurrence.js';
import { localToEpoch, localDate, isoWeekday } from '../../schedules/time.js';

const sha = (c: string) => c.repeat(64);
const asset = (c: string, size: number, reserve = false) => ({ sha256: sha(c), size, durationMs: 1000, mime: 'audio/ogg' as const, ...(reserve ? { reserve: true } : {}) });
const big: DiskBudget = { budgetBytes: 1e9, reserveBytes: 1e6, freeBytes: 1e10, minFreeBytes: 0 };
// Thursday 26 November 2026, 08:00 in Vietnam.
const now = localToEpoch('2026-11-26', '08:00');

function target(assets: ReturnType<typeof asset>[], programmes: TargetState['programmes'] = []): TargetState {
  return { device: 'd', zone: 'z', version: 1, issuedAt: '2026-11-26T00:00:00.000Z', assets, programmes, rules: [] };
}
const prog = (id: string, playlist: string[], time: string, days?: number[]) => ({ id, title: id, level: 'normal' as const, playlist, resumable: false, zones: ['z'], recurrence: days ? { kind: 'weekly' as const, days, time } : { kind: 'daily' as const, time } });

test('Vietnam local time is UTC+7 without DST', () => {
  assert.is(new Date(localToEpoch('2026-11-26', '07:00')).toISOString(), '2026-11-26T00:00:00.000Z');
  assert.is(localDate(Date.parse('2026-11-26T17:30:00Z')), '2026-11-27');
  assert.is(isoWeekday('2026-11-26'), 4);
  assert.is(isoWeekday('2026-11-29'), 7);
});

test('next occurrences of once, daily and weekly programmes', () => {
  assert.is(nextOccurrence({ kind: 'daily', time: '06:30' }, now), localToEpoch('2026-11-27', '06:30'));
  assert.is(nextOccurrence({ kind: 'daily', time: '17:00' }, now), localToEpoch('2026-11-26', '17:00'));
  assert.is(nextOccurrence({ kind: 'weekly', days: [1], time: '06:00' }, now), localToEpoch('2026-11-30', '06:00'));
  assert.is(nextOccurrence({ kind: 'once', date: '2026-11-25', time: '09:00' }, now), null);
  assert.is(nextOccurrence({ kind: 'daily', time: '06:00', until: '2026-11-26' }, now), null);
  assert.is(nextOccurrence({ kind: 'daily', time: '06:00', from: '2026-12-01' }, now), localToEpoch('2026-12-01', '06:00'));
});

test('missing assets come reserve first, then by first use; unreferenced ones go', () => {
  const t = target([asset('a', 100), asset('b', 100), asset('c', 100, true), asset('d', 100)], [prog('evening', [sha('a')], '17:00'), prog('morning', [sha('b')], '06:30')]);
  const p = planSync({ target: t, stored: [{ sha256: sha('e'), size: 50, reserve: false }], nowMs: now, budget: big });
  assert.equal(p.fetch.map((a) => a.sha256[0]), ['c', 'a', 'b', 'd']);
  assert.equal(p.remove, [sha('e')]);
  assert.not.ok(p.complete);
  const done = planSync({ target: t, stored: t.assets.map((a) => ({ sha256: a.sha256, size: a.size, reserve: !!a.reserve })), nowMs: now, budget: big });
  assert.ok(done.complete);
  assert.equal(done.fetch, []);
});

test('the disk budget keeps its reserve for emergency clips, and free space is respected', () => {
  const t = target([asset('a', 600), asset('b', 300), asset('r', 250, true)]);
  const p = planSync({ target: t, stored: [], nowMs: now, budget: { budgetBytes: 1000, reserveBytes: 300, freeBytes: 1e9, minFreeBytes: 0 } });
  // Nothing says which is needed sooner, so the smaller comes first; the other would eat into the reserve.
  assert.equal(p.fetch.map((a) => a.sha256[0]), ['r', 'b']);
  assert.equal(p.noRoom.map((a) => a.sha256[0]), ['a']);
  const tight = planSync({ target: t, stored: [], nowMs: now, budget: { budgetBytes: 1e9, reserveBytes: 0, freeBytes: 1000, minFreeBytes: 200 } });
  assert.equal(tight.fetch.map((a) => a.sha256[0]), ['r', 'b']);
  assert.equal(tight.noRoom.map((a) => a.sha256[0]), ['a']);
  // Deleting unreferenced assets frees room for what is wanted.
  const freed = planSync({ target: target([asset('a', 600)]), stored: [{ sha256: sha('x'), size: 700, reserve: false }], nowMs: now, budget: { budgetBytes: 1e9, reserveBytes: 0, freeBytes: 100, minFreeBytes: 0 } });
  assert.equal(freed.fetch.map((a) => a.sha256[0]), ['a']);
});

test('no target: nothing to do, nothing complete', () => {
  assert.equal(planSync({ target: null, stored: [], nowMs: now, budget: big }), { fetch: [], noRoom: [], remove: [], complete: false });
});

test.run();
