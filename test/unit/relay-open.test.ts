import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { FakeGpioset, FakeSysfs, PI4_CHIPS, PI5_CHIPS } from '../fakes/relay.js';
import { openRelay } from '../../device/relay-open.js';
import { isLoaError } from '../../protocol/errors.js';
import { captureLog } from '../helpers/logs.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

// Which adapter openRelay picks, and the reason it logs.

test.after(cleanupTempDirs);

const opened = (lines: Record<string, unknown>[]) => lines.find((l) => l.msg === 'relay: opened' || String(l.msg).includes('simulated'));

test('no pin configured: noop, and says so', async () => {
  const { log, lines } = captureLog();
  const relay = await openRelay({ pin: null }, log);
  assert.is(relay.kind, 'noop');
  assert.is(opened(lines)?.why, 'relay.pin is not set');
});

test('auto on a Pi with sysfs GPIO: sysfs', async () => {
  const sys = FakeSysfs.create(tempDir('loa-sysfs-'), PI5_CHIPS);
  const { log, lines } = captureLog();
  const relay = await openRelay({ pin: 17, sysfsRoot: sys.root, gpiosetPath: join(tempDir(), 'none') }, log);
  assert.is(relay.kind, 'gpio-sysfs');
  assert.equal(sys.exported, [588]);
  assert.is(opened(lines)?.driver, 'sysfs');
  await relay.close();
  sys.stop();
});

test('auto where the kernel has no sysfs GPIO: gpioset, with the reason', async () => {
  const sys = FakeSysfs.create(tempDir('loa-sysfs-'), [], { sysfsGpio: false });
  const gs = FakeGpioset.create(tempDir('loa-gpioset-'));
  const { log, lines } = captureLog();
  const relay = await openRelay({ pin: 17, sysfsRoot: sys.root, gpiosetPath: gs.bin, gpiosetSettleMs: 100 }, log);
  assert.is(relay.kind, 'gpioset');
  assert.is(opened(lines)?.driver, 'gpioset');
  assert.match(String(opened(lines)?.why), 'export missing or not writable');
  assert.is(gs.holding().length, 1);
  await relay.close();
  assert.is(gs.holding().length, 0);
});

test('auto with a pin but neither driver working: noop, warned with both reasons', async () => {
  const { log, lines } = captureLog();
  const relay = await openRelay({ pin: 17, sysfsRoot: tempDir(), gpiosetPath: join(tempDir(), 'gpioset') }, log);
  assert.is(relay.kind, 'noop');
  const warn = lines.find((l) => l.level === 40 && String(l.msg).includes('simulated'));
  assert.ok(warn);
  assert.match(String(warn.why), /sysfs: .*; gpioset: .*install the gpiod package/);
});

test('auto: a sysfs tree that is not a Pi falls through to gpioset', async () => {
  const sys = FakeSysfs.create(tempDir('loa-sysfs-'), [{ label: 'gpio-mockup-A', base: 512, ngpio: 8 }]);
  const gs = FakeGpioset.create(tempDir('loa-gpioset-'));
  const { log, lines } = captureLog();
  const relay = await openRelay({ pin: 17, sysfsRoot: sys.root, gpiosetPath: gs.bin, gpiosetSettleMs: 100 }, log);
  assert.is(relay.kind, 'gpioset');
  assert.match(String(opened(lines)?.why), 'sysfs: LOA_E_CONFIG_INVALID');
  await relay.close();
  sys.stop();
});

test('a named driver that cannot open is a start-up error that says how to fix it', async () => {
  const err = await openRelay({ driver: 'gpioset', pin: 17, gpiosetPath: join(tempDir(), 'gpioset') }, captureLog().log).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(isLoaError(err, 'LOA_E_CONFIG_INVALID'));
  assert.match(err.message, 'relay.driver');
  const sys = FakeSysfs.create(tempDir('loa-sysfs-'), PI4_CHIPS);
  const bad = await openRelay({ driver: 'sysfs', pin: 99, sysfsRoot: sys.root }, captureLog().log).catch((e: unknown) => e);
  assert.ok(isLoaError(bad, 'LOA_E_CONFIG_INVALID'));
  assert.match(bad.message, 'BCM pin 99');
  sys.stop();
});

test.run();
