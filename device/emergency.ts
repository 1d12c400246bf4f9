import type { ErrorCode } from '../protocol/errors.js';
import { zoneContains } from '../protocol/ids.js';
import type { EmergencyCommand, EmergencyStart } from '../protocol/payloads.js';
import type { PlayRequest, Segment, Tone } from './arbiter.js';

// Emergency commands on the device, after their dispatch signature verified
// (protocol/codec.ts decodeSigned with the bundle's dispatch keys): the
// checks DESIGN.md "Emergency" lists, and the play request they become.
// Pure: time and the set of ids already seen come in as values.

export interface CommandContext {
  deviceId: string;
  zone: string;
  seen: (id: string) => boolean;
}

/**
 * What the device knows about the time when it judges a command:
 * - `clock`: its clock is trusted; `now` is the time now and `receivedAt`
 *   the time the command arrived (earlier when it was held);
 * - `floor`: not trusted, but it knows the time is at least `floor` (a
 *   beacon, a signed payload, the floor stored before a restart), or nothing.
 */
export type TimeKnowledge = { kind: 'clock'; now: number; receivedAt: number } | { kind: 'floor'; floor: number | null };

export type Admission = { ok: true } | { ok: false; code: ErrorCode; reason: string };

export function inScope(cmd: EmergencyCommand, deviceId: string, zone: string): boolean {
  return cmd.scope.devices.includes(deviceId) || cmd.scope.zones.some((z) => zoneContains(z, zone));
}

/** The checks that need no clock: consistency, scope, an id seen before. */
export function checkCommand(cmd: EmergencyCommand, ctx: CommandContext): Admission {
  const issued = Date.parse(cmd.issuedAt);
  const expires = Date.parse(cmd.expiresAt);
  if (!(expires > issued)) return { ok: false, code: 'LOA_E_EMERGENCY_INVALID', reason: `expiresAt ${cmd.expiresAt} is not after issuedAt ${cmd.issuedAt}` };
  if (!inScope(cmd, ctx.deviceId, ctx.zone)) return { ok: false, code: 'LOA_E_EMERGENCY_SCOPE', reason: `scope ${JSON.stringify(cmd.scope)} does not include device ${ctx.deviceId} in ${ctx.zone}` };
  if (ctx.seen(cmd.id)) return { ok: false, code: 'LOA_E_EMERGENCY_REPLAYED', reason: `command ${cmd.id} was received before` };
  return { ok: true };
}

/**
 * The time checks (docs/reliability.md "Time"). With a trusted clock: not
 * expired now, not issued further ahead of its arrival than the allowed
 * skew. Without one, an untrusted clock must never turn a stale command into
 * a live one, so the command is refused when it expired before a time the
 * device knows has passed; otherwise it plays (an emergency must sound even
 * then), and the ack says how little was checked.
 */
export function checkTime(cmd: EmergencyCommand, time: TimeKnowledge, skewMs: number): Admission {
  const expires = Date.parse(cmd.expiresAt);
  if (time.kind === 'floor') {
    if (time.floor !== null && time.floor >= expires) return { ok: false, code: 'LOA_E_EMERGENCY_EXPIRED', reason: `expired at ${cmd.expiresAt}; this device's clock is not set, but it knows the time is past ${new Date(time.floor).toISOString()}` };
    return { ok: true };
  }
  if (time.now >= expires) return { ok: false, code: 'LOA_E_EMERGENCY_EXPIRED', reason: `expired at ${cmd.expiresAt}` };
  const issued = Date.parse(cmd.issuedAt);
  if (issued > time.receivedAt + skewMs) return { ok: false, code: 'LOA_E_EMERGENCY_FUTURE', reason: `issued at ${cmd.issuedAt}, more than ${skewMs} ms ahead of this device's clock` };
  return { ok: true };
}

/** A sliding-window limit on emergency starts: a flood of valid commands must not keep the horns screaming. */
export class EmergencyRateLimit {
  #times: number[] = [];
  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {}
  admit(now: number): boolean {
    this.#times = this.#times.filter((t) => now - t < this.windowMs);
    if (this.#times.length >= this.max) return false;
    this.#times.push(now);
    return true;
  }
}

const TONE_MS: Record<Tone, number> = { chime: 3000, alert: 3000, siren: 10_000, drill: 4000, test: 4000 };

/**
 * What an emergency plays: the alert tone at once (from memory: it never waits
 * on a download), the drill or test preamble in exercise and test modes, then
 * the content; all of it `repeat` times.
 */
/** Where an emergency cut by a restart plays again from: the start of the repetition it was in (its alert tone), so the message is heard whole. */
export function restartPoint(req: PlayRequest, offsetMs: number): number {
  let at = 0;
  let point = 0;
  for (const s of req.segments) {
    if (at > offsetMs) break;
    if (s.kind === 'tone' && s.tone === 'alert') point = at;
    if (s.durationMs === null) break;
    at += s.durationMs;
  }
  return point;
}

export function emergencyRequest(cmd: EmergencyStart, volume: number, hasAsset: (sha256: string) => boolean, clockTrusted: boolean): PlayRequest {
  const content: Segment[] = [];
  switch (cmd.content.kind) {
    case 'standard': {
      const tone: Tone = cmd.content.clip === 'siren' ? 'siren' : cmd.content.clip === 'chime' ? 'chime' : cmd.content.clip === 'drill-preamble' ? 'drill' : 'alert';
      content.push({ kind: 'tone', tone, durationMs: TONE_MS[tone] });
      break;
    }
    case 'asset':
    case 'tts': {
      const a = cmd.content.asset;
      // Not whole yet: the player fills with the siren until the clip is (device/playback.ts).
      content.push({ kind: 'asset', sha256: a.sha256, durationMs: a.durationMs });
      if (!hasAsset(a.sha256)) content.unshift({ kind: 'tone', tone: 'siren', durationMs: TONE_MS.siren });
      break;
    }
    case 'live':
      content.push({ kind: 'stream', url: cmd.content.url, durationMs: null });
      break;
  }
  const once: Segment[] = [{ kind: 'tone', tone: 'alert', durationMs: TONE_MS.alert }];
  if (cmd.mode === 'exercise') once.push({ kind: 'tone', tone: 'drill', durationMs: TONE_MS.drill });
  if (cmd.mode === 'test') once.push({ kind: 'tone', tone: 'test', durationMs: TONE_MS.test });
  once.push(...content);
  const segments: Segment[] = [];
  for (let i = 0; i < cmd.repeat; i++) segments.push(...once);
  const drill = cmd.mode === 'actual' ? '' : cmd.mode === 'exercise' ? 'DIỄN TẬP — ' : 'THỬ NGHIỆM — ';
  return {
    id: cmd.id,
    level: 'emergency',
    source: 'emergency',
    title: `${drill}${cmd.title ?? `Cảnh báo cấp ${cmd.level}`}`.slice(0, 200),
    segments,
    volume,
    resumable: false,
    // With an untrusted clock the expiry cannot be judged here (checkTime() did what it could).
    notAfter: clockTrusted ? Date.parse(cmd.expiresAt) : null,
    endBy: null,
    requiresTrustedClock: false,
    emergency: cmd.id,
  };
}
