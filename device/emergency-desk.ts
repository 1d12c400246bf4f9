import type { Logger } from '../lib/log.js';
import { decodeSigned, parseJson } from '../protocol/codec.js';
import { isLoaError, reasonOf, type ErrorCode } from '../protocol/errors.js';
import { EmergencyCommand, Uuid, type AssetRef, type EmergencyStart, type LogRecord } from '../protocol/payloads.js';
import type { Verifier } from '../protocol/signing.js';
import type { ArbiterEvent, PlayLogData } from './arbiter.js';
import { checkCommand, checkTime, emergencyRequest, EmergencyRateLimit, inScope, restartPoint, type Admission, type TimeKnowledge } from './emergency.js';
import type { ActiveEmergencyRow, DeviceStore, InflightRow } from './store.js';

// Where emergency commands arrive on the device: verify the dispatch
// signature, judge the command (device/emergency.ts), report the decision at
// once through the outbox, remember the id so it is never acted on twice,
// and hand the play request to the arbiter. A cancel, signed the same way,
// stops it at once.
//
// Time (docs/reliability.md "Time"): with a trusted clock a command is
// judged at once. Without one it is held — the agent asks the province for
// the time, which on a working link comes within a second or two — and
// judged when the clock is trusted, by the time it arrived; after `holdMs`
// without, it is judged against the time the device knows has passed
// (checkTime), and plays unless that proves it stale.
//
// Every command admitted or held is kept (emergency_active) until it is over,
// in the same transaction as its ack: a crash or a power cut in the middle
// of an alert replays it from the start of the repetition it was in, if it
// is still valid when the agent is back. None of this depends on the store
// being healthy: a full disk keeps ids and acks in memory (device/store.ts).

export interface DeskClock {
  readonly trusted: boolean;
  now(): number;
  /** The agent's time at an earlier monotonic instant. */
  timeAt(mono: number): number;
  /** A time known to have passed, or null. */
  floor(): number | null;
}

export interface EmergencyDeskDeps {
  deviceId: string;
  zone: string;
  verifier: Verifier;
  store: DeviceStore;
  clock: DeskClock;
  /** The system monotonic clock (ms) and this boot's id: a held command's arrival is judged by them after a restart too. */
  mono: () => number;
  boot: string;
  /** The zone's emergency volume (rule profiles), 0–100. */
  volume: () => number;
  hasAsset: (sha256: string) => boolean;
  fetchNow: (asset: AssetRef, untilMs: number) => void;
  dispatch: (ev: ArbiterEvent) => void;
  /**
   * Records events for the province in one transaction with `disk` (what the
   * store must hold with them); when the store cannot write, the records are
   * kept in memory and `memory` runs instead.
   */
  commit: (records: { kind: LogRecord['kind']; data: LogRecord['data'] }[], also?: { disk: () => void; memory: () => void }) => void;
  /** Ask the province for the time (device/clock.ts). */
  askTime: () => void;
  /** How long a command waits for a trusted clock before it is judged by the floor. */
  holdMs: number;
  skewMs: number;
  rate: EmergencyRateLimit;
  log: Logger;
}

/** A command recovered after a restart: whether its 'received' ack went out, and where it was cut if it had sounded. */
interface Recovered {
  acked: boolean;
  resume: { offsetMs: number; firstStartedAt: number } | null;
}

interface Held {
  cmd: EmergencyStart;
  receivedMono: number;
  timer: NodeJS.Timeout;
  rec: Recovered | null;
}

/** An admitted command whose time was only checked against the floor: judged again once the clock is trusted. */
interface Unchecked {
  cmd: EmergencyStart;
}

export class EmergencyDesk {
  readonly #d: EmergencyDeskDeps;
  readonly #log: Logger;
  readonly #held = new Map<string, Held>();
  readonly #unchecked = new Map<string, Unchecked>();

  constructor(deps: EmergencyDeskDeps) {
    this.#d = deps;
    this.#log = deps.log.child({ mod: 'emergency' });
  }

  get holding(): number {
    return this.#held.size;
  }

  stop(): void {
    for (const h of this.#held.values()) clearTimeout(h.timer);
    this.#held.clear();
  }

  #iso(t = this.#d.clock.now()): string {
    return new Date(t).toISOString();
  }

