import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { openDatabase, type Db } from '../lib/sqlite.js';
import { LoaError, isLoaError } from '../protocol/errors.js';
import { quarantineStore } from './store-guard.js';
import type { AssetRef, LogKind, LogRecord } from '../protocol/payloads.js';

// The agent's SQLite file: the last valid target state, the asset index, the
// progress of partial downloads, the outbox, emergency ids already seen and
// local settings. synchronous=FULL: a lost write here is a lost command or a
// lost report, and the writes are few.
//
// INVARIANT: an `assets` row exists only for a complete file whose sha256 was
// verified and which was fsynced and renamed into place before the row was
// written (device/asset-files.ts).
//
// The store never decides whether the agent can sound an emergency
// (DESIGN.md, docs/reliability.md): a write that fails because the disk is
// full first has the headroom released (device/store-guard.ts) and is tried
// once more; if it still fails it is a LOA_E_STORE_FULL, and the callers that
// must not lose anything (records, plan items done, emergencies seen) keep
// it in memory (commit()) until the disk has room again. A damaged file is a
// LOA_E_STORE_CORRUPT: the agent sets it aside and rebuilds (store-guard.ts).

const MIGRATIONS = [
  `
  CREATE TABLE target (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    envelope TEXT NOT NULL,
    received_at TEXT NOT NULL,
    applied_at TEXT
  );
  CREATE TABLE assets (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mime TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    reserve INTEGER NOT NULL DEFAULT 0,
    stored_at TEXT NOT NULL
  );
  CREATE TABLE partials (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL,
    verified_bytes INTEGER NOT NULL
  );
  CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    record TEXT NOT NULL
  );
  CREATE INDEX outbox_priority ON outbox(priority, seq);
  CREATE TABLE outbox_dropped (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
  CREATE TABLE seen_emergencies (id TEXT PRIMARY KEY, seen_at TEXT NOT NULL, expires_at TEXT NOT NULL);
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  `
  -- Plan items already started, refused or missed: nothing is played twice, even across restarts and clock jumps.
  CREATE TABLE plan_done (key TEXT PRIMARY KEY, at TEXT NOT NULL);
  `,
  `
  -- The device's own journal of plays and operator actions, for the local panel: the outbox forgets
  -- a record once the province has it; this keeps the last JOURNAL_MAX whatever the link does.
  CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, record TEXT NOT NULL);
  `,
  `
  -- What the arbiter holds (waiting, playing, suspended), so a play cut by a crash or a power cut is
  -- reported as interrupted or resumed after the restart (device/recovery-plays.ts), never lost.
  CREATE TABLE inflight (
    id TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    phase TEXT NOT NULL,
    first_started_at TEXT,
    offset_ms INTEGER NOT NULL DEFAULT 0,
    progress_at TEXT,
    interrupted_by TEXT
  );
  -- Emergencies received and not yet over (finished, cancelled, refused), with what it takes to judge them again after a restart.
  CREATE TABLE emergency_active (id TEXT PRIMARY KEY, command TEXT NOT NULL, received_mono REAL NOT NULL, boot TEXT NOT NULL, time_checked TEXT NOT NULL);
  -- Records stamped before the clock was trusted: the monotonic instant and boot they were made in, to correct their times once it is.
  ALTER TABLE outbox ADD COLUMN untrusted_mono REAL;
  ALTER TABLE outbox ADD COLUMN untrusted_boot TEXT;
  ALTER TABLE journal ADD COLUMN untrusted_mono REAL;
  ALTER TABLE journal ADD COLUMN untrusted_boot TEXT;
  `,
];

/** When a record was made with an untrusted clock: the monotonic instant (ms, CLOCK_MONOTONIC) and the boot it was made in. */
export interface UntrustedStamp {
  mono: number;
  boot: string;
}

/** A request the arbiter held when last written (device/playback.ts keeps this table in step). */
export interface InflightRow {
  id: string;
  /** The PlayRequest, as JSON. */
  request: string;
  phase: 'waiting' | 'playing' | 'suspended';
  firstStartedAt: string | null;
  offsetMs: number;
  progressAt: string | null;
  interruptedBy: string | null;
}

export interface ActiveEmergencyRow {
  id: string;
  /** The verified command, as JSON. */
  command: string;
  receivedMono: number;
  boot: string;
  /** How its time was judged when admitted: 'clock' (trusted), 'floor' (only against a time known to have passed), 'held' (not judged yet). */
  timeChecked: 'clock' | 'floor' | 'held';
}

export interface StoreHealth {
  state: 'ok' | 'full' | 'failed';
  since: string | null;
  reason: string | null;
}

export interface DeviceStoreOptions {
  outboxMax: number;
  /** Called when a write finds the disk full: release headroom; true when some was freed (the write is tried once more). */
  onFull?: () => boolean;
  /** Called when SQLite reports the file damaged while the agent runs. */
  onCorrupt?: (err: LoaError) => void;
  now?: () => number;
}

const FULL_CODES = new Set(['SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_FSYNC', 'SQLITE_IOERR_SHMSIZE', 'SQLITE_IOERR_TRUNCATE']);
const CORRUPT_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB']);

/** What a SQLite failure means for the agent: the disk is full, the file is damaged, or something else. */
export function storeFault(e: unknown): 'full' | 'corrupt' | null {
  if (isLoaError(e, 'LOA_E_STORE_FULL')) return 'full';
  if (isLoaError(e, 'LOA_E_STORE_CORRUPT')) return 'corrupt';
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== 'string') return null;
  if (FULL_CODES.has(code) || code === 'ENOSPC') return 'full';
  if (CORRUPT_CODES.has(code)) return 'corrupt';
  return null;
}

/** Records kept in the local journal (about a month of a busy village). */
export const JOURNAL_MAX = 5000;

/**
 * Sending order of outbox records: emergency acks first. Dropping, when the
 * outbox is full, goes the other way: metrics first, then play logs, then
 * operator actions, emergency acks last.
 */
export const OUTBOX_PRIORITY: Record<LogKind, number> = { 'emergency-ack': 0, operator: 1, play: 2, metric: 3 };

export interface StoredTarget {
  version: number;
  envelope: string;
  receivedAt: string;
  appliedAt: string | null;
}

export interface AssetRow {
  sha256: string;
  size: number;
  mime: AssetRef['mime'];
  durationMs: number;
  reserve: boolean;
}

export interface PartialRow {
  sha256: string;
  size: number;
  chunkSize: number;
  verifiedBytes: number;
}

export class DeviceStore {
  readonly file: string;
  readonly #outboxMax: number;
  readonly #opts: DeviceStoreOptions;
  readonly #seq: { n: number };
  #installId: string;
  #rebuilt: { at: string; dir: string; reason: string } | null = null;
  db: Db;
  /**
   * Download progress goes through a second connection with synchronous=NORMAL:
   * a progress row lost in a power cut only means re-fetching a few chunks,
   * and the partial file is fsynced before its row is written, so a row never
   * claims bytes that are not on disk. Everything else commits with FULL.
   */
  #progress: Db;
  #saveProgress: Database.Statement;
  #depth = 0;
  #health: StoreHealth = { state: 'ok', since: null, reason: null };
  /** Records that could not be written (disk full): sent from here, written when there is room (flushHeld()). */
  #held = new Map<string, { record: LogRecord; untrusted: UntrustedStamp | null }>();
  /** Plan items done and emergencies seen that could not be written: remembered here meanwhile. */
  #heldDone = new Map<string, string>();
  #heldSeen = new Map<string, { at: string; expiresAt: string }>();

  constructor(file: string, opts: DeviceStoreOptions) {
    this.file = file;
    this.#opts = opts;
    this.#outboxMax = opts.outboxMax;
    const o = DeviceStore.#openFile(file);
    this.db = o.db;
    this.#progress = o.progress;
    this.#saveProgress = o.saveProgress;
    this.#seq = { n: o.seq };
    this.#installId = o.installId;
  }

  /**
   * Opens the store at `file`; a damaged one (LOA_E_STORE_CORRUPT) is moved
   * to quarantine/ (device/store-guard.ts) and a fresh store started, which
   * remembers why (rebuilt()).
   */
  static open(file: string, opts: DeviceStoreOptions): { store: DeviceStore; quarantined: { dir: string; reason: string } | null } {
    try {
      return { store: new DeviceStore(file, opts), quarantined: null };
    } catch (e) {
      if (!isLoaError(e, 'LOA_E_STORE_CORRUPT')) throw e;
      const dir = quarantineStore(file);
      const store = new DeviceStore(file, opts);
      store.#noteRebuilt(dir, e.message);
      return { store, quarantined: { dir, reason: e.message } };
    }
  }

  static #openFile(file: string): { db: Db; progress: Db; saveProgress: Database.Statement; seq: number; installId: string } {
    let db: Db;
    try {
      db = openDatabase(file, { synchronous: 'FULL', migrations: MIGRATIONS, what: 'device store' });
    } catch (e) {
      throw asStoreError(e, file);
    }
    let progress: Db | null = null;
    try {
      // A file SQLite opens may still be damaged inside (a truncated or scribbled page): look before trusting it.
      const check = db.pragma('quick_check(5)', { simple: true }) as string;
      if (check !== 'ok') throw new LoaError('LOA_E_STORE_CORRUPT', `device store ${file} is damaged: ${check.replace(/\s+/g, ' ').slice(0, 300)}`, { context: { file } });
      db.pragma('temp_store = MEMORY'); // sorting needs no temporary files on a full disk
      progress = openDatabase(file, { synchronous: 'NORMAL', migrations: MIGRATIONS, what: 'device store' });
      const saveProgress = progress.prepare('INSERT INTO partials (sha256, size, chunk_size, verified_bytes) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, chunk_size = excluded.chunk_size, verified_bytes = excluded.verified_bytes');
      const get = (k: string) => (db.prepare('SELECT value FROM settings WHERE key = ?').get(k) as { value: string } | undefined)?.value ?? null;
      const last = get('record_seq');
      let installId = get('install_id');
      if (!installId) {
        installId = randomBytes(4).toString('hex');
        db.prepare("INSERT INTO settings (key, value) VALUES ('install_id', ?)").run(installId);
      }
      return { db, progress, saveProgress, seq: last ? Number(last) : 0, installId };
    } catch (e) {
      progress?.close();
      db.close();
      throw asStoreError(e, file);
    }
  }

  /** Random per store file: a re-imaged SD card (or a rebuilt store) starts a new key space instead of reusing old keys. */
  get installId(): string {
    return this.#installId;
  }

  /**
   * The store went bad while the agent ran (LOA_E_STORE_CORRUPT): set the
   * file aside and start a fresh one in its place. What is held in memory
   * stays and is written to the new store; the agent then writes its target
   * again and adopts the asset files it still has (device/agent.ts).
   */
  rebuild(reason: string): string {
    try {
      this.close();
    } catch {
      // closing a damaged file may fail; it is set aside all the same
    }
    const dir = quarantineStore(this.file);
    const o = DeviceStore.#openFile(this.file);
    this.db = o.db;
    this.#progress = o.progress;
    this.#saveProgress = o.saveProgress;
    // Keys go on from where this process was: the province keeps ordering them (new install id, fresh counter from here).
    this.#seq.n = Math.max(o.seq, this.#seq.n);
    this.#installId = o.installId;
    this.#noteRebuilt(dir, reason);
    this.#setHealth('ok', null);
    return dir;
  }

  #noteRebuilt(dir: string, reason: string): void {
    const at = new Date(this.#opts.now?.() ?? Date.now()).toISOString();
    this.#rebuilt = { at, dir, reason: reason.slice(0, 300) };
    try {
      this.setSetting('store_rebuilt', JSON.stringify(this.#rebuilt));
    } catch {
      // a full disk: remembered in memory
    }
  }

  /** When the store was last set aside and started afresh, where the damaged file went and why; null if never (on this file). */
  rebuilt(): { at: string; dir: string; reason: string } | null {
    if (this.#rebuilt) return this.#rebuilt;
    const v = this.setting('store_rebuilt');
    if (!v) return null;
    try {
      return (this.#rebuilt = JSON.parse(v) as { at: string; dir: string; reason: string });
    } catch {
      return null;
    }
  }

  close(): void {
    try {
      this.#progress.close();
    } finally {
      this.db.close();
    }
  }

  /** Whether the store writes to disk ('ok'), keeps some of what it should write in memory ('full'), or is damaged ('failed'). */
  get health(): StoreHealth {
    return { ...this.#health };
  }

  /** How many records, plan items and emergency ids wait in memory for room on the disk. */
  get heldCount(): number {
    return this.#held.size + this.#heldDone.size + this.#heldSeen.size;
  }

  #setHealth(state: StoreHealth['state'], reason: string | null): void {
    if (this.#health.state === state && this.#health.reason === reason) return;
    this.#health = { state, since: new Date(this.#opts.now?.() ?? Date.now()).toISOString(), reason };
  }

  /**
   * Runs a store operation. Only the outermost call is guarded (an inner
   * failure aborts the whole transaction, which is what is tried again):
   * disk full → release headroom and try once more → LOA_E_STORE_FULL;
   * damaged → LOA_E_STORE_CORRUPT (and onCorrupt).
   */
  #guard<T>(fn: () => T): T {
    if (this.#depth > 0) return fn();
    this.#depth++;
    try {
      try {
        return fn();
      } catch (e) {
        if (storeFault(e) === 'full' && this.#opts.onFull?.()) return fn();
        throw e;
      }
    } catch (e) {
      const err = asStoreError(e, this.file);
      if (err.code === 'LOA_E_STORE_FULL') this.#setHealth('full', err.message);
      else if (err.code === 'LOA_E_STORE_CORRUPT') {
        this.#setHealth('failed', err.message);
        this.#opts.onCorrupt?.(err);
      }
      throw err;
    } finally {
      this.#depth--;
    }
  }

  /** Runs `fn` in one IMMEDIATE transaction: an event and its outbox record commit together or not at all. */
  tx<T>(fn: () => T): T {
    return this.#guard(() => this.db.transaction(fn).immediate());
  }

  /**
   * Writes in one transaction, or, when the disk is full or the store
   * damaged, runs `memory` instead (keeping in memory what must not be
   * lost) and returns false. Other errors are thrown.
   */
  commit(fn: () => void, memory: () => void): boolean {
    try {
      this.tx(fn);
      return true;
    } catch (e) {
      if (storeFault(e) === null) throw e;
      memory();
      return false;
    }
  }

  /** A read that must not stop the agent: on a damaged or unreadable store it gives `fallback`. */
  #read<T>(fn: () => T, fallback: T): T {
    try {
      return this.#guard(fn);
    } catch (e) {
      if (storeFault(e) === null) throw e;
      return fallback;
    }
  }

  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  /**
   * Writes what was kept in memory while the disk was full; true when all of
   * it is on disk now (and the store is healthy again).
   */
  flushHeld(): boolean {
    if (this.#health.state === 'failed') return false;
    const held = [...this.#held.values()];
    const done = [...this.#heldDone];
    const seen = [...this.#heldSeen];
    const ok = this.commit(
      () => {
        const present = this.db.prepare('SELECT 1 FROM outbox WHERE key = ?');
        for (const h of held) if (!present.get(h.record.key)) this.#insertRecord(h.record, h.untrusted);
        for (const [k, at] of done) this.db.prepare('INSERT OR IGNORE INTO plan_done (key, at) VALUES (?, ?)').run(k, at);
        for (const [id, v] of seen) this.db.prepare('INSERT OR IGNORE INTO seen_emergencies (id, seen_at, expires_at) VALUES (?, ?, ?)').run(id, v.at, v.expiresAt);
        this.db.prepare("INSERT INTO settings (key, value) VALUES ('record_seq', ?) ON CONFLICT (key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))").run(String(this.#seq.n));
      },
      () => {},
    );
    if (!ok) return false;
    for (const h of held) this.#held.delete(h.record.key);
    for (const [k] of done) this.#heldDone.delete(k);
    for (const [id] of seen) this.#heldSeen.delete(id);
    this.#setHealth('ok', null);
    return true;
  }

  // ------------------------------------------------------------- target

  target(): StoredTarget | null {
    const r = this.#read(() => this.db.prepare('SELECT version, envelope, received_at AS receivedAt, applied_at AS appliedAt FROM target WHERE id = 1').get() as StoredTarget | undefined, undefined);
    return r ?? null;
  }

  saveTarget(version: number, envelope: string, at: string): void {
    this.#guard(() => this.db.prepare('INSERT INTO target (id, version, envelope, received_at, applied_at) VALUES (1, ?, ?, ?, NULL) ON CONFLICT (id) DO UPDATE SET version = excluded.version, envelope = excluded.envelope, received_at = excluded.received_at, applied_at = NULL').run(version, envelope, at));
  }

  markApplied(version: number, at: string): void {
    this.#guard(() => this.db.prepare('UPDATE target SET applied_at = ? WHERE id = 1 AND version = ?').run(at, version));
  }

  // ------------------------------------------------------------- assets

  assets(): AssetRow[] {
    return this.#read(() => (this.db.prepare('SELECT sha256, size, mime, duration_ms AS durationMs, reserve FROM assets').all() as (Omit<AssetRow, 'reserve'> & { reserve: number })[]).map((r) => ({ ...r, reserve: r.reserve === 1 })), []);
  }

  asset(sha256: string): AssetRow | null {
    const r = this.#read(() => this.db.prepare('SELECT sha256, size, mime, duration_ms AS durationMs, reserve FROM assets WHERE sha256 = ?').get(sha256) as (Omit<AssetRow, 'reserve'> & { reserve: number }) | undefined, undefined);
    return r ? { ...r, reserve: r.reserve === 1 } : null;
  }

  addAsset(a: AssetRef, at: string): void {
    this.#guard(() => {
      this.db.prepare('INSERT INTO assets (sha256, size, mime, duration_ms, reserve, stored_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET reserve = excluded.reserve').run(a.sha256, a.size, a.mime, a.durationMs, a.reserve ? 1 : 0, at);
      this.db.prepare('DELETE FROM partials WHERE sha256 = ?').run(a.sha256);
    });
  }

  removeAsset(sha256: string): void {
    this.#guard(() => this.db.prepare('DELETE FROM assets WHERE sha256 = ?').run(sha256));
  }

  storedBytes(): number {
    return this.#read(() => (this.db.prepare('SELECT COALESCE(SUM(size), 0) AS n FROM assets').get() as { n: number }).n, 0);
  }

  partial(sha256: string): PartialRow | null {
    const r = this.#read(() => this.db.prepare('SELECT sha256, size, chunk_size AS chunkSize, verified_bytes AS verifiedBytes FROM partials WHERE sha256 = ?').get(sha256) as PartialRow | undefined, undefined);
    return r ?? null;
  }

  partials(): PartialRow[] {
    return this.#read(() => this.db.prepare('SELECT sha256, size, chunk_size AS chunkSize, verified_bytes AS verifiedBytes FROM partials').all() as PartialRow[], []);
  }

  savePartial(p: PartialRow): void {
    this.#guard(() => this.#saveProgress.run(p.sha256, p.size, p.chunkSize, p.verifiedBytes));
  }

  removePartial(sha256: string): void {
    this.#guard(() => this.db.prepare('DELETE FROM partials WHERE sha256 = ?').run(sha256));
  }

  // ------------------------------------------------------------- outbox

  #key(n: number): string {
    return `${this.installId}:${String(n).padStart(10, '0')}`;
  }

  /** A unique, ordered idempotency key for a new record: `<install id>:<counter>`. Call inside a transaction. */
  nextKey(): string {
    this.#seq.n += 1;
    this.db.prepare("INSERT INTO settings (key, value) VALUES ('record_seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(this.#seq.n));
    return this.#key(this.#seq.n);
  }

  /** A key for a record kept in memory (the disk is full): the counter is written with the next record that reaches the disk. */
  nextKeyInMemory(): string {
    this.#seq.n += 1;
    return this.#key(this.#seq.n);
  }

  /**
   * Adds a record; when the outbox is full, first drops the lowest-priority,
   * oldest record whose priority is not above the new one's, and counts the
   * drop. Returns false when the new record itself had to be dropped.
   * Call inside the transaction that records the event itself.
   * `untrusted`: made before the clock was trusted; held back (emergency acks
   * excepted) until correctUntrusted() has set its times right.
   */
  enqueue(record: LogRecord, untrusted: UntrustedStamp | null = null): boolean {
    const priority = OUTBOX_PRIORITY[record.kind];
    const count = (this.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
    if (count >= this.#outboxMax) {
      const victim = this.db.prepare('SELECT seq, kind FROM outbox WHERE priority >= ? ORDER BY priority DESC, seq ASC LIMIT 1').get(priority) as { seq: number; kind: string } | undefined;
      if (!victim) {
        this.#countDrop(record.kind);
        return false;
      }
      this.db.prepare('DELETE FROM outbox WHERE seq = ?').run(victim.seq);
      this.#countDrop(victim.kind);
    }
    this.db.prepare('INSERT INTO outbox (key, kind, priority, record, untrusted_mono, untrusted_boot) VALUES (?, ?, ?, ?, ?, ?)').run(record.key, record.kind, priority, JSON.stringify(record), untrusted?.mono ?? null, untrusted?.boot ?? null);
    return true;
  }

  #insertRecord(record: LogRecord, untrusted: UntrustedStamp | null): void {
    this.enqueue(record, untrusted);
    this.journal(record, untrusted);
  }

  /** Keeps a record in memory when it cannot be written (commit()'s memory path): sent from there, written by flushHeld(). */
  holdRecord(record: LogRecord, untrusted: UntrustedStamp | null = null): void {
    this.#held.set(record.key, { record, untrusted });
    // Bounded like the outbox: the oldest lowest-priority records go first.
    if (this.#held.size > this.#outboxMax) {
      const victim = [...this.#held.values()].sort((a, b) => OUTBOX_PRIORITY[b.record.kind] - OUTBOX_PRIORITY[a.record.kind])[0]!;
      this.#held.delete(victim.record.key);
    }
  }

  /** Keeps a record in the local journal (plays and operator actions), trimmed to JOURNAL_MAX. Call inside the record's transaction. */
  journal(record: LogRecord, untrusted: UntrustedStamp | null = null): void {
    if (record.kind !== 'play' && record.kind !== 'operator') return;
    const r = this.db.prepare('INSERT INTO journal (kind, record, untrusted_mono, untrusted_boot) VALUES (?, ?, ?, ?)').run(record.kind, JSON.stringify(record), untrusted?.mono ?? null, untrusted?.boot ?? null);
    const seq = Number(r.lastInsertRowid);
    if (seq % 100 === 0) this.db.prepare('DELETE FROM journal WHERE seq <= ?').run(seq - JOURNAL_MAX);
  }

  /** The newest journal records first (with those held in memory). */
  recentJournal(limit: number, kind?: 'play' | 'operator'): LogRecord[] {
    const rows = this.#read(() => (kind ? this.db.prepare('SELECT record FROM journal WHERE kind = ? ORDER BY seq DESC LIMIT ?').all(kind, limit) : this.db.prepare('SELECT record FROM journal ORDER BY seq DESC LIMIT ?').all(limit)) as { record: string }[], []);
    const held = [...this.#held.values()].map((h) => h.record).filter((r) => (kind ? r.kind === kind : r.kind === 'play' || r.kind === 'operator')).reverse();
    return [...held, ...rows.map((r) => JSON.parse(r.record) as LogRecord)].slice(0, limit);
  }

  #countDrop(kind: string): void {
    this.db.prepare('INSERT INTO outbox_dropped (kind, count) VALUES (?, 1) ON CONFLICT (kind) DO UPDATE SET count = count + 1').run(kind);
  }

  /**
   * The next records to send, highest priority first, oldest first within a
   * priority; records held in memory among them. Records with uncorrected
   * times wait, except emergency acks (the province orders those by key).
   */
  pending(limit: number): LogRecord[] {
    const rows = this.#read(() => (this.db.prepare("SELECT record FROM outbox WHERE untrusted_mono IS NULL OR kind = 'emergency-ack' ORDER BY priority ASC, seq ASC LIMIT ?").all(limit) as { record: string }[]).map((r) => JSON.parse(r.record) as LogRecord), []);
    const held = [...this.#held.values()].filter((h) => !h.untrusted || h.record.kind === 'emergency-ack').map((h) => h.record);
    if (!held.length) return rows;
    return [...rows, ...held].sort((a, b) => OUTBOX_PRIORITY[a.kind] - OUTBOX_PRIORITY[b.kind] || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).slice(0, limit);
  }

  outboxSize(): number {
    return this.#read(() => (this.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n, 0) + this.#held.size;
  }

  /** Deletes exactly the records the province says it stored (from the disk and from memory). */
  acknowledge(keys: readonly string[]): number {
    let n = 0;
    for (const k of keys) if (this.#held.delete(k)) n++;
    const del = this.db.prepare('DELETE FROM outbox WHERE key = ?');
    try {
      n += this.tx(() => keys.reduce((m, k) => m + del.run(k).changes, 0));
    } catch (e) {
      // Deleting needs a little room too: the records go again later and the province stores each once.
      if (storeFault(e) === null) throw e;
    }
    return n;
  }

  dropped(): Record<string, number> {
    return Object.fromEntries(this.#read(() => this.db.prepare('SELECT kind, count FROM outbox_dropped').all() as { kind: string; count: number }[], []).map((r) => [r.kind, r.count]));
  }

  /**
   * The clock became trusted: records made before it, in this boot, get
   * their times corrected (`toTime` maps a monotonic instant to the trusted
   * time) and are released for sending. Records of another boot cannot be:
   * they are released marked `clock: 'untrusted'`, so reports know.
   */
  correctUntrusted(boot: string, toTime: (mono: number) => number): number {
    let n = 0;
    const fix = (json: string, mono: number | null, recBoot: string | null): string => {
      const r = JSON.parse(json) as LogRecord & { clock?: string };
      if (recBoot === boot && mono !== null) {
        const delta = Math.round(toTime(mono) - Date.parse(r.at));
        shiftRecord(r, delta);
        delete r.clock;
      } else r.clock = 'untrusted';
      n++;
      return JSON.stringify(r);
    };
    for (const [k, h] of this.#held) if (h.untrusted) this.#held.set(k, { record: JSON.parse(fix(JSON.stringify(h.record), h.untrusted.mono, h.untrusted.boot)) as LogRecord, untrusted: null });
    this.commit(() => {
      for (const table of ['outbox', 'journal'] as const) {
        const id = table === 'outbox' ? 'seq' : 'seq';
        const rows = this.db.prepare(`SELECT ${id} AS id, record, untrusted_mono AS mono, untrusted_boot AS boot FROM ${table} WHERE untrusted_boot IS NOT NULL`).all() as { id: number; record: string; mono: number | null; boot: string | null }[];
        const upd = this.db.prepare(`UPDATE ${table} SET record = ?, untrusted_mono = NULL, untrusted_boot = NULL WHERE ${id} = ?`);
        for (const r of rows) upd.run(fix(r.record, r.mono, r.boot), r.id);
      }
    }, () => {});
    return n;
  }

  /** Records made with an untrusted clock in another boot than `boot`: they can never be corrected, so they go marked as such. */
  releaseOtherBoots(boot: string): number {
    let n = 0;
    this.commit(() => {
      for (const table of ['outbox', 'journal'] as const) {
        const rows = this.db.prepare(`SELECT seq, record FROM ${table} WHERE untrusted_boot IS NOT NULL AND untrusted_boot != ?`).all(boot) as { seq: number; record: string }[];
        for (const r of rows) {
          const rec = JSON.parse(r.record) as LogRecord & { clock?: string };
          rec.clock = 'untrusted';
          this.db.prepare(`UPDATE ${table} SET record = ?, untrusted_mono = NULL, untrusted_boot = NULL WHERE seq = ?`).run(JSON.stringify(rec), r.seq);
          n++;
        }
      }
    }, () => {});
    return n;
  }

  // ------------------------------------------------------------ plan items

  planDone(key: string): boolean {
    return this.#heldDone.has(key) || this.#read(() => !!this.db.prepare('SELECT 1 FROM plan_done WHERE key = ?').get(key), false);
  }

  /** Never throws for a full or damaged store: the item is then remembered in memory, so it is still done once. */
  markPlanDone(key: string, at: string): void {
    this.commit(
      () => this.db.prepare('INSERT OR IGNORE INTO plan_done (key, at) VALUES (?, ?)').run(key, at),
      () => this.#heldDone.set(key, at),
    );
  }

  /** Forgets plan items older than `before` (ISO); keys carry their date, so old ones can never come back. */
  prunePlanDone(before: string): void {
    this.commit(() => this.db.prepare('DELETE FROM plan_done WHERE at < ?').run(before), () => {});
  }

  // ------------------------------------------------ emergencies, settings

  hasSeenEmergency(id: string): boolean {
    return this.#heldSeen.has(id) || this.#read(() => !!this.db.prepare('SELECT 1 FROM seen_emergencies WHERE id = ?').get(id), false);
  }

  markEmergencySeen(id: string, at: string, expiresAt: string): void {
    this.db.prepare('INSERT OR IGNORE INTO seen_emergencies (id, seen_at, expires_at) VALUES (?, ?, ?)').run(id, at, expiresAt);
  }

  /** The memory path of markEmergencySeen() (disk full). */
  holdEmergencySeen(id: string, at: string, expiresAt: string): void {
    this.#heldSeen.set(id, { at, expiresAt });
  }

  activeEmergencies(): ActiveEmergencyRow[] {
    return this.#read(() => this.db.prepare('SELECT id, command, received_mono AS receivedMono, boot, time_checked AS timeChecked FROM emergency_active').all() as ActiveEmergencyRow[], []);
  }

  /** Call inside a transaction. */
  setActiveEmergency(r: ActiveEmergencyRow): void {
    this.db.prepare('INSERT INTO emergency_active (id, command, received_mono, boot, time_checked) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET time_checked = excluded.time_checked').run(r.id, r.command, r.receivedMono, r.boot, r.timeChecked);
  }

  /** Call inside a transaction. */
  removeActiveEmergency(id: string): void {
    this.db.prepare('DELETE FROM emergency_active WHERE id = ?').run(id);
  }

  // ---------------------------------------------------------- in flight

  inflight(): InflightRow[] {
    return this.#read(() => this.db.prepare('SELECT id, request, phase, first_started_at AS firstStartedAt, offset_ms AS offsetMs, progress_at AS progressAt, interrupted_by AS interruptedBy FROM inflight').all() as InflightRow[], []);
  }

  /** Makes the table hold exactly `rows`. Call inside a transaction (with the records of the same decision). */
  setInflight(rows: readonly InflightRow[]): void {
    const keep = new Set(rows.map((r) => r.id));
    for (const { id } of this.db.prepare('SELECT id FROM inflight').all() as { id: string }[]) if (!keep.has(id)) this.db.prepare('DELETE FROM inflight WHERE id = ?').run(id);
    const up = this.db.prepare('INSERT INTO inflight (id, request, phase, first_started_at, offset_ms, progress_at, interrupted_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET request = excluded.request, phase = excluded.phase, first_started_at = excluded.first_started_at, offset_ms = excluded.offset_ms, progress_at = excluded.progress_at, interrupted_by = excluded.interrupted_by');
    for (const r of rows) up.run(r.id, r.request, r.phase, r.firstStartedAt, r.offsetMs, r.progressAt, r.interruptedBy);
  }

  setting(key: string): string | null {
    const r = this.#read(() => this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined, undefined);
    return r?.value ?? null;
  }

  setSetting(key: string, value: string): void {
    this.#guard(() => this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value));
  }
}

/** Moves every instant of a record by `deltaMs` (its stamp, a play's start and end). */
function shiftRecord(r: LogRecord, deltaMs: number): void {
  const move = (iso: string) => new Date(Date.parse(iso) + deltaMs).toISOString();
  r.at = move(r.at);
  if (r.kind === 'play') {
    r.data.start = move(r.data.start);
    if (r.data.end) r.data.end = move(r.data.end);
  }
}

/** A SQLite failure as the coded error the agent acts on (full, corrupt), or the error itself. */
export function asStoreError(e: unknown, file: string): LoaError {
  if (isLoaError(e)) return e;
  const fault = storeFault(e);
  const code = (e as { code?: string })?.code;
  if (fault === 'full') return new LoaError('LOA_E_STORE_FULL', `device store ${file} cannot write: ${(e as Error).message} (${code})`, { cause: e, context: { file, sqlite: code } });
  if (fault === 'corrupt') return new LoaError('LOA_E_STORE_CORRUPT', `device store ${file} is damaged: ${(e as Error).message} (${code})`, { cause: e, context: { file, sqlite: code } });
  throw e;
}
