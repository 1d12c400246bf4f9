import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Scheduler } from '../../device/scheduler.js';
import type { ArbiterEvent, PlayLogData } from '../../device/arbiter.js';
import type { TargetState } from '../../protocol/payloads.js';
import { localToEpoch } from '../../schedules/time.js';
import { silentLogger } from '../../lib/log.js';

const SHA = 'a'.repeat(64);
const state: TargetState = {
  device: 't3a',
  zone: 'qn/dak-ha/thon-3',
  version: 3,
  issuedAt: '2026-11-25T00:00:00.000Z',
  assets: [{ sha256: SHA, size: 10, durationMs: 600_000, mime: 'audio/ogg' }],
  programmes: [
    { id: 'sang', title: 'Bản tin sáng', level: 'normal', playlist: [SHA], recurrence: { kind: 'daily', time: '06:00' }, resumable: true, zones: ['qn'], chime: true },
    { id: 'trua', title: 'Tin trưa', level: 'normal', playlist: [SHA], recurrence: { kind: 'daily', time: '12:00' }, resumable: false, zones: ['qn'] },
  ],
  rules: [{ zone: 'qn', windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '05:00', end: '08:00', volumeCap: 60 }], defaultVolume: 80, blackoutDates: [] }],
};
const six = localToEpoch('2026-11-26', '06:00');
const noon = localToEpoch('2026-11-26', '12:00');

function harness(startAt: number, done = new Map<string, string>()) {
  let now = startAt;
  let mono = 0;
  const requests: ArbiterEvent[] = [];
  const logs: PlayLogData[] = [];
  const s = new Scheduler({
    now: () => now,
    mono: () => mono,
    target: () => ({ state, receivedAt: Date.parse(state.issuedAt) }),
    done: { has: (k) => done.has(k), add: (k, at) => void done.set(k, at), prune: () => {} },
    dispatch: (e) => requests.push(e),
    record: (d) => logs.push(d),
    graceMs: 5 * 60_000,
    log: silentLogger(),
  });
  return {
    s,
    done,
    requests,
    logs,
    at(t: number, monoStep = t - now) {
      mono += monoStep;
      now = t;
      s.tick();
    },
  };
}

test('a due item is requested once, at its capped volume, with its chime and window', () => {
  const h = harness(six - 1000);
  h.s.tick();
  assert.is(h.requests.length, 0);
  h.at(six + 200);
  h.at(six + 700);
  h.at(six + 60_000);
  assert.is(h.requests.length, 1);
  const r = (h.requests[0] as Extract<ArbiterEvent, { type: 'request' }>).req;
  assert.is(r.id, `sang@${six}`);
  assert.is(r.volume, 60);
  assert.equal(r.segments.map((x) => x.kind), ['tone', 'asset']);
  assert.is(r.notAfter, localToEpoch('2026-11-26', '08:00'));
  assert.ok(r.requiresTrustedClock && r.resumable);
});

test('nothing is requested twice: not after a restart, not after the clock jumps back', () => {
  const done = new Map<string, string>();
  const h = harness(six + 1000, done);
  h.s.tick();
  assert.is(h.requests.length, 1);
  // The agent restarts: a new scheduler over the same store.
  const h2 = harness(six + 5000, done);
  h2.s.tick();
  assert.is(h2.requests.length, 0);
  // The clock is stepped back ten minutes, then runs past 06:00 again.
  h2.at(six - 600_000, 1000);
  h2.at(six + 1000, 1000);
  assert.is(h2.requests.length, 0);
});

test('a late start within the grace period plays; later it is not caught up', () => {
  const h = harness(six + 4 * 60_000);
  h.s.tick();
  assert.is(h.requests.length, 1, 'four minutes late: still played');
  const late = harness(six + 30 * 60_000);
  late.s.tick();
  assert.is(late.requests.length, 0, 'thirty minutes late: not caught up');
  assert.is(late.logs.length, 0, 'before this agent ran: nothing to report');
  // Running, then the clock jumps forward past 06:00 by more than the grace: reported as missed.
  const j = harness(six - 60_000);
  j.s.tick();
  j.at(six + 30 * 60_000, 1000);
  assert.is(j.requests.length, 0);
  assert.is(j.logs[0]!.rule, 'missed');
});

test('an item the rules refuse is logged once as refused, with the rule', () => {
  const h = harness(noon + 500);
  h.s.tick();
  h.at(noon + 1500);
  assert.is(h.requests.length, 0);
  assert.is(h.logs.length, 1);
  assert.equal({ outcome: h.logs[0]!.outcome, rule: h.logs[0]!.rule, programme: h.logs[0]!.programme }, { outcome: 'refused', rule: 'quiet-hours', programme: 'trua' });
});

test.run();
