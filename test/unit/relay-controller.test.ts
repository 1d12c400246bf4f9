import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RelayController } from '../../device/relay-controller.js';
import { VirtualTime } from '../helpers/virtual-time.js';
import { FakeRelay } from '../fakes/relay.js';
import type { AmplifierState } from '../../device/relay-types.js';
import { captureLog } from '../helpers/logs.js';

// The controller's timing in virtual time: a tiny timer scheduler stands in
// for setTimeout, and advance() runs due timers in order, letting promise
// chains settle between them.



const H = 3600_000;

function setup() {
  const clock = new VirtualTime();
  const relay = new FakeRelay(() => clock.now());
  const logs = captureLog();
  const ctl = new RelayController({ relay, clock, log: logs.log, timing: { warmUpMs: 1500, idleOffMs: 30_000, maxOnMs: 4 * H, cooldownMs: 600_000 } });
  const states: AmplifierState[] = [];
  ctl.on('changed', (s) => states.push(s));
  /** beforeSound(), with a flag saying when it resolved. */
  const before = () => {
    const p = { resolvedAt: null as number | null };
    void ctl.beforeSound().then(() => (p.resolvedAt = clock.now()));
    return p;
  };
  const changes = () => relay.changes.map((c) => `${c.state}@${c.atMs}`);
  return { clock, relay, logs, ctl, states, before, changes };
}

test('switching on: beforeSound resolves after the warm-up; at once when already on', async () => {
  const { clock, ctl, before, changes, states } = setup();
  assert.is(ctl.state, 'off');
  const first = before();
  await clock.advance(0);
  assert.equal(changes(), ['on@0']);
  assert.is(ctl.state, 'warming');
  const second = before(); // a second sound while warming waits for the same warm-up
  await clock.advance(1499);
  assert.is(first.resolvedAt, null);
  assert.is(second.resolvedAt, null);
  await clock.advance(1);
  assert.is(first.resolvedAt, 1500);
  assert.is(second.resolvedAt, 1500);
  assert.is(ctl.state, 'on');
  const third = before();
  await clock.advance(0);
  assert.is(third.resolvedAt, 1500, 'already on: no warm-up');
  assert.equal(changes(), ['on@0'], 'switched once');
  assert.equal(states, ['warming', 'on']);
});

test('idle delay: off 30 s after the last sound ended, not before', async () => {
  const { clock, ctl, before, changes, states } = setup();
  before();
  await clock.advanceTo(10_000);
  ctl.soundEnded();
  await clock.advanceTo(39_999);
  assert.is(ctl.state, 'on');
  await clock.advanceTo(40_000);
  assert.is(ctl.state, 'off');
  assert.equal(changes(), ['on@0', 'off@40000']);
  assert.equal(states, ['warming', 'on', 'off']);
  assert.is(clock.pending, 0, 'the max on-time timer went with it');
});

test('a sound during the idle delay keeps it on and restarts the delay from its end', async () => {
  const { clock, ctl, before, changes } = setup();
  before();
  await clock.advanceTo(10_000);
  ctl.soundEnded();
  await clock.advanceTo(30_000);
  const again = before();
  await clock.advance(0);
  assert.is(again.resolvedAt, 30_000, 'still on: no warm-up');
  await clock.advanceTo(35_000);
  ctl.soundEnded();
  await clock.advanceTo(64_999); // past 40 s, where the first idle delay would have ended
  assert.is(ctl.state, 'on');
  await clock.advanceTo(65_000);
  assert.equal(changes(), ['on@0', 'off@65000']);
});

test('preemption (next sound starts before the old one ends) does not start the idle delay', async () => {
  const { clock, ctl, before, changes } = setup();
  before();
  await clock.advanceTo(5000);
  before(); // the new sound
  ctl.soundEnded(); // the preempted one
  await clock.advanceTo(100_000);
  assert.is(ctl.state, 'on');
  ctl.soundEnded();
  await clock.advanceTo(130_000);
  assert.equal(changes(), ['on@0', 'off@130000']);
});

test('a sound that ends before the relay has switched still lets it idle off', async () => {
  const { clock, ctl, before, changes } = setup();
  before();
  ctl.soundEnded();
  await clock.advanceTo(30_000);
  assert.equal(changes(), ['on@0', 'off@30000']);
  assert.is(ctl.state, 'off');
});

