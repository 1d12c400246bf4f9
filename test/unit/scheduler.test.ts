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

function harness(startAt: number, done = new Map<string, string>(), hasTarget = true, o: { present?: Set<string>; trusted?: { v: boolean } } = {}) {
  let now = startAt;
  let mono = 0;
  const present = o.present ?? new Set([SHA]);
  const trusted = o.trusted ?? { v: true };
  const requests: ArbiterEvent[] = [];
  const logs: PlayLogData[] = [];
  const s = new Scheduler({
    now: () => now,
    mono: () => mono,
    target: () => (hasTarget ? { state, receivedAt: Date.parse(state.issuedAt) } : null),
    hasAsset: (sha) => present.has(sha),
    clockTrusted: () => trusted.v,
    done: { has: (k) => done.has(k), add: (k, at) => void done.set(k, at), prune: () => {} },
    dispatch: (e) => requests.push(e),
    record: (d) => logs.push(d),
    graceMs: 5 * 60_000,
    log: silentLogger(),
  });
  return {
    s,
    done,
    present,
    trusted,
    requests,
    logs,
    at(t: number, monoStep = t - now) {
      mono += monoStep;
      now = t;
      s.tick();
    },
    /** Moves the clock without ticking. */
    set(t: number) {
      mono += t - now;
      now = t;
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

const sixTomorrow = localToEpoch('2026-11-27', '06:00');

test('nextDue: the start of the next item not acted on, refused ones too, then the next day\'s first', () => {
  const h = harness(six - 5 * 60_000);
  h.s.tick();
  assert.is(h.s.nextDue(), six);
  h.set(six - 1);
  assert.is(h.s.nextDue(), six, 'one ms before: still 06:00');
  h.at(six);
  assert.is(h.requests.length, 1, 'ticked at the very instant nextDue named, the item is handed over');
  assert.is(h.s.nextDue(), noon, 'the refused noon item is next: tick records its refusal');
  h.at(noon);
  assert.is(h.logs.length, 1);
  assert.is(h.s.nextDue(), sixTomorrow, "after the day's last item, tomorrow's first");
});

test('nextDue: an item due and not yet ticked is due now; an item acted on before a restart is not due again', () => {
  const done = new Map<string, string>();
  const h = harness(six + 1000, done);
  // Yesterday's 06:00 too was never acted on (this store is new): tick() has something to do now.
  assert.ok(h.s.nextDue()! <= six + 1000, 'due already: at or before now');
  h.s.tick();
  assert.is(h.s.nextDue(), noon);
  const again = harness(six + 2000, done);
  assert.is(again.s.nextDue(), noon);
  // The clock steps back an hour: 06:00 lies ahead again but was played; nothing is due before noon.
  again.set(six - 3600_000);
  assert.is(again.s.nextDue(), noon);
});

test('nextDue and requestsAt: nothing without a target', () => {
  const h = harness(six - 1000, new Map(), false);
  assert.is(h.s.nextDue(), null);
  assert.equal(h.s.requestsAt(six), []);
});

test('requestsAt: the request tick() will hand over at that instant, for the pre-roll; none once acted on, none for refused items', () => {
  const h = harness(six - 2000);
  const [r, ...more] = h.s.requestsAt(six);
  assert.is(more.length, 0);
  assert.is(r!.id, `sang@${six}`);
  assert.equal(r!.segments.map((x) => x.kind), ['tone', 'asset']);
  assert.equal(h.s.requestsAt(six + 1), [], 'only items starting at that instant');
  assert.equal(h.s.requestsAt(noon), [], 'the noon item is refused: nothing to play');
  h.at(six);
  const handed = (h.requests[0] as Extract<ArbiterEvent, { type: 'request' }>).req;
  assert.equal(handed, r, 'the same request as tick() handed over');
  assert.equal(h.s.requestsAt(six), [], 'acted on: nothing to get ready');
});

test('finding 2: an item due while its asset is still landing waits for it within the grace period, then plays', () => {
  const present = new Set<string>();
  const h = harness(six - 60_000, new Map(), true, { present });
  h.s.tick();
  h.at(six);
  h.at(six + 20_000);
  assert.is(h.requests.length, 0, 'not played without its asset');
  assert.is(h.logs.length, 0, 'and not refused either');
  assert.equal(h.s.requestsAt(six), [], 'nothing to pre-roll without the asset');
  present.add(SHA); // the asset lands 36 s after its time
  h.at(six + 36_000);
  assert.is(h.requests.length, 1);
  // Never landing: refused once the grace period is over, saying why.
  const never = harness(six - 60_000, new Map(), true, { present: new Set() });
  never.s.tick();
  never.at(six);
  never.at(six + 5 * 60_000 + 1000);
  assert.is(never.requests.length, 0);
  assert.equal([never.logs[0]?.outcome, never.logs[0]?.rule], ['refused', 'missing-asset']);
  never.at(six + 6 * 60_000);
  assert.is(never.logs.length, 1, 'reported once');
});

test('finding 8: nothing is acted on while the clock is untrusted; trust within the grace period plays the item, later it is reported', () => {
  const trusted = { v: false };
  const h = harness(six - 60_000, new Map(), true, { trusted });
  h.s.tick();
  h.at(six - 17); // refused 17 ms before the link came up, before this fix
  h.at(six + 1000);
  assert.is(h.requests.length + h.logs.length, 0);
  assert.is(h.s.nextDue(), null, 'no timer armed for an item the clock cannot place');
  trusted.v = true; // the beacon answers 2 s later
  h.at(six + 2000);
  assert.is(h.requests.length, 1, 'played within its grace period');
  // Untrusted for longer than the grace period: refused as clock-untrusted once trust comes, not as missed.
  const t2 = { v: false };
  const k = harness(six - 60_000, new Map(), true, { trusted: t2 });
  k.s.tick();
  k.at(six + 10 * 60_000);
  t2.v = true;
  k.at(six + 10 * 60_000 + 500);
  assert.is(k.requests.length, 0);
  assert.equal([k.logs[0]?.outcome, k.logs[0]?.rule], ['refused', 'clock-untrusted']);
});

test.run();
