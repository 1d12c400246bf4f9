import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../lib/log.js';
import { LoaError, reasonOf } from '../protocol/errors.js';
import { GpiosetRelay } from './relay-gpioset.js';
import { NoopRelay } from './relay-noop.js';
import { SysfsRelay } from './relay-sysfs.js';
import type { Relay } from './relay-types.js';

// Picks the relay adapter for this machine: sysfs GPIO where the kernel still
// has it (Raspberry Pi OS up to Bookworm), libgpiod's gpioset where it does
// not, and a logged no-op where there is no GPIO at all.

export type RelayDriver = 'auto' | 'sysfs' | 'gpioset' | 'noop';

export interface RelayConfig {
  /** 'auto' tries sysfs, then gpioset, then noop; a named driver that cannot open is a start-up error. */
  driver: RelayDriver;
  /** BCM number of the pin wired to the relay input; null: no relay (noop). */
  pin: number | null;
  /** The relay closes when the pin is low (most opto-isolated relay modules). */
  activeLow: boolean;
  /** For gpioset: the header's GPIO chip. */
  gpioChip: string;
  gpiosetPath: string;
  sysfsRoot: string;
  /** gpioset: a child still running after this long is taken as holding the line. */
  gpiosetSettleMs: number;
}

export const RELAY_DEFAULTS: Readonly<RelayConfig> = Object.freeze({
  driver: 'auto',
  pin: null,
  activeLow: false,
  gpioChip: 'gpiochip0',
  gpiosetPath: 'gpioset',
  sysfsRoot: '/sys',
  gpiosetSettleMs: 150,
});

function openSysfs(c: RelayConfig, pin: number, log: Logger): Promise<Relay> {
  return SysfsRelay.open({ pin, activeLow: c.activeLow, sysfsRoot: c.sysfsRoot, log });
}

function openGpioset(c: RelayConfig, pin: number, log: Logger): Promise<Relay> {
  return GpiosetRelay.open({ pin, activeLow: c.activeLow, chip: c.gpioChip, bin: c.gpiosetPath, settleMs: c.gpiosetSettleMs, log });
}

export async function openRelay(config: Partial<RelayConfig>, log: Logger): Promise<Relay> {
  const c: RelayConfig = { ...RELAY_DEFAULTS, ...config };
  const noop = (why: string, level: 'info' | 'warn' = 'info') => {
    log[level]({ driver: 'noop', why }, 'relay: no GPIO, the amplifier relay is simulated');
    return new NoopRelay(log);
  };
  if (c.driver === 'noop') return noop('relay.driver is "noop"');
  if (c.pin === null) return noop('relay.pin is not set');
  const pin = c.pin;

  if (c.driver !== 'auto') {
    try {
      const relay = await (c.driver === 'sysfs' ? openSysfs : openGpioset)(c, pin, log);
      log.info({ driver: c.driver, why: 'relay.driver' }, 'relay: opened');
      return relay;
    } catch (e) {
      throw new LoaError('LOA_E_CONFIG_INVALID', `relay: driver "${c.driver}" cannot switch BCM pin ${pin}: ${reasonOf(e)}; fix the wiring or permissions, or set relay.driver to "auto" or "noop"`, { cause: e, context: { driver: c.driver, pin } });
    }
  }

  const tried: string[] = [];
  const exportFile = join(c.sysfsRoot, 'class', 'gpio', 'export');
  const sysfsUsable = await access(exportFile, constants.W_OK).then(
    () => true,
    () => false,
  );
  if (sysfsUsable) {
    try {
      const relay = await openSysfs(c, pin, log);
      log.info({ driver: 'sysfs', why: `${exportFile} is writable` }, 'relay: opened');
      return relay;
    } catch (e) {
      tried.push(`sysfs: ${reasonOf(e)}`);
      log.warn({ err: e }, 'relay: sysfs GPIO cannot be used, trying gpioset');
    }
  } else {
    // Since Linux 6.x sysfs GPIO may be compiled out (CONFIG_GPIO_SYSFS); the
    // character device that gpioset uses is always there on a Pi.
    tried.push(`sysfs: ${exportFile} missing or not writable`);
  }
  try {
    const relay = await openGpioset(c, pin, log);
    log.info({ driver: 'gpioset', why: tried.join('; ') }, 'relay: opened');
    return relay;
  } catch (e) {
    tried.push(`gpioset: ${reasonOf(e)}`);
  }
  // A pin was configured, so the operator expects a relay: warn, but keep the
  // agent playing (the amplifier may be wired always-on).
  return noop(tried.join('; '), 'warn');
}
