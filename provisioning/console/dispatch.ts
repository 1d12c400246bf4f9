import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import type { Logger } from '../../lib/log.js';
import type { Db } from '../../lib/sqlite.js';
import { encodeSigned, parseWith } from '../../protocol/codec.js';
import { LoaError } from '../../protocol/errors.js';
import { Slug, ZonePath, zoneContains } from '../../protocol/ids.js';
import { EmergencyCommand, Text, type AssetRef, type EmergencyCancel, type EmergencyStart, type LogBatch } from '../../protocol/payloads.js';
import { Signer } from '../../protocol/signing.js';
import { topics } from '../../protocol/topics.js';
import type { AssetLibrary } from '../library.js';
import type { Registry } from '../registry.js';
import type { Reports } from '../reports.js';
import { allInScope, can, type Principal } from './access.js';

// Emergency dispatch at the province. An exercise or a test goes out when the
// dispatcher sends it; an actual emergency, and any cancel of one, waits
// until a second account with the approver role approves it (never the one
// who composed it). Commands are signed with the dispatch key at the moment
// they are sent, with a fresh issued-at. The roll-up per zone counts each
// device's latest ack — latest in the device's own sequence, not by its
// clock: received, playing, finished, cancelled, rejected — or silent.
// The dispatches table is this module's: its SQL lives here alone, on the
// registry's connection (Registry.openStore), so a dispatch and its audit
// record commit together.

export const ComposeRequest = z.strictObject({
  mode: z.enum(['actual', 'exercise', 'test']),
  level: z.int().min(1).max(5),
  zones: z.array(ZonePath).max(200).default([]),
  devices: z.array(Slug).max(5000).default([]),
  content: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('standard'), clip: z.enum(['siren', 'chime', 'alert-tone', 'drill-preamble']) }),
    z.strictObject({ kind: z.literal('asset'), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
    z.strictObject({ kind: z.literal('tts'), text: Text(2000), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  ]),
  repeat: z.int().min(1).max(20).default(2),
  expiresMinutes: z.int().min(1).max(24 * 60).default(60),
  title: Text(200).optional(),
});
export type ComposeRequest = z.output<typeof ComposeRequest>;

export interface DispatchRow {
  id: string;
  kind: 'start' | 'cancel';
  status: 'pending' | 'sent' | 'refused' | 'expired';
  mode: string;
  command: EmergencyStart | EmergencyCancel;
  zones: string[];
  createdBy: string;
  createdAt: string;
  approvedBy: string | null;
  sentAt: string | null;
  capKey: string | null;
  cancels: string | null;
}

export type AckStatus = 'received' | 'playing' | 'finished' | 'cancelled' | 'rejected' | 'silent';
export interface Rollup {
  dispatch: string;
  zones: { zone: string; counts: Record<AckStatus, number> }[];
  devices: { device: string; zone: string; status: AckStatus; code?: string }[];
}

/**
 * Whether a rejection is about the copy of a command that arrived rather than
 * about playing it: admission refusals (expired, issued in the future,
 * replayed, out of scope, rate-limited, inconsistent — any LOA_E_EMERGENCY_*),
 * and a signature, key or payload the device would not accept.
 */
export function aboutACopy(code: string | undefined): boolean {
  return !!code && (code.startsWith('LOA_E_EMERGENCY_') || code === 'LOA_E_SIGNATURE' || code.startsWith('LOA_E_KEY_') || code.startsWith('LOA_E_PAYLOAD_'));
}

/** Publishes a signed emergency command on the broker (the console's dispatch account). */
export type Publisher = (topic: string, payload: Buffer) => Promise<void>;

export class Dispatcher extends EventEmitter<{ changed: [id: string] }> {
  readonly #reg: Registry;
  readonly #db: Db;
  readonly #lib: AssetLibrary;
  readonly #reports: Reports;
  readonly #publish: Publisher;
  readonly #log: Logger;
  readonly #now: () => number;
  #signer: Signer | null = null;

  constructor(deps: { registry: Registry; library: AssetLibrary; reports: Reports; publish: Publisher; log: Logger; now?: () => number; approvalModes?: readonly EmergencyStart['mode'][] }) {
    super();
    this.#approvalModes = new Set(deps.approvalModes ?? ['actual']);
    this.#reg = deps.registry;
    this.#db = deps.registry.openStore((db) => db);
    this.#lib = deps.library;
    this.#reports = deps.reports;
    this.#publish = deps.publish;
    this.#log = deps.log.child({ mod: 'dispatch' });
    this.#now = deps.now ?? Date.now;
  }

