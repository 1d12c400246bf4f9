import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { LoaError } from '../protocol/errors.js';

// What keeps the agent's data directory usable whatever happens to it
// (docs/reliability.md):
//
// - One agent per data directory. Two agents on one store crash each other
//   (and both drive the horns), so the first holds an exclusive lock for as
//   long as it lives: SQLite's own POSIX lock on `agent.lock`, which the
//   kernel drops when the process dies, even by SIGKILL or a power cut, so a
//   stale lock never blocks a restart.
// - Quarantine. A store SQLite cannot read (truncated, scribbled, a broken
//   header) is moved whole (with its -wal and -shm) to quarantine/<time>/,
//   kept for the technician (the newest three), and the agent starts afresh.
// - Headroom. A reserve file the store releases when the disk is full, so it
//   can still record what happens (device/store.ts) while it says so.

export const LOCK_FILE = 'agent.lock';
export const PID_FILE = 'agent.pid';
export const QUARANTINE_DIR = 'quarantine';
export const RESERVE_FILE = 'reserve.bin';
const KEEP_QUARANTINED = 3;

export class DataDirLock {
  readonly #db: Database.Database;
  readonly #dir: string;

  private constructor(db: Database.Database, dir: string) {
    this.#db = db;
    this.#dir = dir;
  }

  /** Takes the data directory for this process, or throws LOA_E_DATA_LOCKED naming the agent that has it. */
  static acquire(dir: string): DataDirLock {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const db = new Database(join(dir, LOCK_FILE), { timeout: 0 });
    try {
      db.pragma('journal_mode = DELETE');
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
    } catch (e) {
      db.close();
      if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw e;
      let holder = '';
      try {
        const [pid, since] = readFileSync(join(dir, PID_FILE), 'utf8').trim().split(/\s+/);
        holder = ` (pid ${pid}${since ? `, started ${since}` : ''})`;
      } catch {
        // no pid file: an agent still starting
      }
      throw new LoaError('LOA_E_DATA_LOCKED', `another loa device agent${holder} is using the data directory ${dir}. Two agents on one store would corrupt it and both drive the horns: stop the other one (systemctl stop loa-device) or give this one its own --data.`, { context: { dir } });
    }
    writeFileSync(join(dir, PID_FILE), `${process.pid} ${new Date().toISOString()}\n`, { mode: 0o600 });
    return new DataDirLock(db, dir);
  }

  release(): void {
    try {
      rmSync(join(this.#dir, PID_FILE), { force: true });
      this.#db.exec('ROLLBACK');
    } finally {
      this.#db.close();
    }
  }
}

/**
 * Moves a damaged SQLite file (and its -wal, -shm) into quarantine/<time>/
 * beside it; keeps the newest KEEP_QUARANTINED. Returns the folder.
 */
export function quarantineStore(file: string, at: Date = new Date()): string {
  const root = join(file, '..', QUARANTINE_DIR);
  const dir = join(root, at.toISOString().replace(/[:.]/g, '-'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const f = file + suffix;
    if (existsSync(f)) renameSync(f, join(dir, basename(f)));
  }
  const all = readdirSync(root).sort();
  for (const old of all.slice(0, Math.max(0, all.length - KEEP_QUARANTINED))) rmSync(join(root, old), { recursive: true, force: true });
  return dir;
}

/**
 * Disk headroom for the store: a file of `bytes` real (not sparse) zeros.
 * Released (deleted) when a write finds the disk full, made again when
 * there is room.
 */
export class DiskReserve {
  readonly file: string;
  readonly bytes: number;

  constructor(dir: string, bytes: number) {
    this.file = join(dir, RESERVE_FILE);
    this.bytes = bytes;
  }

  get held(): boolean {
    try {
      return statSync(this.file).size >= this.bytes;
    } catch {
      return false;
    }
  }

  /** Makes the reserve when it is missing; false when there is no room for it (what was written is removed). */
  ensure(): boolean {
    if (this.bytes === 0 || this.held) return true;
    const tmp = `${this.file}.tmp`;
    let fd: number | null = null;
    try {
      fd = openSync(tmp, 'w', 0o600);
      const block = Buffer.alloc(Math.min(this.bytes, 1024 * 1024));
      for (let done = 0; done < this.bytes; ) {
        const n = writeSync(fd, block, 0, Math.min(block.length, this.bytes - done));
        done += n;
      }
      fsyncSync(fd);
      closeSync(fd);
      fd = null;
      renameSync(tmp, this.file);
      return true;
    } catch {
      if (fd !== null) closeSync(fd);
      rmSync(tmp, { force: true });
      return false;
    }
  }

  /** Gives the space back to the store; true when there was a reserve to release. */
  release(): boolean {
    if (this.bytes === 0) return false;
    try {
      unlinkSync(this.file);
      return true;
    } catch {
      return false;
    }
  }
}
