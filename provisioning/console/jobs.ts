import { randomUUID } from 'node:crypto';
import type { Db } from '../../lib/sqlite.js';
import { ownerAlive, ownerTag } from '../../lib/owned-temp.js';
import type { ErrorCode } from '../../protocol/errors.js';

// Long work the browser waits for (ingest of an upload, TTS): started at
// once, polled for progress. Each job is a row of the registry (`jobs`), so
// the id a browser is polling still answers after the console restarts: a
// job whose console process is gone failed — interrupted — and says so,
// instead of a 404. Progress lives in memory, with the process doing the
// work. A finished job is forgotten after an hour. The jobs table is this
// module's: its SQL lives here alone, on the connection the registry opens
// it with (Registry.openStore).

export interface Job {
  id: string;
  kind: string;
  account: string;
  status: 'running' | 'done' | 'failed';
  progress: number;
  result: unknown;
  error: { code: string; message: string } | null;
  startedAt: number;
  endedAt: number | null;
}

interface Row {
  id: string;
  kind: string;
  account: string;
  owner: string;
  status: Job['status'];
  result: string | null;
  error: string | null;
  started_at: string;
  ended_at: string | null;
}

const KEEP_MS = 3600_000;

/** What a browser is told about a job its console did not live to finish. */
function interrupted(kind: string): { code: ErrorCode; message: string } {
  const again = kind === 'tts' ? 'make the bulletin again' : 'upload the file again';
  return { code: 'LOA_E_INGEST_INTERRUPTED', message: `interrupted: the console restarted; ${again}` };
}

export class Jobs {
  readonly #db: Db;
  readonly #now: () => number;
  readonly #owner: string;
  readonly #onError: (err: unknown, job: string) => void;
  /** This process's running jobs, with their progress. */
  #running = new Map<string, Job>();

  constructor(deps: { db: Db; now?: () => number; owner?: string; onError?: (err: unknown, job: string) => void }) {
    this.#db = deps.db;
    this.#now = deps.now ?? Date.now;
    this.#owner = deps.owner ?? ownerTag();
    this.#onError = deps.onError ?? (() => {});
  }

  /**
   * Marks as interrupted the running jobs whose console process is gone (at
   * start-up; get() does it too, for a console that died since), and forgets
   * those that ended over an hour ago. Returns how many were interrupted.
   */
  recover(): number {
    const rows = this.#db.prepare("SELECT * FROM jobs WHERE status = 'running'").all() as Row[];
    let n = 0;
    for (const r of rows) if (this.#orphan(r) && this.#interrupt(r)) n++;
    this.#db.prepare('DELETE FROM jobs WHERE ended_at IS NOT NULL AND ended_at < ?').run(new Date(this.#now() - KEEP_MS).toISOString());
    return n;
  }

  /** Another process's job, or one of this process's from before a restart that reused its pid. */
  #orphan(r: Row): boolean {
    return (r.owner !== this.#owner || !this.#running.has(r.id)) && (r.owner === this.#owner || !ownerAlive(r.owner));
  }

  #interrupt(r: Row): boolean {
    const now = new Date(this.#now()).toISOString();
    return this.#db.prepare("UPDATE jobs SET status = 'failed', error = ?, ended_at = ? WHERE id = ? AND status = 'running'").run(JSON.stringify(interrupted(r.kind)), now, r.id).changes > 0;
  }

  start(kind: string, account: string, work: (progress: (f: number) => void) => Promise<unknown>): Job {
    const now = this.#now();
    const job: Job = { id: randomUUID(), kind, account, status: 'running', progress: 0, result: null, error: null, startedAt: now, endedAt: null };
    this.#db.prepare("DELETE FROM jobs WHERE ended_at IS NOT NULL AND ended_at < ?").run(new Date(now - KEEP_MS).toISOString());
    this.#db.prepare("INSERT INTO jobs (id, kind, account, owner, status, started_at) VALUES (?, ?, ?, ?, 'running', ?)").run(job.id, kind, account, this.#owner, new Date(now).toISOString());
    this.#running.set(job.id, job);
    const end = (status: 'done' | 'failed', result: unknown, error: Job['error']) => {
      Object.assign(job, { status, result, error, endedAt: this.#now(), ...(status === 'done' ? { progress: 1 } : {}) });
      this.#running.delete(job.id);
      try {
        this.#db.prepare('UPDATE jobs SET status = ?, result = ?, error = ?, ended_at = ? WHERE id = ?').run(status, result === null ? null : JSON.stringify(result), error ? JSON.stringify(error) : null, new Date(job.endedAt!).toISOString(), job.id);
      } catch (e) {
        // The registry is closed under a job that outlived its console's stop: the next console reports it interrupted.
        this.#onError(e, job.id);
      }
    };
    work((f) => (job.progress = Math.max(job.progress, Math.min(1, f)))).then(
      (r) => end('done', r ?? null, null),
      (e: unknown) => end('failed', null, { code: (e as { code?: string }).code ?? 'LOA_E_INTERNAL', message: (e as Error).message }),
    );
    return job;
  }

  get(id: string): Job | undefined {
    const live = this.#running.get(id);
    if (live) return live;
    let r = this.#db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    if (!r) return undefined;
    if (r.status === 'running' && this.#orphan(r) && this.#interrupt(r)) r = this.#db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row;
    return {
      id: r.id,
      kind: r.kind,
      account: r.account,
      status: r.status,
      // Another console's running job: its progress is in that process.
      progress: r.status === 'done' ? 1 : 0,
      result: r.result === null ? null : (JSON.parse(r.result) as unknown),
      error: r.error === null ? null : (JSON.parse(r.error) as Job['error']),
      startedAt: Date.parse(r.started_at),
      endedAt: r.ended_at === null ? null : Date.parse(r.ended_at),
    };
  }

  /** Resolves when the job has ended (for tests and the CLI). */
  async wait(id: string, timeoutMs = 60_000): Promise<Job> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const j = this.get(id);
      if (!j || j.status !== 'running' || Date.now() > end) return j!;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
