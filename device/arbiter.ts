// The playback arbiter: what plays, what waits, what is cut and what resumes.
// A pure state machine — events and the time come in as values, effects come
// out — so every rule below is a unit test, not a timing test.
//
// Rules (DESIGN.md "Priorities", TT39 bulletin levels, extended):
// - emergency > live > priority > normal; a higher level preempts at once;
//   the same level is first come, first served.
// - An interrupted item resumes where it was cut when it is resumable and its
//   window (`notAfter`) is still open; otherwise it is logged as interrupted.
// - Programmes need a trusted clock (a bulletin at 03:00 instead of 07:00 is
//   worse than none); emergencies, live relays and the operator's local
//   announcements do not.
// - Every decision is a play-log record: played, refused (with the rule),
//   interrupted (by what), failed (with the error).

export type Level = 'emergency' | 'live' | 'priority' | 'normal';
export const RANK: Readonly<Record<Level, number>> = { emergency: 3, live: 2, priority: 1, normal: 0 };

export type Tone = 'chime' | 'alert' | 'siren' | 'drill' | 'test';
export type Segment =
  | { kind: 'asset'; sha256: string; durationMs: number }
  | { kind: 'tone'; tone: Tone; durationMs: number }
  | { kind: 'stream'; url: string; durationMs: number | null }
  /** A live session's audio, as device/live-desk.ts turns its frames into PCM. */
  | { kind: 'live'; session: string; durationMs: null }
  /** A local announcement's clip, kept on the device outside the target's assets. */
  | { kind: 'file'; path: string; durationMs: number };

export interface PlayRequest {
  /** Unique: a plan item key, an emergency id, a local announcement id, a live relay id. */
  id: string;
  level: Level;
  source: 'programme' | 'local' | 'live' | 'emergency';
  title?: string;
  segments: Segment[];
  /** Volume 0–100, already capped by the rules (an emergency carries the emergency volume). */
  volume: number;
  resumable: boolean;
  /** Latest instant it may start or resume (its window's end); null for no limit. */
  notAfter: number | null;
  /** When it must stop even if not finished (quiet hours begin, airtime runs out); null for none. */
  endBy: number | null;
  requiresTrustedClock: boolean;
  programme?: string;
  emergency?: string;
}

/** Total length of a request, or null when it contains an open-ended stream. */
export function lengthMs(req: PlayRequest): number | null {
  let n = 0;
  for (const s of req.segments) {
    if (s.durationMs === null) return null;
    n += s.durationMs;
  }
  return n;
}

export interface PlayLogData {
  outcome: 'played' | 'refused' | 'interrupted' | 'failed';
  level: Level;
  source: PlayRequest['source'];
  programme?: string;
  emergency?: string;
  title?: string;
  start: string;
  end?: string;
  volume?: number;
  rule?: string;
  reason?: string;
  interruptedBy?: Level;
  /** How far into it the play got (ms of its content): less than end − start when it was suspended or cut and resumed in between. */
  playedMs?: number;
}

interface Playing {
  req: PlayRequest;
  /** When this run started, and from which offset into the request. */
  startedAt: number;
  fromMs: number;
  /** When the request first started playing (for the log of a resumed item). */
  firstStartedAt: number;
}

interface Suspended {
  req: PlayRequest;
  offsetMs: number;
  firstStartedAt: number;
  interruptedBy: Level;
  seq: number;
}

interface Waiting {
  req: PlayRequest;
  seq: number;
}

export interface ArbiterState {
  readonly playing: Playing | null;
  readonly waiting: readonly Waiting[];
  readonly suspended: readonly Suspended[];
  readonly clockTrusted: boolean;
  /** Arrival counter: first come, first served within a level. */
  readonly seq: number;
}

export const initialState = (clockTrusted: boolean): ArbiterState => ({ playing: null, waiting: [], suspended: [], clockTrusted, seq: 0 });

/** Where a request recovered after a restart was cut (device/recovery-plays.ts): it goes on from there, and its log keeps its first start. */
export interface Resume {
  offsetMs: number;
  firstStartedAt: number;
  interruptedBy?: Level;
  /** The last instant it was known to play (its end, if it cannot resume). */
  cutAt?: number;
}

