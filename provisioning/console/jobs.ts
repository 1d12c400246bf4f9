import { randomUUID } from 'node:crypto';

// Long work the browser waits for (ingest of an upload, TTS): started at
// once, polled for progress. Kept in memory; a finished job is forgotten
// after an hour.

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

export class Jobs {
  #jobs = new Map<string, Job>();

  start(kind: string, account: string, work: (progress: (f: number) => void) => Promise<unknown>): Job {
    const job: Job = { id: randomUUID(), kind, account, status: 'running', progress: 0, result: null, error: null, startedAt: Date.now(), endedAt: null };
    this.#jobs.set(job.id, job);
    for (const [id, j] of this.#jobs) if (j.endedAt && Date.now() - j.endedAt > 3600_000) this.#jobs.delete(id);
    work((f) => (job.progress = Math.max(job.progress, Math.min(1, f)))).then(
      (r) => Object.assign(job, { status: 'done', progress: 1, result: r, endedAt: Date.now() }),
      (e: unknown) => Object.assign(job, { status: 'failed', error: { code: (e as { code?: string }).code ?? 'LOA_E_INTERNAL', message: (e as Error).message }, endedAt: Date.now() }),
    );
    return job;
  }

  get(id: string): Job | undefined {
    return this.#jobs.get(id);
  }

  /** Resolves when the job has ended (for tests and the CLI). */
  async wait(id: string, timeoutMs = 60_000): Promise<Job> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const j = this.#jobs.get(id);
      if (!j || j.status !== 'running' || Date.now() > end) return j!;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
