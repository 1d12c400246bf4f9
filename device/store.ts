import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { openDatabase, type Db } from '../lib/sqlite.js';
import type { AssetRef, LogKind, LogRecord } from '../protocol/payloads.js';

// The agent's SQLite file: the last valid target state, the asset index, the
// progress of partial downloads, the outbox, emergency ids already seen and
// local settings. synchronous=FULL: a lost write here is a lost command or a
// lost report, and the writes are few.
//
// INVARIANT: an `assets` row exists only for a complete file whose sha256 was
// verified and which was fsynced and renamed into place before the row was
// written (device/asset-files.ts).

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
];

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
  readonly db: Db;
  readonly #outboxMax: number;
  readonly #seq: { n: number };
  /** Random per store file: a re-imaged SD card starts a new key space instead of reusing old keys. */
  readonly installId: string;

  /**
   * Download progress goes through a second connection with synchronous=NORMAL:
   * a progress row lost in a power cut only means re-fetching a few chunks,
   * and the partial file is fsynced before its row is written, so a row never
   * claims bytes that are not on disk. Everything else commits with FULL.
   */
  readonly #progress: Db;
  readonly #saveProgress: Database.Statement;

  constructor(file: string, opts: { outboxMax: number }) {
    this.db = openDatabase(file, { synchronous: 'FULL', migrations: MIGRATIONS, what: 'device store' });
    this.#progress = openDatabase(file, { synchronous: 'NORMAL', migrations: MIGRATIONS, what: 'device store' });
    this.#saveProgress = this.#progress.prepare('INSERT INTO partials (sha256, size, chunk_size, verified_bytes) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, chunk_size = excluded.chunk_size, verified_bytes = excluded.verified_bytes');
    this.#outboxMax = opts.outboxMax;
    const last = this.db.prepare("SELECT value FROM settings WHERE key = 'record_seq'").get() as { value: string } | undefined;
    this.#seq = { n: last ? Number(last.value) : 0 };
    let install = this.setting('install_id');
    if (!install) {
      install = randomBytes(4).toString('hex');
      this.setSetting('install_id', install);
    }
    this.installId = install;
  }

  close(): void {
    this.#progress.close();
    this.db.close();
  }

  /** Runs `fn` in one IMMEDIATE transaction: an event and its outbox record commit together or not at all. */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  // ------------------------------------------------------------- target

  target(): StoredTarget | null {
    const r = this.db.prepare('SELECT version, envelope, received_at AS receivedAt, applied_at AS appliedAt FROM target WHERE id = 1').get() as StoredTarget | undefined;
    return r ?? null;
  }

  saveTarget(version: number, envelope: string, at: string): void {
    this.db.prepare('INSERT INTO target (id, version, envelope, received_at, applied_at) VALUES (1, ?, ?, ?, NULL) ON CONFLICT (id) DO UPDATE SET version = excluded.version, envelope = excluded.envelope, received_at = excluded.received_at, applied_at = NULL').run(version, envelope, at);
  }

  markApplied(version: number, at: string): void {
    this.db.prepare('UPDATE target SET applied_at = ? WHERE id = 1 AND version = ?').run(at, version);
  }

  // ------------------------------------------------------------- assets

  assets(): AssetRow[] {
    return (this.db.prepare('SELECT sha256, size, mime, duration_ms AS durationMs, reserve FROM assets').all() as (Omit<AssetRow, 'reserve'> & { reserve: number })[]).map((r) => ({ ...r, reserve: r.reserve === 1 }));
  }

  asset(sha256: string): AssetRow | null {
    const r = this.db.prepare('SELECT sha256, size, mime, duration_ms AS durationMs, reserve FROM assets WHERE sha256 = ?').get(sha256) as (Omit<AssetRow, 'reserve'> & { reserve: number }) | undefined;
    return r ? { ...r, reserve: r.reserve === 1 } : null;
  }

  addAsset(a: AssetRef, at: string): void {
    this.db.prepare('INSERT INTO assets (sha256, size, mime, duration_ms, reserve, stored_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET reserve = excluded.reserve').run(a.sha256, a.size, a.mime, a.durationMs, a.reserve ? 1 : 0, at);
    this.db.prepare('DELETE FROM partials WHERE sha256 = ?').run(a.sha256);
  }

  removeAsset(sha256: string): void {
    this.db.prepare('DELETE FROM assets WHERE sha256 = ?').run(sha256);
  }

  storedBytes(): number {
    return (this.db.prepare('SELECT COALESCE(SUM(size), 0) AS n FROM assets').get() as { n: number }).n;
  }

  partial(sha256: string): PartialRow | null {
    const r = this.db.prepare('SELECT sha256, size, chunk_size AS chunkSize, verified_bytes AS verifiedBytes FROM partials WHERE sha256 = ?').get(sha256) as PartialRow | undefined;
    return r ?? null;
  }

  partials(): PartialRow[] {
    return this.db.prepare('SELECT sha256, size, chunk_size AS chunkSize, verified_bytes AS verifiedBytes FROM partials').all() as PartialRow[];
  }

  savePartial(p: PartialRow): void {
    this.#saveProgress.run(p.sha256, p.size, p.chunkSize, p.verifiedBytes);
  }

  removePartial(sha256: string): void {
    this.db.prepare('DELETE FROM partials WHERE sha256 = ?').run(sha256);
  }

  // ------------------------------------------------------------- outbox

  /** A unique, ordered idempotency key for a new record: `<install id>:<counter>`. Call inside a transaction. */
  nextKey(): string {
    this.#seq.n += 1;
    this.db.prepare("INSERT INTO settings (key, value) VALUES ('record_seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(this.#seq.n));
    return `${this.installId}:${String(this.#seq.n).padStart(10, '0')}`;
  }

  /**
   * Adds a record; when the outbox is full, first drops the lowest-priority,
   * oldest record whose priority is not above the new one's, and counts the
   * drop. Returns false when the new record itself had to be dropped.
   * Call inside the transaction that records the event itself.
   */
  enqueue(record: LogRecord): boolean {
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
    this.db.prepare('INSERT INTO outbox (key, kind, priority, record) VALUES (?, ?, ?, ?)').run(record.key, record.kind, priority, JSON.stringify(record));
    return true;
  }

  /** Keeps a record in the local journal (plays and operator actions), trimmed to JOURNAL_MAX. Call inside the record's transaction. */
  journal(record: LogRecord): void {
    if (record.kind !== 'play' && record.kind !== 'operator') return;
    const r = this.db.prepare('INSERT INTO journal (kind, record) VALUES (?, ?)').run(record.kind, JSON.stringify(record));
    const seq = Number(r.lastInsertRowid);
    if (seq % 100 === 0) this.db.prepare('DELETE FROM journal WHERE seq <= ?').run(seq - JOURNAL_MAX);
  }

  /** The newest journal records first. */
  recentJournal(limit: number, kind?: 'play' | 'operator'): LogRecord[] {
    const rows = (kind ? this.db.prepare('SELECT record FROM journal WHERE kind = ? ORDER BY seq DESC LIMIT ?').all(kind, limit) : this.db.prepare('SELECT record FROM journal ORDER BY seq DESC LIMIT ?').all(limit)) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as LogRecord);
  }

  #countDrop(kind: string): void {
    this.db.prepare('INSERT INTO outbox_dropped (kind, count) VALUES (?, 1) ON CONFLICT (kind) DO UPDATE SET count = count + 1').run(kind);
  }

  /** The next records to send, highest priority first, oldest first within a priority. */
  pending(limit: number): LogRecord[] {
    return (this.db.prepare('SELECT record FROM outbox ORDER BY priority ASC, seq ASC LIMIT ?').all(limit) as { record: string }[]).map((r) => JSON.parse(r.record) as LogRecord);
  }

  outboxSize(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
  }

  /** Deletes exactly the records the province says it stored. */
  acknowledge(keys: readonly string[]): number {
    const del = this.db.prepare('DELETE FROM outbox WHERE key = ?');
    return this.tx(() => keys.reduce((n, k) => n + del.run(k).changes, 0));
  }

  dropped(): Record<string, number> {
    return Object.fromEntries((this.db.prepare('SELECT kind, count FROM outbox_dropped').all() as { kind: string; count: number }[]).map((r) => [r.kind, r.count]));
  }

  // ------------------------------------------------------------ plan items

  planDone(key: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM plan_done WHERE key = ?').get(key);
  }

  markPlanDone(key: string, at: string): void {
    this.db.prepare('INSERT OR IGNORE INTO plan_done (key, at) VALUES (?, ?)').run(key, at);
  }

  /** Forgets plan items older than `before` (ISO); keys carry their date, so old ones can never come back. */
  prunePlanDone(before: string): void {
    this.db.prepare('DELETE FROM plan_done WHERE at < ?').run(before);
  }

  // ------------------------------------------------ emergencies, settings

  hasSeenEmergency(id: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM seen_emergencies WHERE id = ?').get(id);
  }

  markEmergencySeen(id: string, at: string, expiresAt: string): void {
    this.db.prepare('INSERT OR IGNORE INTO seen_emergencies (id, seen_at, expires_at) VALUES (?, ?, ?)').run(id, at, expiresAt);
  }

  setting(key: string): string | null {
    const r = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return r?.value ?? null;
  }

  setSetting(key: string, value: string): void {
    this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}
