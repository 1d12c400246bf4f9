import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LoaError } from '../protocol/errors.js';

// Finds the sysfs GPIO number of a BCM pin. The relay pin is configured as the
// BCM number printed on every Pi pinout (GPIO17 = header pin 11), but the
// legacy sysfs interface numbers lines globally: line = chip base + offset.
// Kernels before 6.6 gave the Pi's controller base 0, so sysfs number == BCM.
// Since 6.6 (Raspberry Pi OS Bookworm) gpiolib allocates bases dynamically
// from 512 (GPIO_DYNAMIC_BASE), so GPIO17 is 529 on a Pi 4 and 588 on a Pi 5,
// whose header pins hang off the RP1 southbridge (base 571 after the SoC's own
// brcmstb chips). Hence we read label/base/ngpio of every
// /sys/class/gpio/gpiochipN and pick the Pi's main controller by its label.

/**
 * Labels of the controller that carries the 40-pin header, as pinctrl drivers
 * name their gpio_chip. Line offset on that chip == BCM number.
 *   pinctrl-bcm2835  Pi 1, 2, 3, Zero, Zero 2 W (and the Pi 4 on early 4.19 kernels,
 *                    before the driver gave the BCM2711 its own gpio_chip)
 *   pinctrl-bcm2711  Pi 4, Pi 400, CM4
 *   pinctrl-rp1      Pi 5, CM5 (RP1's GPIO bank 0..2; the header is lines 0..27)
 */
export const MAIN_GPIO_LABELS = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1'] as const;

export interface GpioChipInfo {
  /** Directory name, e.g. 'gpiochip512'. */
  name: string;
  label: string;
  base: number;
  ngpio: number;
}

export interface GpioLine {
  bcm: number;
  /** The number to write to /sys/class/gpio/export. */
  sysfsNumber: number;
  chip: GpioChipInfo;
}

export type GpioLookupFailure = 'no-gpio-class' | 'no-main-controller' | 'pin-out-of-range';

/** The gpiochipN entries under <sysfsRoot>/class/gpio; [] when the directory is absent (no GPIO, or a kernel without CONFIG_GPIO_SYSFS). */
export function listGpioChips(sysfsRoot = '/sys'): GpioChipInfo[] {
  const dir = join(sysfsRoot, 'class', 'gpio');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const chips: GpioChipInfo[] = [];
  for (const name of names.filter((n) => /^gpiochip\d+$/.test(n))) {
    try {
      const read = (f: string) => readFileSync(join(dir, name, f), 'utf8').trim();
      const chip = { name, label: read('label'), base: Number(read('base')), ngpio: Number(read('ngpio')) };
      if (Number.isInteger(chip.base) && Number.isInteger(chip.ngpio)) chips.push(chip);
    } catch {
      // A chip whose attributes cannot be read is not one we can drive.
    }
  }
  return chips.sort((a, b) => a.base - b.base);
}

function lookupError(reason: GpioLookupFailure, message: string, context: Record<string, unknown>): LoaError {
  return new LoaError('LOA_E_CONFIG_INVALID', message, { context: { reason, ...context } });
}

/** The sysfs line of BCM pin `bcm` on the Pi's main GPIO controller, or a LOA_E_CONFIG_INVALID error whose context.reason says why not. */
export function findGpioLine(bcm: number, sysfsRoot = '/sys'): GpioLine {
  const where = join(sysfsRoot, 'class', 'gpio');
  const chips = listGpioChips(sysfsRoot);
  if (chips.length === 0) {
    throw lookupError('no-gpio-class', `relay: no GPIO chip under ${where}: this machine has no GPIO or its kernel lacks CONFIG_GPIO_SYSFS; install gpiod and set relay.driver to "gpioset", or set relay.driver to "noop"`, { sysfsRoot, bcm });
  }
  const main = chips.find((c) => (MAIN_GPIO_LABELS as readonly string[]).includes(c.label));
  if (!main) {
    const found = chips.map((c) => `${c.name}=${c.label}`).join(', ');
    throw lookupError('no-main-controller', `relay: none of the GPIO chips under ${where} is a Raspberry Pi controller (${MAIN_GPIO_LABELS.join(', ')}); found ${found}; on another board set relay.driver to "noop"`, { sysfsRoot, bcm, found: chips.map((c) => c.label) });
  }
  if (!Number.isInteger(bcm) || bcm < 0 || bcm >= main.ngpio) {
    throw lookupError('pin-out-of-range', `relay: BCM pin ${bcm} does not exist on ${main.label} (lines 0..${main.ngpio - 1}); set relay.pin to the BCM number of the relay input (header pins use 2..27, e.g. 17 for header pin 11)`, { sysfsRoot, bcm, label: main.label, ngpio: main.ngpio });
  }
  return { bcm, sysfsNumber: main.base + bcm, chip: main };
}