export type ArbiterEvent =
  | { type: 'request'; req: PlayRequest; at: number; resume?: Resume }
  | { type: 'cancel'; id: string; at: number; reason: string }
  | { type: 'ended'; id: string; at: number }
  | { type: 'failed'; id: string; at: number; error: string }
  /** The clock's trust changed, or the agent's time was stepped by `shiftMs` (a beacon): instants held are moved with it. */
  | { type: 'clock'; trusted: boolean; at: number; shiftMs?: number }
  | { type: 'tick'; at: number };

export type Effect =
  /** Play `req` from `fromMs` into it, replacing whatever plays. */
  | { type: 'play'; req: PlayRequest; fromMs: number }
  /** Stop the output: nothing follows. */
  | { type: 'stop'; id: string }
  | { type: 'log'; data: PlayLogData };

const iso = (t: number) => new Date(t).toISOString();

function logOf(req: PlayRequest, outcome: PlayLogData['outcome'], start: number, extra: Partial<PlayLogData> = {}): Effect {
  const data: PlayLogData = { outcome, level: req.level, source: req.source, start: iso(start), ...extra };
  if (req.programme) data.programme = req.programme;
  if (req.emergency) data.emergency = req.emergency;
  if (req.title) data.title = req.title;
  return { type: 'log', data };
}

const open = (req: PlayRequest, at: number) => req.notAfter === null || at < req.notAfter;

/** How far into its content the playing request is at `at` (never past its length). */
function reached(p: Playing, at: number): number {
  const n = p.fromMs + Math.max(0, at - p.startedAt);
  const total = lengthMs(p.req);
  return Math.round(total === null ? n : Math.min(n, total));
}

