import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Relay, RelayState } from '../../device/relay-types.js';

// Fakes of the relay hardware, for tests on machines without GPIO: a relay
// that records its changes, a sysfs GPIO tree with a stand-in for the kernel's
// export handler, and a `gpioset` script that records how it was run.

export interface RelayChange {
  state: RelayState;
  atMs: number;
}

export class FakeRelay implements Relay {
  readonly kind = 'fake';
  readonly changes: RelayChange[] = [];
  /** While set, set() rejects with this error and the state does not change. */
  failWith: Error | null = null;
  closed = false;
  readonly #now: () => number;
  #state: RelayState = 'off';

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  get state(): RelayState {
    return this.#state;
  }

  async set(state: RelayState): Promise<void> {
    if (this.closed) throw new Error('relay: set() after close()');
    if (this.failWith) throw this.failWith;
    if (state === this.#state) return;
    this.#state = state;
    this.changes.push({ state, atMs: this.#now() });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.set('off');
    this.closed = true;
  }
}

export interface FakeGpioChip {
  label: string;
  base: number;
  ngpio: number;
}

/** /sys/class/gpio as Raspberry Pi OS Bookworm (kernel 6.6) shows it on a Pi 4. */
export const PI4_CHIPS: readonly FakeGpioChip[] = [
  { label: 'pinctrl-bcm2711', base: 512, ngpio: 58 },
  { label: 'raspberrypi-exp-gpio', base: 570, ngpio: 8 },
];

/** ... and on a Pi 5: the SoC's own brcmstb banks come first, the header is on RP1 at 571. */
export const PI5_CHIPS: readonly FakeGpioChip[] = [
  { label: 'gpio-brcmstb@107d508500', base: 512, ngpio: 32 },
  { label: 'gpio-brcmstb@107d508520', base: 544, ngpio: 4 },
  { label: 'gpio-brcmstb@107d517c00', base: 548, ngpio: 17 },
  { label: 'gpio-brcmstb@107d517c20', base: 565, ngpio: 6 },
  { label: 'pinctrl-rp1', base: 571, ngpio: 54 },
];

/** A Pi 3 on a kernel before 6.6: the controller starts at 0. */
export const OLD_PI3_CHIPS: readonly FakeGpioChip[] = [
  { label: 'pinctrl-bcm2835', base: 0, ngpio: 54 },
  { label: 'raspberrypi-exp-gpio', base: 504, ngpio: 8 },
];

/**
 * A sysfs tree in a directory: class/gpio/gpiochipN/{label,base,ngpio}, and,
 * unless `sysfsGpio` is false, `export` with a stand-in for the kernel that
 * creates gpioN/{direction,value,active_low} when a number is written there.
 * Other attributes are plain files: they hold what was last written.
 */
export class FakeSysfs {
  readonly root: string;
  /** Line numbers written to export, in order. */
  readonly exported: number[] = [];
  #timer: NodeJS.Timeout | null = null;

  private constructor(root: string) {
    this.root = root;
  }

  static create(root: string, chips: readonly FakeGpioChip[], opts: { sysfsGpio?: boolean } = {}): FakeSysfs {
    const cls = join(root, 'class', 'gpio');
    mkdirSync(cls, { recursive: true });
    for (const c of chips) {
      const d = join(cls, `gpiochip${c.base}`);
      mkdirSync(d);
      writeFileSync(join(d, 'label'), `${c.label}\n`);
      writeFileSync(join(d, 'base'), `${c.base}\n`);
      writeFileSync(join(d, 'ngpio'), `${c.ngpio}\n`);
    }
    const fake = new FakeSysfs(root);
    if (opts.sysfsGpio !== false) {
      writeFileSync(join(cls, 'export'), '');
      writeFileSync(join(cls, 'unexport'), '');
      fake.#timer = setInterval(() => {
        try {
          fake.#kernel();
        } catch {
          fake.stop(); // the temp dir is gone
        }
      }, 2);
      fake.#timer.unref();
    }
    return fake;
  }

  /** Content of class/gpio/gpioN/<attr>, or null when it does not exist. */
  attr(line: number, attr: 'direction' | 'value' | 'active_low'): string | null {
    const p = join(this.root, 'class', 'gpio', `gpio${line}`, attr);
    return existsSync(p) ? readFileSync(p, 'utf8').trim() : null;
  }

  /** As if a previous run had exported `line` and left it an input. */
  preExport(line: number): void {
    this.#makeLine(line);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #kernel(): void {
    const exp = join(this.root, 'class', 'gpio', 'export');
    const text = readFileSync(exp, 'utf8').trim();
    if (!/^\d+$/.test(text)) return;
    writeFileSync(exp, '');
    this.exported.push(Number(text));
    this.#makeLine(Number(text));
  }

  #makeLine(line: number): void {
    const d = join(this.root, 'class', 'gpio', `gpio${line}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'direction'), 'in\n');
    writeFileSync(join(d, 'value'), '0\n');
    writeFileSync(join(d, 'active_low'), '0\n');
  }
}

export interface GpiosetRun {
  pid: number;
  args: string[];
  /** The run received SIGTERM/SIGINT and released the line. */
  terminated: boolean;
}

/**
 * A `gpioset` shell script in `dir` that answers --version like libgpiod
 * (v1.6.3 unless told) and otherwise logs its pid and arguments and holds
 * until SIGTERM, or fails at once like a busy line when `fail` is set.
 */
export class FakeGpioset {
  readonly bin: string;
  readonly #log: string;

  private constructor(bin: string, log: string) {
    this.bin = bin;
    this.#log = log;
  }

  static create(dir: string, opts: { version?: string; fail?: boolean } = {}): FakeGpioset {
    const bin = join(dir, 'gpioset');
    const log = join(dir, 'gpioset.log');
    writeFileSync(log, '');
    const body = opts.fail
      ? `echo "gpioset: error setting the GPIO line values: Device or resource busy" >&2\nexit 1`
      : `echo "start $$ $*" >> "$LOG"\ntrap 'echo "term $$" >> "$LOG"; kill $SLEEPER 2>/dev/null; exit 0' TERM INT\nsleep 1000 &\nSLEEPER=$!\nwait $SLEEPER`;
    writeFileSync(bin, `#!/bin/sh\nLOG='${log}'\nif [ "$1" = "--version" ] || [ "$1" = "-v" ]; then echo "gpioset (libgpiod) ${opts.version ?? 'v1.6.3'}"; exit 0; fi\n${body}\n`);
    chmodSync(bin, 0o755);
    return new FakeGpioset(bin, log);
  }

  runs(): GpiosetRun[] {
    const runs = new Map<number, GpiosetRun>();
    for (const line of readFileSync(this.#log, 'utf8').split('\n')) {
      const [what, pid, ...args] = line.split(' ');
      if (what === 'start') runs.set(Number(pid), { pid: Number(pid), args, terminated: false });
      const run = runs.get(Number(pid));
      if (what === 'term' && run) run.terminated = true;
    }
    return [...runs.values()];
  }

  /** The runs still holding the line: not terminated and their process alive. */
  holding(): GpiosetRun[] {
    return this.runs().filter((r) => !r.terminated && alive(r.pid));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
