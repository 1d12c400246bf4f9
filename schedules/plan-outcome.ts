// What became of a day plan's items, for the operator screens (the
// console's plan of a device, the village panel's plan of today): an item
// still to come shows what the plan says will happen; one whose time has
// passed shows what the play log says did happen. Pure: the plan items, the
// play records and the time are parameters.
//
// A play record carries no plan key (protocol/payloads.ts PlayRecord), so an
// occurrence is found by its programme and time: a programme's record
// belongs to the latest occurrence of that programme whose nominal start is
// not after the record's start (a play starts at its nominal time or later:
// queued behind another item, or a scheduler refusal stamped when it acted;
// RECORD_SKEW_MS allows for a record stamped a moment early by a corrected
// clock). Every part of an occurrence (a resumed remainder too) shares its
// outcome; with several records, the last one tells how it ended.

export type PlanWhen = 'past' | 'now' | 'next';
/** What happened: the play log's outcome; `missed` its time passed unplayed (scheduler rule 'missed'); `absent` no record of it at all. */
export type PlanOutcome = 'played' | 'interrupted' | 'refused' | 'failed' | 'missed' | 'absent';

export interface OutcomeItem {
  programme: string;
  scheduled: number;
  start: number;
  end: number;
}

export interface OutcomeRecord {
  outcome: 'played' | 'refused' | 'interrupted' | 'failed';
  source: string;
  programme?: string | undefined;
  start: string;
  rule?: string | undefined;
  reason?: string | undefined;
}

export interface ItemOutcome {
  when: PlanWhen;
  /** Only for an item whose time has come: what the log says (null while it plays and nothing is logged yet). */
  outcome: PlanOutcome | null;
  /** The record's rule and reason (a refusal's, a miss's). */
  rule?: string;
  reason?: string;
}

export const RECORD_SKEW_MS = 2000;

/** An outcome as fields beside a plan item's own (whose rule and reason are the plan's): when, outcome, outcomeRule, outcomeReason. */
export function outcomeFields(o: ItemOutcome): { when: PlanWhen; outcome: PlanOutcome | null; outcomeRule?: string; outcomeReason?: string } {
  return { when: o.when, outcome: o.outcome, ...(o.rule ? { outcomeRule: o.rule } : {}), ...(o.reason ? { outcomeReason: o.reason } : {}) };
}

/** The outcome of each item, in the items' order. */
export function planOutcomes(items: readonly OutcomeItem[], records: readonly OutcomeRecord[], now: number): ItemOutcome[] {
  // Occurrences (programme, nominal start) of this plan, per programme, latest first.
  const starts = new Map<string, number[]>();
  for (const i of items) {
    const l = starts.get(i.programme) ?? [];
    if (!l.includes(i.scheduled)) l.push(i.scheduled);
    starts.set(i.programme, l);
  }
  for (const l of starts.values()) l.sort((a, b) => b - a);
  const last = new Map<string, { at: number; r: OutcomeRecord }>();
  for (const r of records) {
    if (r.source !== 'programme' || !r.programme) continue;
    const at = Date.parse(r.start);
    const scheduled = starts.get(r.programme)?.find((s) => s <= at + RECORD_SKEW_MS);
    if (scheduled === undefined) continue;
    const k = `${r.programme}@${scheduled}`;
    const prev = last.get(k);
    if (!prev || at >= prev.at) last.set(k, { at, r });
  }
  return items.map((i) => {
    const when: PlanWhen = now >= i.end && now >= i.start ? 'past' : now >= i.start ? 'now' : 'next';
    if (when === 'next') return { when, outcome: null };
    const found = last.get(`${i.programme}@${i.scheduled}`)?.r;
    if (!found) return { when, outcome: when === 'past' ? 'absent' : null };
    const outcome: PlanOutcome = found.outcome === 'refused' && found.rule === 'missed' ? 'missed' : found.outcome;
    return { when, outcome, ...(found.rule ? { rule: found.rule } : {}), ...(found.reason ? { reason: found.reason } : {}) };
  });
}
