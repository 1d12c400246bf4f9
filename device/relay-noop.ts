import type { Logger } from '../lib/log.js';
import type { Relay, RelayState } from './relay-types.js';

// For machines without GPIO (a laptop, a VM, a Pi whose amplifier is wired
// always-on): remembers the state and logs each switch, so the timing policy
// can still be followed in the logs.

export class NoopRelay implements Relay {
  readonly kind = 'noop';
  readonly #log: Logger;
  #state: RelayState = 'off';
  #closed = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  get state(): RelayState {
    return this.#state;
  }

  async set(state: RelayState): Promise<void> {
    if (this.#closed) throw new Error('relay: set() after close()');
    if (state === this.#state) return;
    this.#state = state;
    this.#log.info({ relay: state }, 'no GPIO: amplifier relay simulated');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.set('off');
    this.#closed = true;
  }
}
