import { constants, existsSync } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../lib/log.js';
import { findGpioLine, type GpioLine } from './relay-gpio.js';
import type { Relay, RelayState } from './relay-types.js';

// The relay on a GPIO line through the kernel's sysfs interface
// (Documentation/ABI/obsolete/sysfs-gpio): write the line number to
// `export`, then `direction` and `value` under gpioN/.
//
// Why not onoff's Gpio: it hard-codes '/sys/class/gpio/' (tests could then
// only replace the class, never run this code), busy-waits synchronously for
// udev, and opens an epoll poller an output does not need. Writing three
// files ourselves keeps one code path for the Pi and for a fake sysfs tree
// in a temp dir.

export interface SysfsRelayOptions {
  /** BCM number of the relay input. */
  pin: number;
  /** The relay board switches on when the pin is low (most opto-isolated modules). */
  activeLow: boolean;
  sysfsRoot?: string;
  /** How long to wait for gpioN/ to become writable after export. */
  exportTimeoutMs?: number;
  log?: Logger;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class SysfsRelay implements Relay {
  readonly kind = 'gpio-sysfs';
  readonly line: GpioLine;
  readonly #activeLow: boolean;
  readonly #dir: string;
  #state: RelayState = 'off';
  #closed = false;

  private constructor(line: GpioLine, dir: string, activeLow: boolean) {
    this.line = line;
    this.#dir = dir;
    this.#activeLow = activeLow;
  }

  /** Exports the line (unless already exported) and makes it an output driven to the off level. */
  static async open(opts: SysfsRelayOptions): Promise<SysfsRelay> {
    const root = opts.sysfsRoot ?? '/sys';
    const line = findGpioLine(opts.pin, root);
    const cls = join(root, 'class', 'gpio');
    const dir = join(cls, `gpio${line.sysfsNumber}`);
    // Writing export for a line already exported fails with EBUSY; a previous
    // run (or another tool) may have left it exported, which is fine.
    if (!existsSync(dir)) await writeFile(join(cls, 'export'), String(line.sysfsNumber));
    // The kernel creates gpioN/ during the write, but udev changes its owner
    // to group gpio a moment later (raspberrypi/linux#553): wait until we may write.
    const deadline = Date.now() + (opts.exportTimeoutMs ?? 2000);
    for (;;) {
      try {
        await access(join(dir, 'direction'), constants.W_OK);
        await access(join(dir, 'value'), constants.W_OK);
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`relay: ${dir} did not become writable after export (is the user in group gpio?)`, { cause: e });
        await sleep(10);
      }
    }
    // We do the active-low inversion ourselves, so the kernel's own must be
    // off (a previous user may have set it); `value` is then the pin level.
    await writeFile(join(dir, 'active_low'), '0');
    // 'high'/'low' make the line an output already at that level, without
    // the glitch of 'out' (= low) then value: with an active-low board,
    // 'out' would click the amplifier on for an instant at every start.
    await writeFile(join(dir, 'direction'), opts.activeLow ? 'high' : 'low');
    // The same level to value: a no-op on a real kernel, but every path
    // (and a fake tree with no kernel behind `direction`) then shows it there.
    await writeFile(join(dir, 'value'), opts.activeLow ? '1' : '0');
    const relay = new SysfsRelay(line, dir, opts.activeLow);
    opts.log?.info({ bcm: line.bcm, sysfs: line.sysfsNumber, chip: line.chip.label, activeLow: opts.activeLow }, 'relay: GPIO line exported as an output, amplifier off');
    return relay;
  }

  get state(): RelayState {
    return this.#state;
  }

  async set(state: RelayState): Promise<void> {
    if (this.#closed) throw new Error('relay: set() after close()');
    if (state === this.#state) return;
    const high = (state === 'on') !== this.#activeLow;
    await writeFile(join(this.#dir, 'value'), high ? '1' : '0');
    this.#state = state;
  }

  /**
   * Switches off and leaves the line exported, driven to the off level. Not
   * unexported: freeing the line may return the pin to an input (upstream
   * bcm2835_pmx_free does; Raspberry Pi kernels keep outputs only when their
   * persist_gpio_outputs option is on), and a floating relay input is not "off".
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.set('off');
    this.#closed = true;
  }
}
