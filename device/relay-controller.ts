import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/log.js';
import type { AmplifierState, Relay, RelayState } from './relay-types.js';

// When the amplifier is powered: on before sound, with time for the amplifier
// to settle (a PA amplifier thumps and mutes for a second or two after power
// on), off after an idle delay so back-to-back announcements do not click the
// relay each time, and never on for longer than a safety limit: a village
// amplifier left on for days by a stuck stream overheats and hums all night.
//
// Contract with the player: every beforeSound() is matched by exactly one
// soundEnded(), also when playback fails or is preempted, in any order.
// The timers come from an injected Clock so tests run in virtual time.

/** Time and timers, injected. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface RelayTiming {
  /** After switching on, beforeSound() resolves this much later. */
  warmUpMs: number;
  /** After the last sound ends, switch off this much later unless sound starts again. */
  idleOffMs: number;
  /** Longest continuous on-time; then off, state 'fault', and a cool-down. */
  maxOnMs: number;
  /** After the max on-time, switching on is refused for this long. */
  cooldownMs: number;
}

export const RELAY_TIMING_DEFAULTS: Readonly<RelayTiming> = Object.freeze({
  warmUpMs: 1500,
  idleOffMs: 30_000,
  maxOnMs: 4 * 3600_000,
  cooldownMs: 10 * 60_000,
});

export type AmplifierFault = 'relay-error' | 'max-on';

export interface RelayControllerDeps {
  /** Owned by the controller from now on: close() closes it. */
  relay: Relay;
  clock: Clock;
  log: Logger;
  timing?: Partial<RelayTiming>;
}

export interface RelayControllerEvents {
  changed: [state: AmplifierState, previous: AmplifierState];
}

export class RelayController extends EventEmitter<RelayControllerEvents> {
  readonly timing: Readonly<RelayTiming>;
  readonly #relay: Relay;
  readonly #clock: Clock;
  readonly #log: Logger;
  #state: AmplifierState;
  #fault: AmplifierFault | null = null;
  /** INVARIANT: beforeSound() calls minus soundEnded() calls, never below 0. */
  #active = 0;
  /** Relay switches run one after another; this never rejects. */
  #ops: Promise<unknown> = Promise.resolve();
  #warming: Promise<void> | null = null;
  #warmTimer: unknown = null;
  #warmDone: (() => void) | null = null;
  #idleTimer: unknown = null;
  #maxOnTimer: unknown = null;
  #onSince: number | null = null;
  #cooldownUntil: number | null = null;
  #closed = false;

  constructor(deps: RelayControllerDeps) {
    super();
    this.#relay = deps.relay;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.timing = Object.freeze({ ...RELAY_TIMING_DEFAULTS, ...deps.timing });
    this.#state = deps.relay.state;
  }

  /** For telemetry. */
  get state(): AmplifierState {
    return this.#state;
  }

  /** Why the state is 'fault', else null. */
  get fault(): AmplifierFault | null {
    return this.#state === 'fault' ? this.#fault : null;
  }

  /** When the relay went on, if it is on. */
  get onSince(): number | null {
    return this.#onSince;
  }

