import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { PlayRequest } from '../../device/arbiter.js';
import { ScheduleTicker, type TickerScheduler } from '../../device/ticker.js';
import { VirtualTime } from '../helpers/virtual-time.js';

// The scheduler's timer in virtual time: when it ticks, when it pre-rolls,
// and that it still looks every half second when nothing is due.


const req = (id: string): PlayRequest => ({ id, level: 'normal', source: 'programme', segments: [], volume: 80, resumable: false, notAfter: null, endBy: null, requiresTrustedClock: true });

/** A scheduler with items at given instants: tick() acts on every item due by now, as the real one does. */
function fakeScheduler(vt: VirtualTime, starts: number[], now = () => vt.t) {
  const items = starts.map((at) => ({ at, done: false }));
  const ticks: number[] = [];
  const handed: { at: number; item: number }[] = [];
  const s: TickerScheduler & { ticks: number[]; handed: typeof handed; items: typeof items; stuck: boolean } = {
    ticks,
    handed,
    items,
    stuck: false,
    tick() {
      ticks.push(now());
      if (s.stuck) return;
      for (const i of items) if (!i.done && i.at <= now()) (i.done = true), handed.push({ at: now(), item: i.at });
    },
    nextDue() {
      const open = items.filter((i) => !i.done).map((i) => i.at);
      return open.length ? Math.min(...open) : null;
    },
    requestsAt(at) {
      return items.filter((i) => !i.done && i.at === at).map((i) => req(`p@${i.at}`));
    },
  };
  return s;
}

test('ticks at the very instant an item is due, not on a 500 ms grid', () => {
  const vt = new VirtualTime();
  const s = fakeScheduler(vt, [10_230, 14_001]);
  const ticker = new ScheduleTicker({ scheduler: s, now: () => vt.t, timers: vt });
  ticker.start();
  vt.runTo(20_000);
  assert.equal(s.handed, [
    { at: 10_230, item: 10_230 },
    { at: 14_001, item: 14_001 },
  ]);
  for (let i = 1; i < s.ticks.length; i++) assert.ok(s.ticks[i]! - s.ticks[i - 1]! <= 500, `ticks ${s.ticks[i - 1]} → ${s.ticks[i]}`);
});

test('with nothing due it still looks every 500 ms: a clock step or a new plan is noticed', () => {
  const vt = new VirtualTime();
  let offset = 0;
  const s = fakeScheduler(vt, [], () => vt.t + offset);
  const ticker = new ScheduleTicker({ scheduler: s, now: () => vt.t + offset, timers: vt });
  ticker.start();
  vt.runTo(2000);
  assert.equal(s.ticks, [0, 500, 1000, 1500, 2000]);
  // The agent's clock is stepped forward past an item (a beacon correction): the next look finds it due.
  s.items.push({ at: 600_000, done: false });
  offset = 600_100;
  vt.runTo(2500);
  assert.is(s.handed.length, 1);
});

test('rearm() looks again at once: an item due sooner than the armed wait is not missed', () => {
  const vt = new VirtualTime();
  const s = fakeScheduler(vt, []);
  const ticker = new ScheduleTicker({ scheduler: s, now: () => vt.t, timers: vt });
  ticker.start();
  vt.runTo(100);
  s.items.push({ at: 230, done: false });
  ticker.rearm();
  vt.runTo(1000);
  assert.equal(s.handed, [{ at: 230, item: 230 }]);
  assert.is(vt.pending, 1, 'one timer armed, the old one cleared');
});

test('pre-roll: the item due next is given to the player leadMs ahead, once, and its tick is still at the instant', () => {
  const vt = new VirtualTime();
  const s = fakeScheduler(vt, [10_130, 10_530]);
  const prerolls: { t: number; id: string; at: number }[] = [];
  const player = { leadMs: 1500, preroll: (r: PlayRequest, at: number) => void prerolls.push({ t: vt.t, id: r.id, at }) };
  const ticker = new ScheduleTicker({ scheduler: s, player, now: () => vt.t, timers: vt });
  ticker.start();
  vt.runTo(12_000);
  assert.equal(prerolls, [
    { t: 8630, id: 'p@10130', at: 10_130 },
    // Less than leadMs between the two: the second is got ready as soon as the first is handed over.
    { t: 10_130, id: 'p@10530', at: 10_530 },
  ]);
  assert.equal(
    s.handed.map((h) => h.at),
    [10_130, 10_530],
  );
});

test('pre-roll: an item already within the lead when it appears is got ready at once; a due one is not', () => {
  const vt = new VirtualTime();
  const s = fakeScheduler(vt, [700]);
  const prerolls: number[] = [];
  const ticker = new ScheduleTicker({ scheduler: s, player: { leadMs: 1500, preroll: () => void prerolls.push(vt.t) }, now: () => vt.t, timers: vt });
  ticker.start();
  assert.equal(prerolls, [0]);
  vt.runTo(5000);
  assert.equal(prerolls, [0]);
  const late = fakeScheduler(vt, [4000]);
  const prerollsLate: number[] = [];
  new ScheduleTicker({ scheduler: late, player: { leadMs: 1500, preroll: () => void prerollsLate.push(vt.t) }, now: () => vt.t, timers: vt }).start();
  assert.equal(prerollsLate, [], 'due already: it is handed over now, nothing to get ready');
  assert.is(late.handed.length, 1);
});

test('an item the tick did not act on is not spun on: the next look is after the usual wait', () => {
  const vt = new VirtualTime();
  const s = fakeScheduler(vt, [1000]);
  s.stuck = true;
  const ticker = new ScheduleTicker({ scheduler: s, now: () => vt.t, timers: vt });
  ticker.start();
  vt.runTo(3000);
  assert.equal(s.ticks, [0, 500, 1000, 1500, 2000, 2500, 3000]);
});

test('a pre-roll that throws does not stop the schedule', () => {
  const vt = new VirtualTime();
  const s = fakeScheduler(vt, [2000]);
  const ticker = new ScheduleTicker({
    scheduler: s,
    player: {
      leadMs: 1500,
      preroll: () => {
        throw new Error('no ffmpeg');
      },
    },
    now: () => vt.t,
    timers: vt,
  });
  ticker.start();
  vt.runTo(3000);
  assert.equal(s.handed, [{ at: 2000, item: 2000 }]);
});

test('once the agent has stopped nothing ticks and nothing is armed again', () => {
  const vt = new VirtualTime();
  const s = fakeScheduler(vt, [1000]);
  let alive = true;
  const ticker = new ScheduleTicker({ scheduler: s, now: () => vt.t, alive: () => alive, timers: vt });
  ticker.start();
  vt.runTo(300);
  alive = false;
  vt.runTo(5000);
  assert.equal(s.ticks, [0]);
  assert.is(s.handed.length, 0);
  assert.is(vt.pending, 0);
  ticker.rearm();
  assert.is(vt.pending, 0);
});

test.run();
