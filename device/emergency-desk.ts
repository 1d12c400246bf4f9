import type { Logger } from '../lib/log.js';
import { decodeSigned, parseJson } from '../protocol/codec.js';
import { isLoaError, reasonOf, type ErrorCode } from '../protocol/errors.js';
import { EmergencyCommand, Uuid, type AssetRef, type LogRecord } from '../protocol/payloads.js';
import type { Verifier } from '../protocol/signing.js';
import type { ArbiterEvent, PlayLogData } from './arbiter.js';
import { admitEmergency, emergencyRequest, EmergencyRateLimit, inScope } from './emergency.js';
import type { DeviceStore } from './store.js';

// Where emergency commands arrive on the device: verify the dispatch
// signature, admit or reject (reported at once through the outbox), remember
// the id so it is never acted on twice, and hand the play request to the
// arbiter. A cancel, signed the same way, stops it at once.

export interface EmergencyDeskDeps {
  deviceId: string;
  zone: string;
  verifier: Verifier;
  store: DeviceStore;
  now: () => number;
  clockTrusted: () => boolean;
  /** The zone's emergency volume (rule profiles), 0–100. */
  volume: () => number;
  hasAsset: (sha256: string) => boolean;
  fetchNow: (asset: AssetRef, untilMs: number) => void;
  dispatch: (ev: ArbiterEvent) => void;
  /** Writes outbox records; `tx` puts them in the same transaction as marking the id seen. */
  record: (kind: LogRecord['kind'], data: LogRecord['data']) => void;
  skewMs: number;
  rate: EmergencyRateLimit;
  log: Logger;
}

export class EmergencyDesk {
  readonly #d: EmergencyDeskDeps;
  readonly #log: Logger;

  constructor(deps: EmergencyDeskDeps) {
    this.#d = deps;
    this.#log = deps.log.child({ mod: 'emergency' });
  }

  #ack(emergency: string, status: 'received' | 'playing' | 'finished' | 'cancelled' | 'rejected', code?: ErrorCode, reason?: string): void {
    this.#d.record('emergency-ack', { emergency, status, ...(code ? { code } : {}), ...(reason ? { reason: reason.slice(0, 500) } : {}) });
  }

  /** Status changes reported by the player. */
  onPlayer(id: string, status: 'playing' | 'finished' | 'cancelled' | 'failed', reason?: string): void {
    this.#ack(id, status === 'failed' ? 'rejected' : status, status === 'failed' ? 'LOA_E_AUDIO_INVALID' : undefined, reason);
  }

  #reject(id: string | null, code: ErrorCode, reason: string): void {
    this.#log.warn({ emergency: id, code, reason }, 'emergency command rejected; output unchanged');
    if (!id) return;
    const at = new Date(this.#d.now()).toISOString();
    const play: PlayLogData = { outcome: 'refused', level: 'emergency', source: 'emergency', emergency: id, start: at, rule: code, reason: reason.slice(0, 500) };
    this.#d.store.tx(() => {
      this.#ack(id, 'rejected', code, reason);
      this.#d.record('play', play);
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
    const now = this.#d.now();
    const trusted = this.#d.clockTrusted();
    if (cmd.type === 'cancel') {
      if (!inScope(cmd, this.#d.deviceId, this.#d.zone)) return; // someone else's cancel
      this.#log.info({ emergency: cmd.cancels, cancel: cmd.id }, 'emergency cancelled by dispatch');
      this.#d.store.tx(() => this.#d.store.markEmergencySeen(cmd.id, new Date(now).toISOString(), cmd.expiresAt));
      this.#d.dispatch({ type: 'cancel', id: cmd.cancels, at: now, reason: `cancelled by dispatch (${cmd.id})` });
      return;
    }
    const a = admitEmergency(cmd, { deviceId: this.#d.deviceId, zone: this.#d.zone, now, skewMs: this.#d.skewMs, clockTrusted: trusted, seen: (id) => this.#d.store.hasSeenEmergency(id) });
    // A replay is reported too (with its own code, so the province's roll-up can tell it from the first arrival).
    if (!a.ok) return this.#reject(cmd.id, a.code, a.reason);
    if (!this.#d.rate.admit(now)) return this.#reject(cmd.id, 'LOA_E_EMERGENCY_RATE', `more than ${this.#d.rate.max} emergencies within ${this.#d.rate.windowMs / 1000} s`);
    const req = emergencyRequest(cmd, this.#d.volume(), this.#d.hasAsset, trusted);
    this.#d.store.tx(() => {
      this.#d.store.markEmergencySeen(cmd.id, new Date(now).toISOString(), cmd.expiresAt);
      this.#ack(cmd.id, 'received', undefined, a.timeChecked ? undefined : 'clock untrusted: expiry and issued-at not checked');
    });
    if ((cmd.content.kind === 'asset' || cmd.content.kind === 'tts') && !this.#d.hasAsset(cmd.content.asset.sha256)) {
      this.#d.fetchNow(cmd.content.asset, Math.max(Date.parse(cmd.expiresAt), now + 3600_000));
    }
    this.#log.warn({ emergency: cmd.id, mode: cmd.mode, level: cmd.level, repeat: cmd.repeat, content: cmd.content.kind }, 'EMERGENCY: playing');
    this.#d.dispatch({ type: 'request', req, at: now });
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