export function step(state: ArbiterState, ev: ArbiterEvent): { state: ArbiterState; effects: Effect[] } {
  const effects: Effect[] = [];
  let s: ArbiterState = state;
  switch (ev.type) {
    case 'clock':
      s = { ...shiftState(s, ev.shiftMs ?? 0), clockTrusted: ev.trusted };
      break;
    case 'request': {
      const { req, at } = ev;
      if (ev.resume) {
        s = resumeRecovered(s, req, at, ev.resume, effects);
        break;
      }
      if (req.requiresTrustedClock && !s.clockTrusted) {
        effects.push(logOf(req, 'refused', at, { rule: 'clock-untrusted', reason: 'the clock is not known to be right (no NTP, RTC or time beacon yet)' }));
        break;
      }
      if (!open(req, at)) {
        effects.push(logOf(req, 'refused', at, { rule: 'window-closed', reason: `its window closed at ${iso(req.notAfter!)}` }));
        break;
      }
      const seq = s.seq + 1;
      s = { ...s, seq };
      const cur = s.playing;
      if (!cur) {
        s = { ...s, playing: { req, startedAt: at, fromMs: 0, firstStartedAt: at } };
        effects.push({ type: 'play', req, fromMs: 0 });
      } else if (RANK[req.level] > RANK[cur.req.level]) {
        s = suspendOrLog(s, cur, at, req.level, effects);
        s = { ...s, playing: { req, startedAt: at, fromMs: 0, firstStartedAt: at } };
        effects.push({ type: 'play', req, fromMs: 0 });
      } else {
        s = { ...s, waiting: [...s.waiting, { req, seq }] };
      }
      break;
    }
    case 'ended': {
      const cur = s.playing;
      if (!cur || cur.req.id !== ev.id) break;
      effects.push(logOf(cur.req, 'played', cur.firstStartedAt, { end: iso(ev.at), volume: cur.req.volume, playedMs: reached(cur, ev.at) }));
      s = next({ ...s, playing: null }, ev.at, effects);
      break;
    }
    case 'failed': {
      const cur = s.playing;
      if (!cur || cur.req.id !== ev.id) break;
      effects.push(logOf(cur.req, 'failed', cur.firstStartedAt, { end: iso(ev.at), reason: ev.error.slice(0, 500) }));
      s = next({ ...s, playing: null }, ev.at, effects);
      break;
    }
    case 'cancel': {
      const cur = s.playing;
      if (cur && cur.req.id === ev.id) {
        effects.push(logOf(cur.req, 'interrupted', cur.firstStartedAt, { end: iso(ev.at), volume: cur.req.volume, reason: ev.reason, playedMs: reached(cur, ev.at) }));
        s = { ...s, playing: null };
        const before = effects.length;
        s = next(s, ev.at, effects);
        if (!effects.slice(before).some((e) => e.type === 'play')) effects.push({ type: 'stop', id: ev.id });
        break;
      }
      const w = s.waiting.find((x) => x.req.id === ev.id);
      if (w) {
        effects.push(logOf(w.req, 'refused', ev.at, { rule: 'cancelled', reason: ev.reason }));
        s = { ...s, waiting: s.waiting.filter((x) => x !== w) };
      }
      const p = s.suspended.find((x) => x.req.id === ev.id);
      if (p) {
        effects.push(logOf(p.req, 'interrupted', p.firstStartedAt, { end: iso(ev.at), interruptedBy: p.interruptedBy, reason: ev.reason, playedMs: Math.round(p.offsetMs) }));
        s = { ...s, suspended: s.suspended.filter((x) => x !== p) };
      }
      break;
    }
    case 'tick': {
      const cur = s.playing;
      if (cur && cur.req.endBy !== null && ev.at >= cur.req.endBy) {
        // Cut short by the rules: it played what it was allowed to.
        effects.push(logOf(cur.req, 'played', cur.firstStartedAt, { end: iso(ev.at), volume: cur.req.volume, rule: 'quiet-hours', reason: 'stopped at the end of its allowed time', playedMs: reached(cur, ev.at) }));
        s = { ...s, playing: null };
        const before = effects.length;
        s = next(s, ev.at, effects);
        if (!effects.slice(before).some((e) => e.type === 'play')) effects.push({ type: 'stop', id: cur.req.id });
        break;
      }
      s = expire(s, ev.at, effects);
      if (!s.playing) s = next(s, ev.at, effects);
      break;
    }
  }
  return { state: s, effects };
}

/** The current item is cut by a higher level: keep it to resume, or log it as interrupted. */
function suspendOrLog(s: ArbiterState, cur: Playing, at: number, by: Level, effects: Effect[]): ArbiterState {
  const offsetMs = cur.fromMs + Math.max(0, at - cur.startedAt);
  const total = lengthMs(cur.req);
  if (cur.req.resumable && open(cur.req, at) && (total === null || offsetMs < total)) {
    return { ...s, playing: null, suspended: [...s.suspended, { req: cur.req, offsetMs, firstStartedAt: cur.firstStartedAt, interruptedBy: by, seq: s.seq }] };
  }
  effects.push(logOf(cur.req, 'interrupted', cur.firstStartedAt, { end: iso(at), volume: cur.req.volume, interruptedBy: by, playedMs: reached(cur, at) }));
  return { ...s, playing: null };
}

/** Drops what can no longer start: waiting items past their window, suspended items that cannot resume in time. */
function expire(s: ArbiterState, at: number, effects: Effect[]): ArbiterState {
  const waiting = s.waiting.filter((w) => {
    if (open(w.req, at)) return true;
    effects.push(logOf(w.req, 'refused', at, { rule: 'overlap', reason: 'its window closed while a higher or earlier item played' }));
    return false;
  });
  const suspended = s.suspended.filter((p) => {
    if (open(p.req, at)) return true;
    effects.push(logOf(p.req, 'interrupted', p.firstStartedAt, { end: iso(at), interruptedBy: p.interruptedBy, reason: 'its window closed before it could resume', playedMs: Math.round(p.offsetMs) }));
    return false;
  });
  return waiting.length === s.waiting.length && suspended.length === s.suspended.length ? s : { ...s, waiting, suspended };
}

