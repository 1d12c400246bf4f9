import Database from 'better-sqlite3';
import { LoaError } from '../protocol/errors.js';

export type Db = Database.Database;

export interface OpenOptions {
  /** FULL where a lost write would lose a command or a report (registry, outbox); NORMAL otherwise. */
  synchronous: 'FULL' | 'NORMAL';
  readonly?: boolean;
  /** Numbered migrations: migrations[i] takes the schema from version i to i + 1. */
  migrations: readonly string[];
  /** What this database is, for error messages. */
  what: string;
}

/**
 * Opens a SQLite file in WAL mode and brings its schema up to date. Each
 * migration runs in its own transaction together with the `user_version`
 * bump, so a crash mid-migration leaves the previous version intact.
 */
export function openDatabase(file: string, opts: OpenOptions): Db {
  const db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  try {
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.synchronous}`);
    }
    db.pragma('foreign_keys = ON');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > opts.migrations.length) {
      throw new LoaError('LOA_E_REGISTRY_VERSION', `${opts.what} ${file} has schema version ${version}, newer than this program knows (${opts.migrations.length}); upgrade Loa`, { context: { file, version } });
    }
    if (!opts.readonly) {
      for (let v = version; v < opts.migrations.length; v++) {
        db.transaction(() => {
          db.exec(opts.migrations[v]!);
          db.pragma(`user_version = ${v + 1}`);
        }).immediate();
      }
    }
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}