test('a sound that starts while the relay is switching off waits, then switches on again', async () => {
  const clock = new VirtualTime();
  // A relay whose writes wait until released, to catch the switch-off in flight.
  class SlowRelay extends FakeRelay {
    slow = false;
    readonly waiting: (() => void)[] = [];
    override async set(state: 'on' | 'off'): Promise<void> {
      if (this.slow) await new Promise<void>((r) => this.waiting.push(r));
      return super.set(state);
    }
  }
  const relay = new SlowRelay(() => clock.now());
  const ctl = new RelayController({ relay, clock, log: captureLog().log, timing: { warmUpMs: 1500, idleOffMs: 30_000 } });
  await Promise.all([ctl.beforeSound(), clock.advance(1500)]);
  ctl.soundEnded();
  relay.slow = true;
  await clock.advanceTo(31_500); // the idle delay fires: set('off') is in flight
  assert.is(relay.waiting.length, 1);
  let resolved = false;
  void ctl.beforeSound().then(() => (resolved = true));
  relay.slow = false;
  relay.waiting.shift()!();
  await clock.advance(0);
  assert.equal(relay.changes.map((c) => c.state), ['on', 'off', 'on'], 'switched on again after the off');
  assert.is(ctl.state, 'warming');
  assert.not.ok(resolved, 'the new sound waits for the warm-up');
  await clock.advance(1500);
  assert.ok(resolved);
  assert.is(ctl.state, 'on');
});

test('maximum on-time: off, fault, an error logged, and no switching on during the cool-down', async () => {
  const { clock, ctl, before, changes, logs, states } = setup();
  before(); // a stuck stream: never ends
  await clock.advanceTo(4 * H - 1);
  assert.is(ctl.state, 'on');
  await clock.advanceTo(4 * H);
  assert.equal(changes(), ['on@0', `off@${4 * H}`]);
  assert.is(ctl.state, 'fault');
  assert.is(ctl.fault, 'max-on');
  const err = logs.find((l) => l.level === 50 && String(l.msg).includes('maximum time'));
  assert.ok(err);
  assert.is(err.onForMs, 4 * H);
  ctl.soundEnded();
  await clock.advanceTo(4 * H + 60_000);
  const refused = before();
  await clock.advance(0);
  assert.is(refused.resolvedAt, 4 * H + 60_000, 'the sound is not held up');
  assert.is(changes().length, 2, 'not switched on');
  assert.is(ctl.state, 'fault');
  assert.ok(logs.find((l) => l.level === 40 && String(l.msg).includes('cool-down')));
  ctl.soundEnded();
  await clock.advanceTo(4 * H + 600_000); // the cool-down is over
  const after = before();
  await clock.advance(1500);
  assert.is(after.resolvedAt, 4 * H + 601_500);
  assert.is(ctl.state, 'on', 'a successful switch clears the fault');
  assert.is(ctl.fault, null);
  assert.equal(states, ['warming', 'on', 'fault', 'warming', 'on']);
});

test('a relay that throws: fault, logged with the error, and the sound goes on at once', async () => {
  const { clock, relay, ctl, before, logs, states } = setup();
  relay.failWith = new Error('EACCES: /sys/class/gpio/gpio529/value');
  const p = before();
  await clock.advance(0);
  assert.is(p.resolvedAt, 0, 'no warm-up wait: the amplifier may be wired always-on');
  assert.is(ctl.state, 'fault');
  assert.is(ctl.fault, 'relay-error');
  const err = logs.find((l) => l.level === 50);
  assert.match(String((err?.err as { message?: string } | undefined)?.message), 'EACCES');
  assert.is(err?.wanted, 'on');
  ctl.soundEnded();
  await clock.advanceTo(60_000);
  assert.is(ctl.state, 'fault', 'stays fault: nothing was switched since');
  relay.failWith = null;
  const retry = before();
  await clock.advance(1500);
  assert.is(retry.resolvedAt, 61_500);
  assert.is(ctl.state, 'on');
  assert.equal(states, ['fault', 'warming', 'on']);
});

test('a relay that throws when switching off is a fault, and the next idle delay tries again', async () => {
  const { clock, relay, ctl, before, changes } = setup();
  before();
  await clock.advanceTo(2000);
  relay.failWith = new Error('EIO');
  ctl.soundEnded();
  await clock.advanceTo(32_000);
  assert.is(ctl.state, 'fault');
  assert.is(relay.state, 'on');
  relay.failWith = null;
  before();
  await clock.advance(0);
  ctl.soundEnded();
  await clock.advanceTo(62_000);
  assert.is(ctl.state, 'off');
  assert.equal(changes(), ['on@0', 'off@62000']);
});

test('close during the warm-up lets beforeSound go on and leaves the relay off and closed', async () => {
  const { clock, relay, ctl, before } = setup();
  const p = before();
  await clock.advanceTo(500);
  await ctl.close();
  await clock.advance(0);
  assert.is(p.resolvedAt, 500);
  assert.is(ctl.state, 'off');
  assert.is(relay.state, 'off');
  assert.ok(relay.closed);
  assert.is(clock.pending, 0, 'no timers left');
});

test.run();