  static #ack(emergency: string, status: 'received' | 'playing' | 'finished' | 'cancelled' | 'rejected', code?: ErrorCode, reason?: string) {
    return { kind: 'emergency-ack' as const, data: { emergency, status, ...(code ? { code } : {}), ...(reason ? { reason: reason.slice(0, 500) } : {}) } };
  }

  /** The alert sounds (the sink started it). */
  onPlaying(id: string): void {
    this.#d.commit([EmergencyDesk.#ack(id, 'playing')]);
  }

  /**
   * The ack that ends an emergency, for the play-log record that ends it
   * (played → finished, interrupted or refused → cancelled, failed →
   * rejected): written by the agent in the same transaction as that record
   * and the removal from emergency_active, so a crash can neither lose the
   * end nor play a finished alert again.
   */
  static endingAck(log: PlayLogData): { kind: 'emergency-ack'; data: LogRecord['data'] } | null {
    if (!log.emergency) return null;
    if (log.outcome === 'played') return EmergencyDesk.#ack(log.emergency, 'finished');
    if (log.outcome === 'failed') return EmergencyDesk.#ack(log.emergency, 'rejected', 'LOA_E_AUDIO_INVALID', log.reason);
    return EmergencyDesk.#ack(log.emergency, 'cancelled', undefined, log.reason);
  }

  /** An emergency is over (its ending ack is written): forget what was kept about it. */
  ended(id: string): void {
    this.#unchecked.delete(id);
  }

  /** Whether a command is held, waiting for the time. */
  isHolding(id: string): boolean {
    return this.#held.has(id);
  }

  #reject(id: string | null, code: ErrorCode, reason: string, opts: { seen?: EmergencyStart; active?: boolean } = {}): void {
    this.#log.warn({ emergency: id, code, reason }, 'emergency command rejected; output unchanged');
    if (!id) return;
    const play: PlayLogData = { outcome: 'refused', level: 'emergency', source: 'emergency', emergency: id, start: this.#iso(), rule: code, reason: reason.slice(0, 500) };
    const seen = opts.seen;
    this.#d.commit([EmergencyDesk.#ack(id, 'rejected', code, reason), { kind: 'play', data: play }], {
      disk: () => {
        // A copy delivered again (QoS 1 after a reconnect) is then a replay, whatever the clock says by then.
        if (seen) this.#d.store.markEmergencySeen(seen.id, this.#iso(), seen.expiresAt);
        if (opts.active) this.#d.store.removeActiveEmergency(id);
      },
      memory: () => {
        if (seen) this.#d.store.holdEmergencySeen(seen.id, this.#iso(), seen.expiresAt);
      },
    });
  }

  handle(payload: Buffer): void {
    let cmd: EmergencyCommand;
    try {
      cmd = decodeSigned('zone-emergency', 'emergency', EmergencyCommand, payload, this.#d.verifier).payload;
    } catch (e) {
      // Report the id it claims, when it has one: the province should know someone sends forged commands.
      const claimed = claimedId(payload);
      return this.#reject(claimed, isLoaError(e) ? e.code : 'LOA_E_PAYLOAD_SCHEMA', reasonOf(e));
    }
    if (cmd.type === 'cancel') return this.#cancel(cmd.id, cmd.cancels, cmd.expiresAt, inScope(cmd, this.#d.deviceId, this.#d.zone));
    const c = checkCommand(cmd, { deviceId: this.#d.deviceId, zone: this.#d.zone, seen: (id) => this.#held.has(id) || this.#d.store.hasSeenEmergency(id) });
    // A replay is reported too (with its own code, so the province's roll-up can tell it from the first arrival).
    if (!c.ok) return this.#reject(cmd.id, c.code, c.reason);
    const receivedMono = this.#d.mono();
    if (this.#d.clock.trusted) return this.#judge(cmd, receivedMono, null, 'clock');
    this.#hold(cmd, receivedMono, null);
  }

  #cancel(cancelId: string, target: string, expiresAt: string, mine: boolean): void {
    if (!mine) return; // someone else's cancel
    this.#log.info({ emergency: target, cancel: cancelId }, 'emergency cancelled by dispatch');
    const held = this.#held.get(target);
    const at = this.#iso();
    this.#d.commit(
      held ? [EmergencyDesk.#ack(target, 'cancelled', undefined, `cancelled by dispatch (${cancelId}) before it played`), { kind: 'play', data: { outcome: 'refused', level: 'emergency', source: 'emergency', emergency: target, start: at, rule: 'cancelled', reason: `cancelled by dispatch (${cancelId})` } satisfies PlayLogData }] : [],
      {
        disk: () => {
          this.#d.store.markEmergencySeen(cancelId, at, expiresAt);
          if (held) this.#d.store.removeActiveEmergency(target);
        },
        memory: () => this.#d.store.holdEmergencySeen(cancelId, at, expiresAt),
      },
    );
    if (held) {
      clearTimeout(held.timer);
      this.#held.delete(target);
      return;
    }
    this.#d.dispatch({ type: 'cancel', id: target, at: this.#d.clock.now(), reason: `cancelled by dispatch (${cancelId})` });
  }

  /** Keeps a command until the clock is trusted (onClock()) or `holdMs` has passed, and asks for the time. */
  #hold(cmd: EmergencyStart, receivedMono: number, rec: Recovered | null): void {
    if (this.#held.has(cmd.id)) return;
    const timer = setTimeout(() => this.#release(cmd.id), Math.max(0, this.#d.holdMs - (this.#d.mono() - receivedMono)));
    this.#held.set(cmd.id, { cmd, receivedMono, timer, rec });
    if (!rec) {
      // Seen, and kept for a restart, before it is judged: a copy delivered meanwhile is a replay, a crash does not lose it.
      const row: ActiveEmergencyRow = { id: cmd.id, command: JSON.stringify(cmd), receivedMono, boot: this.#d.boot, timeChecked: 'held' };
      this.#d.commit([], { disk: () => this.#d.store.setActiveEmergency(row), memory: () => {} });
    }
    this.#log.warn({ emergency: cmd.id, holdMs: this.#d.holdMs }, 'emergency held: the clock is not known to be right yet; asking the province for the time');
    this.#d.askTime();
  }

  #release(id: string): void {
    const h = this.#held.get(id);
    if (!h) return;
    this.#held.delete(id);
    clearTimeout(h.timer);
    this.#judge(h.cmd, h.receivedMono, h.rec, this.#d.clock.trusted ? 'clock' : 'floor');
  }

  /** The clock's trust may have changed: held commands are judged now; those admitted on the floor alone are judged again. */
  onClock(): void {
    if (!this.#d.clock.trusted) return;
    for (const id of [...this.#held.keys()]) this.#release(id);
    for (const [id, u] of this.#unchecked) {
      this.#unchecked.delete(id);
      const now = this.#d.clock.now();
      if (now >= Date.parse(u.cmd.expiresAt)) {
        this.#log.warn({ emergency: id }, 'emergency stopped: the clock, learned after it started, says it had expired');
        this.#d.dispatch({ type: 'cancel', id, at: now, reason: `expired at ${u.cmd.expiresAt} (the clock was learned after it started)` });
      }
    }
  }

  #judge(cmd: EmergencyStart, receivedMono: number, rec: Recovered | null, how: 'clock' | 'floor'): void {
    const time: TimeKnowledge = how === 'clock' ? { kind: 'clock', now: this.#d.clock.now(), receivedAt: this.#d.clock.timeAt(receivedMono) } : { kind: 'floor', floor: this.#d.clock.floor() };
    const t: Admission = checkTime(cmd, time, this.#d.skewMs);
    const resume = rec?.resume ?? null;
    if (!t.ok) {
      if (rec?.acked) return this.#endRecovered(cmd, resume, `the agent restarted before it was over; ${t.reason}`);
      return this.#reject(cmd.id, t.code, t.reason, { seen: cmd, active: true });
    }
    const now = this.#d.clock.now();
    if (!rec?.acked && !this.#d.rate.admit(now)) return this.#reject(cmd.id, 'LOA_E_EMERGENCY_RATE', `more than ${this.#d.rate.max} emergencies within ${this.#d.rate.windowMs / 1000} s`, { seen: cmd, active: true });
    const trusted = how === 'clock';
    const req = emergencyRequest(cmd, this.#d.volume(), this.#d.hasAsset, trusted);
    const row: ActiveEmergencyRow = { id: cmd.id, command: JSON.stringify(cmd), receivedMono, boot: this.#d.boot, timeChecked: how };
    const note = trusted ? undefined : `clock untrusted: checked only against a time known to have passed (${time.kind === 'floor' && time.floor !== null ? new Date(time.floor).toISOString() : 'none'})`;
    this.#d.commit(rec?.acked ? [] : [EmergencyDesk.#ack(cmd.id, 'received', undefined, note)], {
      disk: () => {
        this.#d.store.markEmergencySeen(cmd.id, this.#iso(), cmd.expiresAt);
        this.#d.store.setActiveEmergency(row);
      },
      memory: () => this.#d.store.holdEmergencySeen(cmd.id, this.#iso(), cmd.expiresAt),
    });
    if (!trusted) this.#unchecked.set(cmd.id, { cmd });
    if ((cmd.content.kind === 'asset' || cmd.content.kind === 'tts') && !this.#d.hasAsset(cmd.content.asset.sha256)) {
      this.#d.fetchNow(cmd.content.asset, Math.max(Date.parse(cmd.expiresAt), now + 3600_000));
    }
    // Not `level`: pino's own field; a second one would make readers take this warning for level 3.
    this.#log.warn({ emergency: cmd.id, mode: cmd.mode, riskLevel: cmd.level, repeat: cmd.repeat, content: cmd.content.kind, timeChecked: how, resumed: !!resume }, 'EMERGENCY: playing');
    if (resume) {
      const offsetMs = restartPoint(req, resume.offsetMs);
      this.#d.dispatch({ type: 'request', req, at: now, resume: { offsetMs, firstStartedAt: resume.firstStartedAt, interruptedBy: 'emergency' } });
    } else this.#d.dispatch({ type: 'request', req, at: now });
  }

  /** A recovered emergency that may not play again: its cut play (or that it never played) is reported, its ack closes it. */
  #endRecovered(cmd: EmergencyStart, resume: Recovered['resume'], reason: string): void {
    this.#log.warn({ emergency: cmd.id, reason }, 'emergency cut by a restart is not resumed');
    const title = emergencyRequest(cmd, 0, () => true, true).title!;
    const play: PlayLogData = resume
      ? { outcome: 'interrupted', level: 'emergency', source: 'emergency', emergency: cmd.id, title, start: new Date(resume.firstStartedAt).toISOString(), end: this.#iso(), reason: reason.slice(0, 500), playedMs: Math.round(resume.offsetMs) }
      : { outcome: 'refused', level: 'emergency', source: 'emergency', emergency: cmd.id, title, start: this.#iso(), rule: 'restart', reason: reason.slice(0, 500) };
    this.#d.commit([{ kind: 'play', data: play }, EmergencyDesk.#ack(cmd.id, 'cancelled', undefined, reason)], { disk: () => this.#d.store.removeActiveEmergency(cmd.id), memory: () => {} });
  }

  /**
   * After a restart: every emergency that was held or playing is judged
   * again (held until the clock is trusted, like a new arrival) and, when it
   * is still valid, played again from the start of the repetition it was cut
   * in. `inflight` says how far each had played.
   */
  recover(rows: readonly ActiveEmergencyRow[], inflight: readonly InflightRow[]): number {
    let n = 0;
    for (const row of rows) {
      let cmd: EmergencyStart;
      try {
        cmd = JSON.parse(row.command) as EmergencyStart;
      } catch {
        continue;
      }
      const played = inflight.find((r) => r.id === cmd.id && r.firstStartedAt);
      const rec: Recovered = { acked: row.timeChecked !== 'held', resume: played ? { offsetMs: played.offsetMs, firstStartedAt: Date.parse(played.firstStartedAt!) } : null };
      // Same boot: the monotonic clock still says when it arrived. Another boot: judged by the floor or the clock at recovery.
      const receivedMono = row.boot === this.#d.boot ? row.receivedMono : this.#d.mono();
      n++;
      if (this.#d.clock.trusted) this.#judge(cmd, receivedMono, rec, 'clock');
      else this.#hold(cmd, receivedMono, rec);
    }
    return n;
  }
}

function claimedId(payload: Buffer): string | null {
  try {
    const id = (parseJson(payload, 'emergency') as { payload?: { id?: unknown } }).payload?.id;
    return Uuid.safeParse(id).success ? (id as string) : null;
  } catch {
    return null;
  }
}
