import type { PlayLogData, PlayRequest, Resume } from './arbiter.js';
import type { InflightRow } from './store.js';

// After a crash or a power cut: what the arbiter held when it was last
// written (the store's `inflight`, device/playback.ts persist()) becomes
// records and requests again, so no play vanishes (finding 1 of issue 10):
//
// - a play that was cut and may not resume is reported `interrupted`, from
//   its first start to the last instant it was known to be playing;
// - a resumable one (and one that was still waiting) goes back to the
//   arbiter, from where it was cut, once the clock is trusted: the arbiter
//   still judges its window, and its log keeps its first start, so it is
//   reported once, as played or interrupted;
// - emergencies are the emergency desk's (device/emergency-desk.ts recover());
// - a live session is never requeued: its audio exists only while it lasts;
//   one still on air is joined again when the province re-sends its open
//   (every 5 s), as a new play. The cut one is reported interrupted, one
//   that had not started refused (rule restart).
//
// Pure: rows in, records and requests out.

export const RESTART_REASON = 'cut by a restart of the agent (power loss or crash)';

export interface RecoveryPlan {
  /** Reported at once. */
  report: PlayLogData[];
  /** Given back to the arbiter once the clock allows (requests that need a trusted clock wait for it). */
  requeue: { req: PlayRequest; resume: Resume | null; row: InflightRow }[];
  /** Rows of emergencies: the desk's. */
  emergencies: InflightRow[];
}

/** `now`: the agent's time at start (ISO), the end of a cut play the store has no progress instant for. */
export function planRecovery(rows: readonly InflightRow[], now: string): RecoveryPlan {
  const plan: RecoveryPlan = { report: [], requeue: [], emergencies: [] };
  for (const row of rows) {
    let req: PlayRequest;
    try {
      req = JSON.parse(row.request) as PlayRequest;
    } catch {
      continue; // written by this program in one transaction; a row that does not parse has nothing to recover
    }
    if (req.level === 'emergency') {
      plan.emergencies.push(row);
      continue;
    }
    if (req.source === 'live' && (row.phase === 'waiting' || !row.firstStartedAt)) {
      plan.report.push({ outcome: 'refused', level: req.level, source: req.source, start: now, rule: 'restart', reason: RESTART_REASON, ...(req.title ? { title: req.title } : {}) });
      continue;
    }
    if (row.phase === 'waiting' || !row.firstStartedAt) {
      plan.requeue.push({ req, resume: null, row });
      continue;
    }
    const firstStartedAt = Date.parse(row.firstStartedAt);
    if (req.resumable && req.source !== 'live') {
      plan.requeue.push({ req, resume: { offsetMs: row.offsetMs, firstStartedAt, ...(row.progressAt ? { cutAt: Date.parse(row.progressAt) } : {}), ...(row.interruptedBy ? { interruptedBy: row.interruptedBy as Resume['interruptedBy'] } : {}) }, row });
      continue;
    }
    const data: PlayLogData = { outcome: 'interrupted', level: req.level, source: req.source, start: row.firstStartedAt, end: row.progressAt ?? now, volume: req.volume, rule: 'restart', reason: RESTART_REASON, playedMs: row.offsetMs };
    if (req.programme) data.programme = req.programme;
    if (req.title) data.title = req.title;
    if (row.interruptedBy) data.interruptedBy = row.interruptedBy as PlayLogData['interruptedBy'];
    plan.report.push(data);
  }
  return plan;
}
