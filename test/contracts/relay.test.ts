import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeGpioset, FakeRelay, FakeSysfs, PI4_CHIPS, PI5_CHIPS } from '../fakes/relay.js';
import { GpiosetRelay } from '../../device/relay-gpioset.js';
import { NoopRelay } from '../../device/relay-noop.js';
import { SysfsRelay } from '../../device/relay-sysfs.js';
import type { Relay } from '../../device/relay-types.js';
import { captureLog } from '../helpers/logs.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';

// One suite for every Relay: the fake, the logged no-op, sysfs GPIO on a fake
// sysfs tree and gpioset with a fake gpioset script. Each harness says what
// the relay input would see ("hardware") and fingerprints hardware activity
// so that a repeated set() can be shown to touch nothing.

interface Harness {
  relay: Relay;
  /** The level the relay input last received, as on/off. */
  hardware(): string;
  /** Changes whenever the adapter acts on the hardware. */
  touches(): string;
  done(): Promise<void>;
}

function contract(name: string, make: () => Promise<Harness>): void {
  const s = suite(`Relay contract: ${name}`);
  s.after(cleanupTempDirs);
  let h: Harness;
  s.before.each(async () => {
    h = await make();
  });
  s.after.each(async () => {
    await h.done();
  });

  s('opens off', () => {
    assert.is(h.relay.state, 'off');
    assert.is(h.hardware(), 'off');
  });

  s('set on, then off: the state and the hardware follow', async () => {
    await h.relay.set('on');
    assert.is(h.relay.state, 'on');
    assert.is(h.hardware(), 'on');
    await h.relay.set('off');
    assert.is(h.relay.state, 'off');
    assert.is(h.hardware(), 'off');
  });

  s('setting the state it is already in touches nothing', async () => {
    await h.relay.set('on');
    const before = h.touches();
    await h.relay.set('on');
    assert.is(h.touches(), before);
    assert.is(h.hardware(), 'on');
    await h.relay.set('off');
    assert.is.not(h.touches(), before, 'the fingerprint does see a real switch');
  });

  s('close leaves it off; set after close is refused; close twice is fine', async () => {
    await h.relay.set('on');
    await h.relay.close();
    assert.is(h.relay.state, 'off');
    assert.is(h.hardware(), 'off');
    await h.relay.close();
    let refused = false;
    await h.relay.set('on').catch(() => (refused = true));
    assert.ok(refused);
    assert.is(h.hardware(), 'off');
  });

  s.run();
}

contract('FakeRelay', async () => {
  const relay = new FakeRelay();
  return {
    relay,
    hardware: () => relay.changes.at(-1)?.state ?? 'off',
    touches: () => String(relay.changes.length),
    done: async () => {},
  };
});

contract('NoopRelay', async () => {
  const { log, lines } = captureLog();
  const relay = new NoopRelay(log);
  const switches = () => lines.filter((l) => l.msg === 'no GPIO: amplifier relay simulated' && l.level === 30);
  return {
    relay,
    hardware: () => String(switches().at(-1)?.relay ?? 'off'),
    touches: () => String(switches().length),
    done: async () => {},
  };
});

for (const activeLow of [false, true]) {
  contract(`SysfsRelay on a fake Pi 4 sysfs tree${activeLow ? ', active-low' : ''}`, async () => {
    const sys = FakeSysfs.create(tempDir('loa-sysfs-'), PI4_CHIPS);
    const relay = await SysfsRelay.open({ pin: 17, activeLow, sysfsRoot: sys.root });
    const value = join(sys.root, 'class/gpio/gpio529/value');
    return {
      relay,
      hardware: () => ((sys.attr(529, 'value') === '1') !== activeLow ? 'on' : 'off'),
      touches: () => String(statSync(value, { bigint: true }).mtimeNs),
      done: async () => sys.stop(),
    };
  });
}

contract('GpiosetRelay with a fake gpioset (libgpiod 1.6)', async () => {
  const gs = FakeGpioset.create(tempDir('loa-gpioset-'));
  const relay = await GpiosetRelay.open({ pin: 17, activeLow: false, bin: gs.bin, settleMs: 100 });
  return {
    relay,
    // A released line keeps the level of its last holder on a Pi; the
    // gpioset tests below check that holders are killed.
    hardware: () => (gs.runs().at(-1)?.args.at(-1) === '17=1' ? 'on' : 'off'),
    touches: () => String(gs.runs().length),
    done: () => relay.close(),
  };
});

// What the contract cannot say about each adapter.

const sysfs = suite('SysfsRelay on a fake sysfs tree');
sysfs.after(cleanupTempDirs);

sysfs('exports base + BCM and makes it an output at the off level, without a glitch', async () => {
  const sys = FakeSysfs.create(tempDir('loa-sysfs-'), PI4_CHIPS);
  const relay = await SysfsRelay.open({ pin: 17, activeLow: false, sysfsRoot: sys.root });
  assert.equal(sys.exported, [529]);
  assert.is(sys.attr(529, 'direction'), 'low');
  assert.is(sys.attr(529, 'value'), '0');
  assert.is(sys.attr(529, 'active_low'), '0');
  await relay.set('on');
  assert.is(sys.attr(529, 'value'), '1');
  await relay.close();
  assert.is(sys.attr(529, 'value'), '0');
  assert.equal(sys.exported, [529], 'left exported, driven off');
  sys.stop();
});

