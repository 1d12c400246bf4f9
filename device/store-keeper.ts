import { join } from 'node:path';
import type { Logger } from '../lib/log.js';
import { reasonOf, type LoaError } from '../protocol/errors.js';
import type { LogKind, LogRecord, Telemetry } from '../protocol/payloads.js';
import { DeviceStore, storeFault, type UntrustedStamp } from './store.js';
import { DataDirLock, DiskReserve } from './store-guard.js';

// The agent's data directory and what it records in it, whatever happens to
// the disk (docs/reliability.md): it holds the directory's lock, opens the
// store (set aside when damaged, in memory when not even that is possible),
// gives the headroom back when the disk is full, records events in one
// transaction or in memory, and every few seconds writes back what it held
// once there is room. The agent composes it; rebuilding after damage while
// running needs the agent's target, so the agent does that (onCorrupt).

export interface StoreKeeperDeps {
  data: string;
  outboxMax: number;
  reserveBytes: number;
  now: () => number;
  /** A stamp for records made while the clock is not trusted (null when it is). */
  untrusted: () => UntrustedStamp | null;
  log: Logger;
  /** The disk filled up or has room again: say so (telemetry). */
  changed: () => void;
  /** SQLite reported the file damaged while running. */
  corrupt: (err: LoaError) => void;
  freeBytes: (dir: string) => number;
}

export type RecordItem = { kind: LogKind; data: LogRecord['data']; at?: string };

export class StoreKeeper {
  readonly store: DeviceStore;
  readonly #d: StoreKeeperDeps;
  readonly #lock: DataDirLock;
  readonly #reserve: DiskReserve;
  readonly #startedAt: number;
  /** No store could be written at start (disk full): one in memory, nothing survives a restart. */
  readonly #memory: boolean;

