import type { ErrorCode } from '../protocol/errors.js';
import { zoneContains } from '../protocol/ids.js';
import type { EmergencyCommand, EmergencyStart } from '../protocol/payloads.js';
import type { PlayRequest, Segment, Tone } from './arbiter.js';

// Emergency commands on the device, after their dispatch signature verified
// (protocol/codec.ts decodeSigned with the bundle's dispatch keys): the
// checks DESIGN.md "Emergency" lists, and the play request they become.
// Pure: time and the set of ids already seen come in as values.

export interface AdmitContext {
  deviceId: string;
  zone: string;
  now: number;
  /** How far in the future `issuedAt` may lie (clocks of province and village differ a little). */
  skewMs: number;
  /** Whether the device's clock is known to be right; when not, the time checks cannot be made. */
  clockTrusted: boolean;
  seen: (id: string) => boolean;
}

export type Admission = { ok: true; timeChecked: boolean } | { ok: false; code: ErrorCode; reason: string };

export function inScope(cmd: EmergencyCommand, deviceId: string, zone: string): boolean {
  return cmd.scope.devices.includes(deviceId) || cmd.scope.zones.some((z) => zoneContains(z, zone));
}

/**
 * Decides whether a verified command may act on this device. With an
 * untrusted clock (a Pi without RTC before NTP), expiry and issued-at cannot
 * be judged: the command is admitted on signature, scope and id alone — an
 * emergency must sound even then — and the ack says the time was not checked.
 */
export function admitEmergency(cmd: EmergencyCommand, ctx: AdmitContext): Admission {
  const issued = Date.parse(cmd.issuedAt);
  const expires = Date.parse(cmd.expiresAt);
  if (!(expires > issued)) return { ok: false, code: 'LOA_E_EMERGENCY_INVALID', reason: `expiresAt ${cmd.expiresAt} is not after issuedAt ${cmd.issuedAt}` };
  if (!inScope(cmd, ctx.deviceId, ctx.zone)) return { ok: false, code: 'LOA_E_EMERGENCY_SCOPE', reason: `scope ${JSON.stringify(cmd.scope)} does not include device ${ctx.deviceId} in ${ctx.zone}` };
  if (ctx.seen(cmd.id)) return { ok: false, code: 'LOA_E_EMERGENCY_REPLAYED', reason: `command ${cmd.id} was received before` };
  if (!ctx.clockTrusted) return { ok: true, timeChecked: false };
  if (ctx.now >= expires) return { ok: false, code: 'LOA_E_EMERGENCY_EXPIRED', reason: `expired at ${cmd.expiresAt}` };
  if (issued > ctx.now + ctx.skewMs) return { ok: false, code: 'LOA_E_EMERGENCY_FUTURE', reason: `issued at ${cmd.issuedAt}, more than ${ctx.skewMs} ms ahead of this device's clock` };
  return { ok: true, timeChecked: true };
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
    // With an untrusted clock the expiry cannot be judged (see admitEmergency).
    notAfter: clockTrusted ? Date.parse(cmd.expiresAt) : null,
    endBy: null,
    requiresTrustedClock: false,
    emergency: cmd.id,
  };
}