  /**
   * Call before playing a sound. Resolves once the amplifier may be fed:
   * at once when it is already on, after the warm-up when it had to be
   * switched on, and at once when it cannot be switched (fault, cool-down):
   * the sound goes on anyway, as the amplifier may be wired always-on.
   */
  async beforeSound(): Promise<void> {
    if (this.#closed) return;
    this.#active++;
    this.#clearIdle();
    await this.#ops; // an idle switch-off in flight finishes first, then we switch on again
    if (this.#closed) return;
    if (this.#warming) return this.#warming;
    if (this.#cooldownUntil !== null) {
      if (this.#clock.now() < this.#cooldownUntil) {
        this.#log.warn({ cooldownUntil: new Date(this.#cooldownUntil).toISOString() }, 'relay: amplifier hit its maximum on-time; not switched on during the cool-down');
        return;
      }
      this.#cooldownUntil = null;
    }
    if (this.#relay.state === 'on') return;
    this.#warming = this.#switchOnAndWarm().finally(() => (this.#warming = null));
    return this.#warming;
  }

  /** Call when a sound has ended (played out, preempted, stopped or failed). */
  soundEnded(): void {
    if (this.#active > 0) this.#active--;
    this.#armIdle();
  }

  /** Stops the timers and closes the relay, which leaves it off. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearIdle();
    this.#clearMaxOn();
    this.#endWarm();
    await this.#ops;
    try {
      await this.#relay.close();
      this.#onSince = null;
      this.#setState('off');
    } catch (err) {
      this.#failed(err, 'off');
    }
  }

  async #switchOnAndWarm(): Promise<void> {
    if (!(await this.#switch('on'))) return;
    this.#onSince = this.#clock.now();
    this.#maxOnTimer = this.#clock.setTimeout(() => void this.#maxOnReached(), this.timing.maxOnMs);
    this.#armIdle(); // the sound may have ended while the relay was switching
    if (this.timing.warmUpMs <= 0) return this.#setState('on');
    this.#setState('warming');
    await new Promise<void>((resolve) => {
      this.#warmDone = resolve;
      this.#warmTimer = this.#clock.setTimeout(() => {
        this.#warmTimer = null;
        if (this.#state === 'warming') this.#setState('on');
        this.#endWarm();
      }, this.timing.warmUpMs);
    });
  }

  async #switchOff(why: 'idle' | 'max-on'): Promise<void> {
    this.#endWarm();
    this.#clearIdle();
    if (!(await this.#switch('off'))) return; // the max-on timer, if armed, tries again
    this.#clearMaxOn();
    this.#onSince = null;
    if (why === 'max-on') {
      this.#fault = 'max-on';
      this.#setState('fault');
    } else {
      this.#setState('off');
    }
  }

  async #maxOnReached(): Promise<void> {
    this.#maxOnTimer = null;
    const onForMs = this.#onSince === null ? null : this.#clock.now() - this.#onSince;
    this.#cooldownUntil = this.#clock.now() + this.timing.cooldownMs;
    this.#log.error({ onForMs, maxOnMs: this.timing.maxOnMs, cooldownMs: this.timing.cooldownMs }, 'relay: amplifier on for its maximum time; switched off and held off for the cool-down');
    await this.#switchOff('max-on');
  }

  /** Runs relay.set after any switch in flight; false (and state 'fault') when it throws. */
  #switch(state: RelayState): Promise<boolean> {
    const run = this.#ops.then(async () => {
      try {
        await this.#relay.set(state);
        return true;
      } catch (err) {
        this.#failed(err, state);
        return false;
      }
    });
    this.#ops = run;
    return run;
  }

  #failed(err: unknown, wanted: RelayState): void {
    this.#log.error({ err, wanted, relay: this.#relay.kind }, 'relay: cannot switch the amplifier; sound goes on regardless');
    this.#fault = 'relay-error';
    this.#setState('fault');
  }

  #armIdle(): void {
    if (this.#closed || this.#active > 0 || this.#relay.state !== 'on' || this.#idleTimer !== null) return;
    this.#idleTimer = this.#clock.setTimeout(() => {
      this.#idleTimer = null;
      if (this.#active === 0) void this.#switchOff('idle');
    }, this.timing.idleOffMs);
  }

  #clearIdle(): void {
    if (this.#idleTimer !== null) this.#clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  #clearMaxOn(): void {
    if (this.#maxOnTimer !== null) this.#clock.clearTimeout(this.#maxOnTimer);
    this.#maxOnTimer = null;
  }

  /** Ends a warm-up early (switch-off, close) or on time: its beforeSound() callers go on. */
  #endWarm(): void {
    if (this.#warmTimer !== null) this.#clock.clearTimeout(this.#warmTimer);
    this.#warmTimer = null;
    const done = this.#warmDone;
    this.#warmDone = null;
    done?.();
  }

  #setState(next: AmplifierState): void {
    const previous = this.#state;
    if (next === previous) return;
    this.#state = next;
    if (next !== 'fault') this.#fault = null;
    this.#log.info({ amplifier: next, previous, fault: next === 'fault' ? this.#fault : undefined }, 'relay: amplifier state changed');
    this.emit('changed', next, previous);
  }
}
