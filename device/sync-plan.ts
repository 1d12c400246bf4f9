import type { AssetRef, TargetState } from '../protocol/payloads.js';
import { nextOccurrence } from '../schedules/recurrence.js';

// Reconcile, don't script: from what the device holds and what the target
// asks for, compute what to fetch (in order), what to delete and whether the
// target is complete. Pure: no I/O, time passed in.

export interface DiskBudget {
  /** Most bytes all assets together may use. */
  budgetBytes: number;
  /** Part of the budget only emergency (reserve) clips may use. */
  reserveBytes: number;
  /** Free bytes on the filesystem now, and the least to leave free. */
  freeBytes: number;
  minFreeBytes: number;
}

export interface SyncInput {
  target: TargetState | null;
  /** Assets an emergency needs now: fetched before everything else and never deleted while listed. */
  urgent?: readonly AssetRef[];
  stored: readonly { sha256: string; size: number; reserve: boolean }[];
  nowMs: number;
  budget: DiskBudget;
}

export interface SyncPlan {
  /** Missing assets that fit, in the order to fetch them: reserve clips, then by first use. */
  fetch: AssetRef[];
  /** Missing assets that do not fit the budget or the free disk. */
  noRoom: AssetRef[];
  /** Stored assets the target no longer references. */
  remove: string[];
  /** Every referenced asset is stored. */
  complete: boolean;
}

/** When each asset is first needed: the earliest next start of a programme that plays it. */
export function firstUse(target: TargetState, nowMs: number): Map<string, number> {
  const first = new Map<string, number>();
  for (const p of target.programmes) {
    const t = nextOccurrence(p.recurrence, nowMs);
    if (t === null) continue;
    for (const sha of p.playlist) if (!first.has(sha) || first.get(sha)! > t) first.set(sha, t);
  }
  return first;
}

export function planSync(input: SyncInput): SyncPlan {
  const { stored, budget } = input;
  const urgent = input.urgent ?? [];
  if (!input.target && !urgent.length) return { fetch: [], noRoom: [], remove: [], complete: false };
  const base: TargetState = input.target ?? { device: '', zone: '', version: 0, issuedAt: '', assets: [], programmes: [], rules: [] };
  const urgentSet = new Set(urgent.map((a) => a.sha256));
  // Urgent clips count as reserve clips: the disk reserve exists for them.
  const target: TargetState = { ...base, assets: [...urgent.map((a) => ({ ...a, reserve: true })), ...base.assets.filter((a) => !urgentSet.has(a.sha256))] };
  const wanted = new Map(target.assets.map((a) => [a.sha256, a]));
  const storedSet = new Set(stored.map((s) => s.sha256));
  const remove = stored.filter((s) => !wanted.has(s.sha256)).map((s) => s.sha256);
  const kept = stored.filter((s) => wanted.has(s.sha256));
  const freed = stored.filter((s) => !wanted.has(s.sha256)).reduce((n, s) => n + s.size, 0);

  const missing = target.assets.filter((a) => !storedSet.has(a.sha256));
  const first = firstUse(target, input.nowMs);
  missing.sort((a, b) => {
    if (urgentSet.has(a.sha256) !== urgentSet.has(b.sha256)) return urgentSet.has(a.sha256) ? -1 : 1;
    if (!!a.reserve !== !!b.reserve) return a.reserve ? -1 : 1;
    const ta = first.get(a.sha256) ?? Infinity;
    const tb = first.get(b.sha256) ?? Infinity;
    if (ta !== tb) return ta - tb;
    return a.size - b.size || a.sha256.localeCompare(b.sha256);
  });

  let total = kept.reduce((n, s) => n + s.size, 0);
  let normal = kept.filter((s) => !s.reserve).reduce((n, s) => n + s.size, 0);
  let disk = budget.freeBytes + freed - budget.minFreeBytes;
  const fetch: AssetRef[] = [];
  const noRoom: AssetRef[] = [];
  for (const a of missing) {
    const fitsBudget = a.reserve ? total + a.size <= budget.budgetBytes : normal + a.size <= budget.budgetBytes - budget.reserveBytes;
    if (fitsBudget && a.size <= disk) {
      fetch.push(a);
      total += a.size;
      if (!a.reserve) normal += a.size;
      disk -= a.size;
    } else noRoom.push(a);
  }
  // "Complete" speaks of the target; an urgent clip still missing does not make it incomplete.
  const complete = input.target !== null && missing.every((a) => urgentSet.has(a.sha256) && !base.assets.some((b) => b.sha256 === a.sha256));
  return { fetch, noRoom, remove, complete };
}
