import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findGpioLine, listGpioChips } from '../../device/relay-gpio.js';
import { FakeSysfs, OLD_PI3_CHIPS, PI4_CHIPS, PI5_CHIPS } from '../fakes/relay.js';
import { LoaError } from '../../protocol/errors.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

test.after(cleanupTempDirs);

const tree = (chips: Parameters<typeof FakeSysfs.create>[1]) => FakeSysfs.create(tempDir('loa-sysfs-'), chips, { sysfsGpio: false }).root;

function lookupFails(bcm: number, root: string): LoaError {
  try {
    findGpioLine(bcm, root);
  } catch (e) {
    assert.instance(e, LoaError);
    assert.is((e as LoaError).code, 'LOA_E_CONFIG_INVALID');
    return e as LoaError;
  }
  assert.unreachable(`BCM ${bcm} was found in ${root}`);
  throw new Error('unreachable');
}

test('Pi 4 on a 6.6 kernel: BCM 17 is sysfs 529 on pinctrl-bcm2711 (base 512)', () => {
  const line = findGpioLine(17, tree(PI4_CHIPS));
  assert.is(line.sysfsNumber, 529);
  assert.equal(line.chip, { name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 });
});

test('Pi 5: the header is on RP1 (pinctrl-rp1, base 571), not the first chip at 512', () => {
  const root = tree(PI5_CHIPS);
  assert.is(listGpioChips(root)[0]?.label, 'gpio-brcmstb@107d508500', 'a brcmstb bank has the lowest base');
  const line = findGpioLine(17, root);
  assert.is(line.sysfsNumber, 588);
  assert.is(line.chip.label, 'pinctrl-rp1');
  assert.is(findGpioLine(27, root).sysfsNumber, 598);
});

test('an old kernel numbers from 0: sysfs number == BCM number', () => {
  const line = findGpioLine(17, tree(OLD_PI3_CHIPS));
  assert.is(line.sysfsNumber, 17);
  assert.is(line.chip.label, 'pinctrl-bcm2835');
});

test('exported lines and export/unexport files beside the chips are not chips', () => {
  const root = tempDir('loa-sysfs-');
  const fake = FakeSysfs.create(root, PI4_CHIPS);
  fake.preExport(529);
  fake.stop();
  assert.equal(listGpioChips(root).map((c) => c.name), ['gpiochip512', 'gpiochip570']);
});

test('no GPIO at all: no /sys/class/gpio, or one without chips', () => {
  const bare = tempDir('loa-sysfs-');
  let e = lookupFails(17, bare);
  assert.is(e.context.reason, 'no-gpio-class');
  assert.match(e.message, join(bare, 'class', 'gpio'));
  assert.match(e.message, /relay\.driver/, 'says how to fix it');
  mkdirSync(join(bare, 'class', 'gpio'), { recursive: true });
  e = lookupFails(17, bare);
  assert.is(e.context.reason, 'no-gpio-class');
});

test('a board without a Raspberry Pi controller is named, with what was found', () => {
  const e = lookupFails(17, tree([{ label: 'gpio-mockup-A', base: 512, ngpio: 8 }]));
  assert.is(e.context.reason, 'no-main-controller');
  assert.match(e.message, 'gpiochip512=gpio-mockup-A');
  assert.equal(e.context.found, ['gpio-mockup-A']);
});

test('a BCM pin the controller does not have is refused, against its own line count', () => {
  const pi4 = tree(PI4_CHIPS);
  const pi5 = tree(PI5_CHIPS);
  assert.is(findGpioLine(57, pi4).sysfsNumber, 569, 'the BCM2711 has 58 lines');
  for (const [bcm, root] of [[58, pi4], [54, pi5], [-1, pi4], [2.5, pi4], [Number.NaN, pi4]] as const) {
    const e = lookupFails(bcm, root);
    assert.is(e.context.reason, 'pin-out-of-range', `BCM ${bcm}`);
    assert.match(e.message, /relay\.pin/);
  }
  assert.match(lookupFails(54, pi5).message, 'pinctrl-rp1 (lines 0..53)');
});

test.run();
