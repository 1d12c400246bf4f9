import { randomUUID } from 'node:crypto';
import type { Logger } from '../lib/log.js';
import type { LogAck } from '../protocol/payloads.js';
import type { DeviceStore } from './store.js';

// Sends the outbox in batches, highest priority first, and deletes a record
// only when the province's `log/ack` names its key (an application ack, not
// PUBACK: PUBACK only says the broker has it). A batch that is not
// acknowledged in time is sent again under a new batch id; the province
// deduplicates by key, so a record is stored exactly once however often it
// travels.

export interface OutboxSenderDeps {
  store: DeviceStore;
  publish: (payload: Buffer) => Promise<void>;
  connected: () => boolean;
  batchSize: number;
  ackTimeoutMs: number;
  log: Logger;
}

export class OutboxSender {
  readonly #d: OutboxSenderDeps;
  #running = false;
  #stopped = false;
  #waiting: { batch: string; keys: Set<string>; resolve: (ok: boolean) => void } | null = null;
  #failures = 0;
  sentBatches = 0;

  constructor(deps: OutboxSenderDeps) {
    this.#d = deps;
  }

  /** Starts sending if there is anything to send and nothing is under way. */
  kick(): void {
    if (this.#running || this.#stopped || !this.#d.connected()) return;
    this.#running = true;
    void this.#loop().finally(() => (this.#running = false));
  }

  stop(): void {
    this.#stopped = true;
    this.#waiting?.resolve(false);
  }

  /** The link went down: stop waiting for an ack that may never come; the batch goes again later. */
  onLinkDown(): void {
    this.#waiting?.resolve(false);
  }

  onAck(ack: LogAck): void {
    const deleted = this.#d.store.acknowledge(ack.stored);
    this.#d.log.debug({ batch: ack.batch, acked: ack.stored.length, deleted }, 'outbox records acknowledged');
    if (this.#waiting && this.#waiting.batch === ack.batch) this.#waiting.resolve(true);
  }

  async #loop(): Promise<void> {
    while (!this.#stopped && this.#d.connected()) {
      const records = this.#d.store.pending(this.#d.batchSize);
      if (!records.length) return;
      const batch = randomUUID();
      const acked = new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), this.#d.ackTimeoutMs);
        this.#waiting = {
          batch,
          keys: new Set(records.map((r) => r.key)),
          resolve: (ok) => {
            clearTimeout(t);
            resolve(ok);
          },
        };
      });
      try {
        await this.#d.publish(Buffer.from(JSON.stringify({ batch, records })));
        this.sentBatches++;
      } catch (e) {
        this.#waiting?.resolve(false);
        this.#d.log.debug({ err: e }, 'outbox batch not sent');
      }
      const ok = await acked;
      this.#waiting = null;
      if (ok) {
        this.#failures = 0;
        continue;
      }
      this.#failures++;
      if (!this.#d.connected()) return;
      // No ack in time with the link up: the province may be down. Back off, up to a minute.
      const pause = Math.min(60_000, 1000 * 2 ** Math.min(this.#failures, 6));
      this.#d.log.warn({ batch, records: records.length, pauseMs: pause }, 'outbox batch not acknowledged; will send again');
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
