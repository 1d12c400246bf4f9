import { join } from 'node:path';
import { openDatabase, type Db } from '../lib/sqlite.js';
import type { LogBatch, LogRecord } from '../protocol/payloads.js';

// What the devices report, in its own SQLite file beside the registry
// (reports.sqlite): play logs, emergency acks, operator actions and metrics,
// stored once per (device, key) however often a record is delivered.
//
// A record's `at` is the device's wall clock, which steps (a beacon
// correcting a clock hours off, a Pi booting in 1970): it says when, not in
// what order. The order is the key, `<install>:<counter>` (device/store.ts
// nextKey): the counter within one store install, and the installs of a
// device in the order this province first received a record of each (its
// own clock: a wiped or quarantined store starts a new install, counter 1).
// It also keeps the console's view of each device (device_status) and its
// online/offline transitions (device_presence), which the fleet view writes.
// Its tables' SQL lives here alone; the connection is private.

/** The store install of a record key: what precedes its first ':' ('' when it has none: the whole key is then the counter). */
export function installOf(key: string): string {
  const i = key.indexOf(':');
  return i >= 0 ? key.slice(0, i) : '';
}
/** SQL: installOf(key). */
function INSTALL(key: string): string {
  return `CASE WHEN instr(${key}, ':') > 0 THEN substr(${key}, 1, instr(${key}, ':') - 1) ELSE '' END`;
}
/** SQL: the counter of a record key, ordered as a number (zero-padded; a longer one is larger). */
function COUNTER(key: string): string {
  return `length(substr(${key}, instr(${key}, ':') + 1)), substr(${key}, instr(${key}, ':') + 1)`;
}
/** SQL ORDER BY terms: each device's records in the order the device made them (device_log AS l, device_installs AS i joined on the install). */
const DEVICE_ORDER = `l.device, i.first_received_at, ${INSTALL('l.key')}, ${COUNTER('l.key')}`;
const JOIN_INSTALL = `LEFT JOIN device_installs i ON i.device = l.device AND i.install = ${INSTALL('l.key')}`;

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
  `
  -- Each store install of a device and when the province first received a record of it: orders a device's installs.
  CREATE TABLE device_installs (
    device TEXT NOT NULL,
    install TEXT NOT NULL,
    first_received_at TEXT NOT NULL,
    PRIMARY KEY (device, install)
  ) WITHOUT ROWID;
  INSERT INTO device_installs (device, install, first_received_at)
    SELECT device, ${INSTALL('key')}, MIN(received_at) FROM device_log GROUP BY 1, 2;
  `,
  `
  -- Devices first heard of by their telemetry or state, ahead of their online status, were online with no
  -- presence record (the uptime report said 0 %): online since the console first heard of them.
  INSERT INTO device_presence (device, at, online)
    SELECT s.device, s.since, 1 FROM device_status s
    WHERE s.online = 1 AND NOT EXISTS (SELECT 1 FROM device_presence p WHERE p.device = s.device);
  `,
];

/** An emergency ack as a device reports it. */
export type AckData = Extract<LogRecord, { kind: 'emergency-ack' }>['data'];

/** The console's stored view of one device (console/fleet.ts). */
export interface DeviceStatusRow {
  device: string;
  online: number;
  since: string;
  last_seen: string | null;
  state: string | null;
  telemetry: string | null;
}

export class Reports {
  readonly #db: Db;
  readonly #insert;
  readonly #install;

  constructor(dataDir: string) {
    this.#db = openDatabase(join(dataDir, 'reports.sqlite'), { synchronous: 'FULL', migrations: MIGRATIONS, what: 'reports' });
    this.#insert = this.#db.prepare('INSERT OR IGNORE INTO device_log (device, key, kind, at, received_at, record) VALUES (?, ?, ?, ?, ?, ?)');
    this.#install = this.#db.prepare('INSERT OR IGNORE INTO device_installs (device, install, first_received_at) VALUES (?, ?, ?)');
  }

  close(): void {
    this.#db.close();
  }

  /**
   * Stores a batch in one transaction and returns every key of it, those
   * stored now and those stored before: the device may delete all of them.
   */
  storeBatch(device: string, batch: LogBatch, receivedAt: string): { keys: string[]; inserted: number } {
    let inserted = 0;
    this.#db
      .transaction(() => {
        for (const r of batch.records) {
          const n = this.#insert.run(device, r.key, r.kind, r.at, receivedAt, JSON.stringify(r)).changes;
          if (n) this.#install.run(device, installOf(r.key), receivedAt);
          inserted += n;
        }
      })
      .immediate();
    return { keys: batch.records.map((r) => r.key), inserted };
  }