/** Nothing plays: start the highest waiting or suspended item, earliest first within a level (suspended before waiting: it came first). */
function next(state: ArbiterState, at: number, effects: Effect[]): ArbiterState {
  let s = expire(state, at, effects);
  type Cand = { kind: 'waiting'; w: Waiting } | { kind: 'suspended'; p: Suspended };
  const cands: Cand[] = [...s.suspended.map((p) => ({ kind: 'suspended' as const, p })), ...s.waiting.map((w) => ({ kind: 'waiting' as const, w }))];
  const rank = (c: Cand) => RANK[(c.kind === 'waiting' ? c.w : c.p).req.level];
  const seq = (c: Cand) => (c.kind === 'waiting' ? c.w.seq : c.p.seq);
  cands.sort((a, b) => rank(b) - rank(a) || (a.kind === b.kind ? seq(a) - seq(b) : a.kind === 'suspended' ? -1 : 1));
  const c = cands[0];
  if (!c) return s;
  if (c.kind === 'waiting') {
    const { req } = c.w;
    s = { ...s, waiting: s.waiting.filter((x) => x !== c.w), playing: { req, startedAt: at, fromMs: 0, firstStartedAt: at } };
    effects.push({ type: 'play', req, fromMs: 0 });
  } else {
    const { req, offsetMs, firstStartedAt } = c.p;
    s = { ...s, suspended: s.suspended.filter((x) => x !== c.p), playing: { req, startedAt: at, fromMs: offsetMs, firstStartedAt } };
    effects.push({ type: 'play', req, fromMs: offsetMs });
  }
  return s;
}

/**
 * Moves every instant the state holds by `ms`: the agent's time was stepped
 * (a beacon corrected it), so what started "at 10:05" by the old time
 * started at 07:05 by the new one, and offsets stay what was really played.
 */
function shiftState(s: ArbiterState, ms: number): ArbiterState {
  if (!ms) return s;
  const p = s.playing;
  return {
    ...s,
    playing: p ? { ...p, startedAt: p.startedAt + ms, firstStartedAt: p.firstStartedAt + ms } : null,
    suspended: s.suspended.map((x) => ({ ...x, firstStartedAt: x.firstStartedAt + ms })),
  };
}

/**
 * A request cut by a restart: it joins as if it had been suspended (it came
 * first), so it plays on from its offset when nothing higher plays, or waits
 * among the suspended; past its window it is logged as interrupted.
 */
function resumeRecovered(state: ArbiterState, req: PlayRequest, at: number, r: Resume, effects: Effect[]): ArbiterState {
  const total = lengthMs(req);
  if (req.requiresTrustedClock && !state.clockTrusted) {
    effects.push(logOf(req, 'interrupted', r.firstStartedAt, { end: iso(r.cutAt ?? at), volume: req.volume, rule: 'clock-untrusted', reason: 'cut by a restart of the agent; the clock is not known to be right, so it cannot resume', playedMs: Math.round(r.offsetMs) }));
    return state;
  }
  if (!open(req, at) || (total !== null && r.offsetMs >= total)) {
    const reason = open(req, at) ? 'cut by a restart of the agent at its very end' : 'cut by a restart of the agent; its window closed before it could resume';
    effects.push(logOf(req, 'interrupted', r.firstStartedAt, { end: iso(r.cutAt ?? at), volume: req.volume, reason, playedMs: Math.round(total === null ? r.offsetMs : Math.min(r.offsetMs, total)), ...(r.interruptedBy ? { interruptedBy: r.interruptedBy } : {}) }));
    return state;
  }
  const seq = state.seq + 1;
  let s: ArbiterState = { ...state, seq, suspended: [...state.suspended, { req, offsetMs: r.offsetMs, firstStartedAt: r.firstStartedAt, interruptedBy: r.interruptedBy ?? req.level, seq: 0 }] };
  const cur = s.playing;
  if (!cur) return next(s, at, effects);
  if (RANK[req.level] > RANK[cur.req.level]) {
    s = suspendOrLog(s, cur, at, req.level, effects);
    return next(s, at, effects);
  }
  return s;
}