  /** Takes the data directory (LOA_E_DATA_LOCKED when another agent has it) and opens the store. */
  static open(deps: StoreKeeperDeps): StoreKeeper {
    const startedAt = deps.now();
    const lock = DataDirLock.acquire(deps.data);
    try {
      const reserve = new DiskReserve(deps.data, deps.reserveBytes);
      const { store, memory } = openStore(join(deps.data, 'device.sqlite'), deps, reserve, { onFull: () => onFull(deps, reserve), onCorrupt: (err) => deps.corrupt(err) });
      return new StoreKeeper(deps, { store, lock, reserve, startedAt, memory });
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /** Stores what open() made; no I/O. */
  constructor(deps: StoreKeeperDeps, parts: { store: DeviceStore; lock: DataDirLock; reserve: DiskReserve; startedAt: number; memory: boolean }) {
    this.#d = deps;
    this.store = parts.store;
    this.#lock = parts.lock;
    this.#reserve = parts.reserve;
    this.#startedAt = parts.startedAt;
    this.#memory = parts.memory;
  }

  /** Makes the headroom if it is missing (at start). */
  ensureReserve(): void {
    if (!this.#reserve.held && !this.#memory && !this.#reserve.ensure()) this.#d.log.warn({ bytes: this.#reserve.bytes }, 'no room for the store headroom on the disk');
  }

  /**
   * Records events in one transaction with `also.disk` (what the store must
   * hold with them). When the store cannot write (disk full, damaged) the
   * records are kept in memory — sent from there, written when there is
   * room — and `also.memory` runs instead: nothing is lost while the agent
   * runs, and it keeps running. Records made before the clock is trusted
   * carry the monotonic instant they were made at, to be corrected.
   * Returns the records made.
   */
  commit(items: readonly RecordItem[], now: () => string, also?: { disk: () => void; memory: () => void }): LogRecord[] {
    const store = this.store;
    const untrusted = this.#d.untrusted();
    const made: LogRecord[] = [];
    const make = (key: string, it: RecordItem) => ({ key, at: it.at ?? now(), kind: it.kind, data: it.data, ...(untrusted && it.kind === 'emergency-ack' ? { clock: 'untrusted' } : {}) }) as LogRecord;
    const ok = store.commit(
      () => {
        made.length = 0;
        for (const it of items) {
          const r = make(store.nextKey(), it);
          store.enqueue(r, untrusted);
          store.journal(r, untrusted);
          made.push(r);
        }
        also?.disk();
      },
      () => {
        made.length = 0;
        for (const it of items) {
          const r = make(store.nextKeyInMemory(), it);
          store.holdRecord(r, untrusted);
          made.push(r);
        }
        also?.memory();
      },
    );
    if (!ok) this.#d.log.warn({ records: made.length, held: store.heldCount }, 'store cannot write: records kept in memory until the disk has room');
    return made;
  }

  /**
   * Every few seconds: once the disk has room, write what was held in
   * memory (and `also`, what the agent must write back) and make the
   * headroom again. True when it just recovered from a full disk.
   */
  housekeeping(also: () => void = () => {}): boolean {
    if (this.#memory) return false;
    const store = this.store;
    if (!(store.heldCount > 0 || store.health.state === 'full' || !this.#reserve.held)) return false;
    let free = 0;
    try {
      free = this.#d.freeBytes(this.#d.data);
    } catch {
      return false;
    }
    if (free < this.#reserve.bytes + 1024 * 1024) return false;
    const wasFull = store.health.state === 'full';
    if (store.heldCount > 0 || wasFull) store.flushHeld();
    if (store.health.state === 'ok') also();
    if (store.health.state === 'ok' && !this.#reserve.held && this.#reserve.ensure() && wasFull) {
      this.#d.log.info({ freeBytes: free }, 'the disk has room again: records written, store headroom restored');
      return true;
    }
    return false;
  }

  /** How the store is, when it is not simply well (telemetry, the panel); rebuilds are reported for a week. */
  status(): NonNullable<Telemetry['store']> | null {
    const store = this.store;
    const held = store.heldCount;
    if (this.#memory) return { state: 'memory', since: new Date(this.#startedAt).toISOString(), held, detail: 'no store could be written at start: the disk is full' };
    const h = store.health;
    if (h.state !== 'ok' || held > 0) return { state: 'full', since: h.since, held, ...(h.reason ? { detail: h.reason.slice(0, 300) } : {}) };
    const r = store.rebuilt();
    if (r && this.#d.now() - Date.parse(r.at) < 7 * 24 * 3600_000) return { state: 'rebuilt', since: r.at, held, detail: `damaged store kept at ${r.dir}`.slice(0, 300) };
    return null;
  }

  /** Closes the store and lets the data directory go. */
  close(): void {
    try {
      this.store.close();
    } finally {
      this.#lock.release();
    }
  }
}

/** The store found the disk full: release the headroom (the write is tried once more) and say so. */
function onFull(d: StoreKeeperDeps, reserve: DiskReserve): boolean {
  const freed = reserve.release();
  d.log.error({ code: 'LOA_E_STORE_FULL', freed }, freed ? 'the disk is full: store headroom released; recording goes on' : 'the disk is full and the headroom is used up: records wait in memory');
  queueMicrotask(() => d.changed());
  return freed;
}

/** Opens the store; a damaged one is set aside, and on a full disk the headroom is given back or the store lives in memory. */
function openStore(file: string, d: StoreKeeperDeps, reserve: DiskReserve, on: { onFull: () => boolean; onCorrupt: (err: LoaError) => void }): { store: DeviceStore; memory: boolean } {
  const log = d.log;
  const opts = { outboxMax: d.outboxMax, now: d.now, ...on };
  const open = () => {
    const r = DeviceStore.open(file, opts);
    if (r.quarantined) log.error({ code: 'LOA_E_STORE_CORRUPT', quarantined: r.quarantined.dir, reason: r.quarantined.reason }, 'device store was damaged: set aside for the technician; starting afresh and resyncing from the province');
    return r.store;
  };
  try {
    return { store: open(), memory: false };
  } catch (e) {
    if (storeFault(e) !== 'full') throw e;
    if (reserve.release()) {
      log.error({ code: 'LOA_E_STORE_FULL' }, 'the disk is full: store headroom released to open the store');
      try {
        return { store: open(), memory: false };
      } catch (e2) {
        if (storeFault(e2) !== 'full') throw e2;
      }
    }
    log.error({ code: 'LOA_E_STORE_FULL', err: reasonOf(e) }, 'the disk is full: running with a store in memory (emergencies still sound; nothing survives a restart)');
    return { store: new DeviceStore(':memory:', opts), memory: true };
  }
}
