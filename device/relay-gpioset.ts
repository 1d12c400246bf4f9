import { execFile, spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../lib/log.js';
import type { Relay, RelayState } from './relay-types.js';

// The relay through libgpiod's `gpioset` (Debian package gpiod), for kernels
// built without the sysfs GPIO interface. A GPIO character-device line keeps
// its value only while a process holds it, so a `gpioset` child holds the
// line at the wanted level until it is killed; switching = kill, then spawn
// one for the new level. The off level is held too: a released line's value
// is undefined by the libgpiod docs.
//
// The CLI changed between major versions:
//   v1 (Bookworm ships 1.6): gpioset [-l] [-m mode] <chip> <offset>=<value>;
//     the default mode 'exit' releases at once, '--mode=signal' holds until
//     SIGINT/SIGTERM.
//   v2 (Trixie, 2.x): gpioset [-l] [-c chip] <line>=<value>; holds until
//     killed by default, '--mode' is gone and a bare number is a line name
//     unless '--chip' is given.
// We ask `gpioset --version` once and build the arguments for that version.

export type GpiosetMajor = 1 | 2;

export interface GpiosetRelayOptions {
  /** BCM number; on the Pi's main controller the line offset equals it. */
  pin: number;
  activeLow: boolean;
  /** Chip name, number or path: 'gpiochip0' is the header's controller on a Pi 4 and on a Pi 5 with a current kernel (early Bookworm Pi 5 kernels had RP1 as gpiochip4). */
  chip?: string;
  /** The gpioset binary (tests point this at a fake script). */
  bin?: string;
  /** gpioset prints nothing when it holds the line; a child still alive after this long is taken as holding it. */
  settleMs?: number;
  log?: Logger;
}

/** Arguments that set `offset` to `value` on `chip` and hold it until SIGTERM. */
export function gpiosetArgs(major: GpiosetMajor, chip: string, offset: number, value: 0 | 1, activeLow: boolean): string[] {
  const low = activeLow ? ['--active-low'] : [];
  return major === 1 ? ['--mode=signal', ...low, chip, `${offset}=${value}`] : ['--chip', chip, ...low, '--consumer', 'loa-relay', `${offset}=${value}`];
}

/** The major version from `gpioset --version` ("gpioset (libgpiod) v1.6.3"), or null. */
export function parseGpiosetVersion(out: string): GpiosetMajor | null {
  const m = /\bv(\d+)\.\d+/.exec(out);
  return m?.[1] === '1' ? 1 : m?.[1] === '2' ? 2 : null;
}

function gpiosetVersion(bin: string): Promise<GpiosetMajor> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['--version'], { timeout: 5000 }, (err, stdout) => {
      if (err) return reject(new Error(`relay: cannot run ${bin} --version (install the gpiod package)`, { cause: err }));
      const major = parseGpiosetVersion(stdout);
      if (major === null) return reject(new Error(`relay: unknown gpioset version: ${stdout.split('\n')[0]}`));
      resolve(major);
    });
  });
}

export class GpiosetRelay implements Relay {
  readonly kind = 'gpioset';
  readonly major: GpiosetMajor;
  readonly #o: Required<Omit<GpiosetRelayOptions, 'log'>> & { log: Logger | undefined };
  #child: ChildProcess | null = null;
  #state: RelayState = 'off';
  #closed = false;

  private constructor(major: GpiosetMajor, opts: GpiosetRelayOptions) {
    this.major = major;
    this.#o = { pin: opts.pin, activeLow: opts.activeLow, chip: opts.chip ?? 'gpiochip0', bin: opts.bin ?? 'gpioset', settleMs: opts.settleMs ?? 150, log: opts.log };
  }

  /** Finds the gpioset version and holds the line at the off level. */
  static async open(opts: GpiosetRelayOptions): Promise<GpiosetRelay> {
    const relay = new GpiosetRelay(await gpiosetVersion(opts.bin ?? 'gpioset'), opts);
    await relay.#hold('off');
    opts.log?.info({ bcm: opts.pin, chip: relay.#o.chip, gpiosetMajor: relay.major, activeLow: opts.activeLow }, 'relay: gpioset holds the line, amplifier off');
    return relay;
  }

  get state(): RelayState {
    return this.#state;
  }

  /** Pid of the gpioset child holding the line, if any. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  async set(state: RelayState): Promise<void> {
    if (this.#closed) throw new Error('relay: set() after close()');
    if (state === this.#state && this.#child) return;
    await this.#hold(state);
  }

  /** Switches off, then releases the line (kills the child holding the off level). */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.set('off');
    this.#closed = true;
    await this.#release();
  }

  async #hold(state: RelayState): Promise<void> {
    await this.#release();
    const { bin, chip, pin, activeLow, settleMs } = this.#o;
    const child = spawn(bin, gpiosetArgs(this.major, chip, pin, state === 'on' ? 1 : 0, activeLow), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + String(d)).slice(-500)));
    const early = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; err?: Error } | null>((resolve) => {
      const t = setTimeout(() => resolve(null), settleMs);
      child.once('error', (err) => (clearTimeout(t), resolve({ code: null, signal: null, err })));
      child.once('exit', (code, signal) => (clearTimeout(t), resolve({ code, signal })));
    });
    if (early) {
      // The line is busy, the chip is wrong, or no permission on /dev/gpiochipN.
      throw new Error(`relay: gpioset exited at once (${early.err?.message ?? `code ${early.code}`}): ${stderr.trim()}`, { cause: early.err });
    }
    this.#child = child;
    this.#state = state;
    child.once('exit', (code, signal) => {
      if (this.#child !== child) return;
      // Someone else killed it: the line is released and its level unknown;
      // the next set() spawns a holder again even for the same state.
      this.#child = null;
      this.#o.log?.error({ code, signal, stderr: stderr.trim() }, 'relay: gpioset holding the amplifier line exited');
    });
  }

  async #release(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 1000);
      child.once('exit', () => (clearTimeout(force), resolve()));
      // gpioset catches SIGTERM in signal mode and releases the line cleanly.
      child.kill('SIGTERM');
    });
  }
}