  #sign(): Signer {
    this.#signer ??= new Signer(this.#reg.readPrivateKey('dispatch'));
    return this.#signer;
  }

  #row(r: Record<string, unknown>): DispatchRow {
    return {
      id: r.id as string,
      kind: r.kind as DispatchRow['kind'],
      status: r.status as DispatchRow['status'],
      mode: r.mode as string,
      command: JSON.parse(r.command as string) as DispatchRow['command'],
      zones: JSON.parse(r.zones as string) as string[],
      createdBy: r.created_by as string,
      createdAt: r.created_at as string,
      approvedBy: (r.approved_by as string | null) ?? null,
      sentAt: (r.sent_at as string | null) ?? null,
      capKey: (r.cap_key as string | null) ?? null,
      cancels: (r.cancels as string | null) ?? null,
    };
  }

  get(id: string): DispatchRow | null {
    const r = this.#db.prepare('SELECT * FROM dispatches WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? this.#row(r) : null;
  }

  byCapKey(key: string): DispatchRow | null {
    const r = this.#db.prepare('SELECT * FROM dispatches WHERE cap_key = ?').get(key) as Record<string, unknown> | undefined;
    return r ? this.#row(r) : null;
  }

  list(scope: Principal, limit = 100): DispatchRow[] {
    return (this.#db.prepare('SELECT * FROM dispatches ORDER BY created_at DESC LIMIT ?').all(limit) as Record<string, unknown>[]).map((r) => this.#row(r)).filter((d) => allInScope(scope, d.zones));
  }

  #deviceZones(devices: string[]): string[] {
    return devices.map((id) => {
      const d = this.#reg.device(id);
      if (!d) throw new LoaError('LOA_E_DEVICE_NOT_FOUND', `no device "${id}"`);
      return d.zone;
    });
  }

  /** Modes that wait for a second person: always 'actual'; provinces may add 'exercise' (a drill still sounds sirens). */
  readonly #approvalModes: Set<EmergencyStart['mode']>;

  needsApproval(mode: EmergencyStart['mode']): boolean {
    return mode === 'actual' || this.#approvalModes.has(mode);
  }

  /** Composes a dispatch; modes that need approval (actual, and any the province adds) wait, the others are sent at once. */
  async compose(p: Principal, input: unknown, opts: { capKey?: string; forceApproval?: boolean } = {}): Promise<DispatchRow> {
    if (!can(p, 'dispatch')) throw new LoaError('LOA_E_FORBIDDEN', `${p.role} accounts cannot dispatch emergencies`);
    const req = parseWith(ComposeRequest, input, 'dispatch');
    if (!req.zones.length && !req.devices.length) throw new LoaError('LOA_E_PAYLOAD_SCHEMA', 'pick at least one zone or device');
    for (const z of req.zones) if (!this.#reg.zone(z)) throw new LoaError('LOA_E_ZONE_NOT_FOUND', `zone ${z} does not exist`);
    const scopeZones = [...req.zones, ...this.#deviceZones(req.devices)];
    if (!allInScope(p, scopeZones)) throw new LoaError('LOA_E_FORBIDDEN', `zones outside ${p.zone ?? 'the province'}`);
    const content = this.#content(req.content);
    const id = randomUUID();
    const now = this.#now();
    const cmd: EmergencyStart = {
      type: 'start',
      id,
      issuedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + req.expiresMinutes * 60_000).toISOString(),
      scope: { zones: req.zones, devices: req.devices },
      level: req.level,
      mode: req.mode,
      content,
      repeat: req.repeat,
      ...(req.title ? { title: req.title } : {}),
    };
    parseWith(EmergencyCommand, cmd, 'emergency command');
    this.#db.transaction(() => {
      this.#db
        .prepare("INSERT INTO dispatches (id, kind, status, mode, command, zones, created_by, created_at, cap_key) VALUES (?, 'start', 'pending', ?, ?, ?, ?, ?, ?)")
        .run(id, req.mode, JSON.stringify(cmd), JSON.stringify(scopeZones), p.name, new Date(now).toISOString(), opts.capKey ?? null);
      this.#reg.audit(p.name, 'dispatch.compose', id, { mode: req.mode, level: req.level, zones: scopeZones, capKey: opts.capKey ?? null });
    })();
    this.emit('changed', id);
    if (!this.needsApproval(req.mode) && !opts.forceApproval) await this.#send(id, null);
    return this.get(id)!;
  }

  #content(c: ComposeRequest['content']): EmergencyStart['content'] {
    if (c.kind === 'standard') return c;
    const a = this.#lib.get(c.sha256);
    if (!a) throw new LoaError('LOA_E_ASSET_UNKNOWN', `asset ${c.sha256} is not in the library`);
    const asset: AssetRef = { sha256: a.sha256, size: a.size, durationMs: a.durationMs, mime: a.mime, title: a.title };
    return c.kind === 'asset' ? { kind: 'asset', asset } : { kind: 'tts', text: c.text, asset };
  }

  /** A second person approves an actual emergency, or a cancel. */
  async approve(p: Principal, id: string): Promise<DispatchRow> {
    const d = this.get(id);
    if (!d) throw new LoaError('LOA_E_NOT_FOUND', `no dispatch ${id}`);
    if (!can(p, 'approve')) throw new LoaError('LOA_E_FORBIDDEN', `${p.role} accounts cannot approve`);
    if (d.createdBy === p.name) throw new LoaError('LOA_E_FORBIDDEN', 'a dispatch must be approved by someone other than the person who composed it');
    if (!allInScope(p, d.zones)) throw new LoaError('LOA_E_FORBIDDEN', `zones outside ${p.zone ?? 'the province'}`);
    if (d.status !== 'pending') throw new LoaError('LOA_E_PAYLOAD_SCHEMA', `dispatch ${id} is ${d.status}, not pending`);
    await this.#send(id, p.name);
    return this.get(id)!;
  }

  /** Cancels a sent emergency: at once for exercises and tests, after approval for actual ones. */
  async cancel(p: Principal, id: string): Promise<DispatchRow> {
    const d = this.get(id);
    if (!d || d.kind !== 'start') throw new LoaError('LOA_E_NOT_FOUND', `no emergency dispatch ${id}`);
    if (!can(p, 'dispatch') && !can(p, 'approve')) throw new LoaError('LOA_E_FORBIDDEN', `${p.role} accounts cannot cancel`);
    if (!allInScope(p, d.zones)) throw new LoaError('LOA_E_FORBIDDEN', `zones outside ${p.zone ?? 'the province'}`);
    if (d.status === 'pending') {
      this.#db.prepare("UPDATE dispatches SET status = 'refused' WHERE id = ?").run(id);
      this.#reg.audit(p.name, 'dispatch.withdraw', id);
      this.emit('changed', id);
      return this.get(id)!;
    }
    const start = d.command as EmergencyStart;
    const cid = randomUUID();
    const now = this.#now();
    const cmd: EmergencyCancel = { type: 'cancel', id: cid, cancels: id, issuedAt: new Date(now).toISOString(), expiresAt: start.expiresAt, scope: start.scope };
    this.#db.transaction(() => {
      this.#db
        .prepare("INSERT INTO dispatches (id, kind, status, mode, command, zones, created_by, created_at, cancels) VALUES (?, 'cancel', 'pending', ?, ?, ?, ?, ?, ?)")
        .run(cid, d.mode, JSON.stringify(cmd), JSON.stringify(d.zones), p.name, new Date(now).toISOString(), id);
      this.#reg.audit(p.name, 'dispatch.cancel', cid, { cancels: id });
    })();
    if (!this.needsApproval(d.mode as EmergencyStart['mode'])) await this.#send(cid, null);
    this.emit('changed', cid);
    return this.get(cid)!;
  }

  async #send(id: string, approvedBy: string | null): Promise<void> {
    const d = this.get(id)!;
    const now = this.#now();
    // Issued-at is the moment of signing: an approval an hour later must not look an hour old.
    const cmd = d.kind === 'start' ? { ...(d.command as EmergencyStart), issuedAt: new Date(now).toISOString() } : { ...(d.command as EmergencyCancel), issuedAt: new Date(now).toISOString() };
    if (Date.parse(cmd.expiresAt) <= now) {
      this.#db.prepare("UPDATE dispatches SET status = 'expired' WHERE id = ?").run(id);
      throw new LoaError('LOA_E_EMERGENCY_EXPIRED', `dispatch ${id} expired before it was approved`);
    }
    const payload = encodeSigned('zone-emergency', this.#sign().sign('emergency', cmd));
    for (const z of cmd.scope.zones) await this.#publish(topics.zoneEmergency(z), payload);
    for (const dev of cmd.scope.devices) await this.#publish(topics.deviceEmergency(dev), payload);
    this.#db.transaction(() => {
      this.#db.prepare("UPDATE dispatches SET status = 'sent', command = ?, approved_by = ?, sent_at = ? WHERE id = ?").run(JSON.stringify(cmd), approvedBy, new Date(now).toISOString(), id);
      this.#reg.audit(approvedBy ?? d.createdBy, d.kind === 'start' ? 'dispatch.send' : 'dispatch.cancel.send', id, { approvedBy });
    })();
    this.#log.warn({ dispatch: id, kind: d.kind, mode: d.mode, zones: d.zones, approvedBy }, 'emergency command sent');
    this.emit('changed', id);
  }

  /** Re-sends a sent emergency to the devices that have not acknowledged it yet (their own topic, so no other device sees a replay). */
  async resendToSilent(id: string): Promise<string[]> {
    const d = this.get(id);
    if (!d || d.kind !== 'start' || d.status !== 'sent' || Date.parse((d.command as EmergencyStart).expiresAt) <= this.#now()) return [];
    const silent = this.rollup(id).devices.filter((x) => x.status === 'silent').map((x) => x.device);
    const payload = encodeSigned('device-emergency', this.#sign().sign('emergency', d.command));
    for (const dev of silent) await this.#publish(topics.deviceEmergency(dev), payload);
    return silent;
  }

  /** Each device's latest ack for a dispatch, counted per zone; devices with none are silent. */
  rollup(id: string): Rollup {
    const d = this.get(id);
    if (!d) throw new LoaError('LOA_E_NOT_FOUND', `no dispatch ${id}`);
    const cmd = d.command as EmergencyStart;
    const targets = this.#reg.devicesIn(null).filter((x) => x.status === 'active' && (cmd.scope.devices.includes(x.id) || cmd.scope.zones.some((z) => zoneContains(z, x.zone))));
    const latest = new Map<string, { status: AckStatus; code?: string; admitted: boolean }>();
    // INVARIANT: each device's acks in the order the device made them (its record keys), never by their
    // stamps: a clock stepped by the beacon puts 'received' hours after 'finished'.
    for (const a of this.#reports.emergencyAcks(id)) {
      const prev = latest.get(a.device);
      // A re-send to a device that already had it comes back as a replay: not news.
      if (a.data.code === 'LOA_E_EMERGENCY_REPLAYED') continue;
      // Once the device admitted the command, a refused copy of it (redelivered, late, forged) says nothing about
      // what plays; a failed playback (LOA_E_AUDIO_INVALID) does.
      if (a.data.status === 'rejected' && prev?.admitted && aboutACopy(a.data.code)) continue;
      latest.set(a.device, { status: a.data.status, ...(a.data.code ? { code: a.data.code } : {}), admitted: !!prev?.admitted || a.data.status !== 'rejected' });
    }
    const devices = targets.map((t) => {
      const l = latest.get(t.id);
      return { device: t.id, zone: t.zone, ...(l ? { status: l.status, ...(l.code ? { code: l.code } : {}) } : { status: 'silent' as const }) };
    });
    const zoneOf = (dz: string) => cmd.scope.zones.find((z) => zoneContains(z, dz)) ?? dz;
    const byZone = new Map<string, Record<AckStatus, number>>();
    for (const x of devices) {
      const z = zoneOf(x.zone);
      const c = byZone.get(z) ?? { received: 0, playing: 0, finished: 0, cancelled: 0, rejected: 0, silent: 0 };
      c[x.status]++;
      byZone.set(z, c);
    }
    return { dispatch: id, zones: [...byZone].map(([zone, counts]) => ({ zone, counts })), devices };
  }

  /** Which dispatches a stored log batch concerns (for live updates). */
  touched(batch: LogBatch): string[] {
    return [...new Set(batch.records.filter((r) => r.kind === 'emergency-ack').map((r) => (r.data as { emergency: string }).emergency))];
  }
}