  /** Every device's acks of one emergency, each device's in the order the device made them (never by their stamps). */
  emergencyAcks(emergency: string): { device: string; key: string; at: string; data: AckData }[] {
    const rows = this.#db
      .prepare(`SELECT l.device, l.key, l.at, l.record FROM device_log l ${JOIN_INSTALL} WHERE l.kind = 'emergency-ack' AND json_extract(l.record, '$.data.emergency') = ? ORDER BY ${DEVICE_ORDER}`)
      .all(emergency) as { device: string; key: string; at: string; record: string }[];
    return rows.map((r) => ({ device: r.device, key: r.key, at: r.at, data: (JSON.parse(r.record) as { data: AckData }).data })).filter((r) => r.data.emergency === emergency);
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
    return (this.#db.prepare(`SELECT COUNT(*) AS n FROM device_log${where.length ? ' WHERE ' + where.join(' AND ') : ''}`).get(...args) as { n: number }).n;
  }

  /** Every device's stored records of one kind stamped in [from, to) (ISO instants), by stamp: the reports' rows. */
  recordsBetween(kind: LogRecord['kind'], from: string, to: string): { device: string; at: string; record: string }[] {
    return this.#db.prepare('SELECT device, at, record FROM device_log WHERE kind = ? AND at >= ? AND at < ? ORDER BY at, device, key').all(kind, from, to) as { device: string; at: string; record: string }[];
  }

  /** A device's online/offline transitions as the console saw them, oldest first (the uptime report). */
  presence(device: string): { at: string; online: number }[] {
    return this.#db.prepare('SELECT at, online FROM device_presence WHERE device = ? ORDER BY at').all(device) as { at: string; online: number }[];
  }

  /** One device's stored records of one kind stamped in [from, to) (ISO instants), in no order. */
  deviceRecordsBetween(device: string, kind: LogRecord['kind'], from: string, to: string): LogRecord[] {
    const rows = this.#db.prepare('SELECT record FROM device_log WHERE device = ? AND kind = ? AND at >= ? AND at < ?').all(device, kind, from, to) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as LogRecord);
  }

  /** The console's stored view of a device (undefined: never heard of). */
  deviceStatus(device: string): DeviceStatusRow | undefined {
    return this.#db.prepare('SELECT device, online, since, last_seen, state, telemetry FROM device_status WHERE device = ?').get(device) as DeviceStatusRow | undefined;
  }

  /** A device went online or offline at `now`: its status and a presence record, together. */
  setOnline(device: string, online: boolean, now: string): void {
    this.#db.transaction(() => {
      this.#db.prepare('INSERT INTO device_status (device, online, since, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT (device) DO UPDATE SET online = excluded.online, since = excluded.since, last_seen = excluded.last_seen').run(device, online ? 1 : 0, now, now);
      this.#db.prepare('INSERT INTO device_presence (device, at, online) VALUES (?, ?, ?)').run(device, now, online ? 1 : 0);
    })();
  }

  /**
   * A device's latest state or telemetry, heard at `now`. A device first
   * heard of (`firstHeard`: no status row yet) by its telemetry (QoS 0) or
   * state, which the broker may deliver ahead of its online status (QoS 1):
   * the row says online from now, and so must the uptime's record, since that
   * status will then change nothing.
   */
  setReported(device: string, col: 'state' | 'telemetry', value: unknown, now: string, firstHeard: boolean): void {
    this.#db.transaction(() => {
      this.#db.prepare(`INSERT INTO device_status (device, online, since, last_seen, ${col}) VALUES (?, 1, ?, ?, ?) ON CONFLICT (device) DO UPDATE SET ${col} = excluded.${col}, last_seen = excluded.last_seen`).run(device, now, now, JSON.stringify(value));
      // INVARIANT: device_status.online never changes without a device_presence row.
      if (firstHeard) this.#db.prepare('INSERT INTO device_presence (device, at, online) VALUES (?, ?, 1)').run(device, now);
    })();
  }

  records(device: string, kind?: LogRecord['kind']): LogRecord[] {
    const rows = (kind ? this.#db.prepare('SELECT record FROM device_log WHERE device = ? AND kind = ? ORDER BY at, key').all(device, kind) : this.#db.prepare('SELECT record FROM device_log WHERE device = ? ORDER BY at, key').all(device)) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as LogRecord);
  }
}