sysfs('Pi 5, active-low board: line 588, held high (off) from the start, low when on', async () => {
  const sys = FakeSysfs.create(tempDir('loa-sysfs-'), PI5_CHIPS);
  const relay = await SysfsRelay.open({ pin: 17, activeLow: true, sysfsRoot: sys.root });
  assert.equal(sys.exported, [588]);
  assert.is(relay.line.chip.label, 'pinctrl-rp1');
  assert.is(sys.attr(588, 'value'), '1', 'off');
  assert.is(sys.attr(588, 'direction'), 'high', "not 'out', which would drive it low (on) for an instant");
  await relay.set('on');
  assert.is(sys.attr(588, 'value'), '0');
  await relay.set('off');
  assert.is(sys.attr(588, 'value'), '1');
  sys.stop();
});

sysfs('a line a previous run left exported is reused and reconfigured', async () => {
  const sys = FakeSysfs.create(tempDir('loa-sysfs-'), PI4_CHIPS);
  sys.preExport(529);
  writeFileSync(join(sys.root, 'class/gpio/gpio529/active_low'), '1');
  const relay = await SysfsRelay.open({ pin: 17, activeLow: false, sysfsRoot: sys.root });
  assert.equal(sys.exported, [], 'export not written again (the kernel answers EBUSY)');
  assert.is(sys.attr(529, 'direction'), 'low');
  assert.is(sys.attr(529, 'active_low'), '0', "the kernel's inversion is undone: ours is the only one");
  await relay.set('on');
  assert.is(sys.attr(529, 'value'), '1');
  sys.stop();
});

sysfs('a line that never appears after export is an error, not a hang', async () => {
  const sys = FakeSysfs.create(tempDir('loa-sysfs-'), PI4_CHIPS);
  sys.stop(); // the "kernel" ignores the export
  const err = await SysfsRelay.open({ pin: 17, activeLow: false, sysfsRoot: sys.root, exportTimeoutMs: 50 }).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(err);
  assert.match(err.message, 'gpio529 did not become writable');
});

sysfs.run();

const gpioset = suite('GpiosetRelay with a fake gpioset');
gpioset.after(cleanupTempDirs);

gpioset('libgpiod 1.6: --mode=signal chip offset=value; each switch kills the holder and spawns the next', async () => {
  const gs = FakeGpioset.create(tempDir('loa-gpioset-'));
  const relay = await GpiosetRelay.open({ pin: 17, activeLow: false, bin: gs.bin, settleMs: 100 });
  assert.is(relay.major, 1);
  assert.equal(gs.runs().map((r) => r.args), [['--mode=signal', 'gpiochip0', '17=0']]);
  await relay.set('on');
  const [offRun, onRun] = gs.runs();
  assert.ok(offRun?.terminated, 'the off holder was killed');
  assert.equal(onRun?.args, ['--mode=signal', 'gpiochip0', '17=1']);
  assert.equal(gs.holding().map((r) => r.pid), [relay.pid!], 'exactly one holder, ours');
  await relay.set('off');
  assert.ok(gs.runs()[1]?.terminated, 'the on holder was killed when switching off');
  assert.equal(gs.holding().map((r) => r.args.at(-1)), ['17=0'], 'off is held too');
  await relay.close();
  assert.equal(gs.holding(), [], 'close releases the line: no gpioset left running');
  assert.ok(gs.runs().every((r) => r.terminated));
});

gpioset('libgpiod 2.x: --chip, --active-low, no --mode', async () => {
  const gs = FakeGpioset.create(tempDir('loa-gpioset-'), { version: 'v2.1.3' });
  const relay = await GpiosetRelay.open({ pin: 27, activeLow: true, chip: 'gpiochip4', bin: gs.bin, settleMs: 100 });
  assert.is(relay.major, 2);
  await relay.set('on');
  assert.equal(gs.runs().at(-1)?.args, ['--chip', 'gpiochip4', '--active-low', '--consumer', 'loa-relay', '27=1']);
  await relay.close();
  assert.equal(gs.holding(), []);
});

gpioset('a gpioset that exits at once (busy line) fails the switch with its message', async () => {
  const gs = FakeGpioset.create(tempDir('loa-gpioset-'), { fail: true });
  const err = await GpiosetRelay.open({ pin: 17, activeLow: false, bin: gs.bin, settleMs: 200 }).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(err);
  assert.match(err.message, 'Device or resource busy');
});

gpioset('a missing gpioset binary says to install gpiod', async () => {
  const err = await GpiosetRelay.open({ pin: 17, activeLow: false, bin: join(tempDir(), 'gpioset') }).then(
    () => null,
    (e: Error) => e,
  );
  assert.match(err?.message ?? '', 'install the gpiod package');
});

gpioset('a holder killed by someone else is logged, and the same state is held again on the next set', async () => {
  const gs = FakeGpioset.create(tempDir('loa-gpioset-'));
  const { log, find } = captureLog();
  const relay = await GpiosetRelay.open({ pin: 17, activeLow: false, bin: gs.bin, settleMs: 100, log });
  await relay.set('on');
  process.kill(relay.pid!, 'SIGTERM');
  await waitFor(() => find((l) => l.msg === 'relay: gpioset holding the amplifier line exited'), { what: 'the error log' });
  assert.is(relay.pid, null);
  await relay.set('on');
  assert.equal(gs.holding().map((r) => r.args.at(-1)), ['17=1']);
  await relay.close();
});

gpioset.run();
