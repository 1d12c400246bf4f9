import { join } from 'node:path';
import { openDatabase, type Db } from '../lib/sqlite.js';
import type { LogBatch, LogRecord } from '../protocol/payloads.js';

// What the devices report, in its own SQLite file beside the registry
// (reports.sqlite): play logs, emergency acks, operator actions and metrics,
// stored once per (device, key) however often a record is delivered.

const MIGRATIONS = [
  `
  CREATE TABLE device_log (
    device TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (device, key)
  ) WITHOUT ROWID;
  CREATE INDEX device_log_kind_at ON device_log(kind, at);
  `,
  `
  -- The console's view of each device: kept so "offline since" survives a console restart.
  CREATE TABLE device_status (
    device TEXT PRIMARY KEY,
    online INTEGER NOT NULL,
    since TEXT NOT NULL,
    last_seen TEXT,
    state TEXT,
    telemetry TEXT
  ) WITHOUT ROWID;
  CREATE INDEX device_log_emergency ON device_log(kind, device) WHERE kind = 'emergency-ack';
  -- Online/offline transitions as the console saw them, for uptime reports.
  CREATE TABLE device_presence (device TEXT NOT NULL, at TEXT NOT NULL, online INTEGER NOT NULL);
  CREATE INDEX device_presence_device ON device_presence(device, at);
  `,
];

export class Reports {
  readonly db: Db;
  readonly #insert;

  constructor(dataDir: string) {
    this.db = openDatabase(join(dataDir, 'reports.sqlite'), { synchronous: 'FULL', migrations: MIGRATIONS, what: 'reports' });
    this.#insert = this.db.prepare('INSERT OR IGNORE INTO device_log (device, key, kind, at, received_at, record) VALUES (?, ?, ?, ?, ?, ?)');
  }

  close(): void {
    this.db.close();
  }

  /**
   * Stores a batch in one transaction and returns every key of it, those
   * stored now and those stored before: the device may delete all of them.
   */
  storeBatch(device: string, batch: LogBatch, receivedAt: string): { keys: string[]; inserted: number } {
    let inserted = 0;
    this.db
      .transaction(() => {
        for (const r of batch.records) inserted += this.#insert.run(device, r.key, r.kind, r.at, receivedAt, JSON.stringify(r)).changes;
      })
      .immediate();
    return { keys: batch.records.map((r) => r.key), inserted };
  }

  count(device?: string, kind?: LogRecord['kind']): number {
    const where: string[] = [];
    const args: string[] = [];
    if (device) {
      where.push('device = ?');
      args.push(device);
    }
    if (kind) {
      where.push('kind = ?');
      args.push(kind);
    }
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM device_log${where.length ? ' WHERE ' + where.join(' AND ') : ''}`).get(...args) as { n: number }).n;
  }

  records(device: string, kind?: LogRecord['kind']): LogRecord[] {
    const rows = (kind ? this.db.prepare('SELECT record FROM device_log WHERE device = ? AND kind = ? ORDER BY at, key').all(device, kind) : this.db.prepare('SELECT record FROM device_log WHERE device = ? ORDER BY at, key').all(device)) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as LogRecord);
  }
}
