import { EventEmitter } from 'node:events';
import type { Logger } from '../../lib/log.js';
import { decodePayload } from '../../protocol/codec.js';
import { reasonOf } from '../../protocol/errors.js';
import { DeviceState, DeviceStatus, Telemetry } from '../../protocol/payloads.js';
import type { Registry } from '../registry.js';
import type { DeviceStatusRow, Reports } from '../reports.js';
import { targetVersion } from '../targets.js';

// The console's live view of the fleet, fed by what devices publish (status,
// state, telemetry) and kept in reports.sqlite so "offline since" survives a
// console restart. Emits 'changed' for the browser's live view.

export interface DeviceView {
  id: string;
  zone: string;
  revoked: boolean;
  online: boolean;
  /** When it last went online or offline (null: never heard of). */
  since: string | null;
  lastSeen: string | null;
  state: DeviceState | null;
  telemetry: Telemetry | null;
  /** The version the province wants it to hold. */
  targetVersion: number | null;
}

export class FleetTracker extends EventEmitter<{ changed: [device: string] }> {
  readonly #reg: Registry;
  readonly #reports: Reports;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(deps: { registry: Registry; reports: Reports; log: Logger; now?: () => number }) {
    super();
    this.#reg = deps.registry;
    this.#reports = deps.reports;
    this.#log = deps.log.child({ mod: 'fleet' });
    this.#now = deps.now ?? Date.now;
  }

  #row(device: string): DeviceStatusRow | undefined {
    return this.#reports.deviceStatus(device);
  }

  /** A message a device published on its status, state or telemetry topic. */
  onMessage(device: string, kind: 'status' | 'state' | 'telemetry', payload: Buffer): void {
    if (this.#reg.principal(device)?.kind !== 'device') return;
    const now = new Date(this.#now()).toISOString();
    const prev = this.#row(device);
    try {
      if (kind === 'status') {
        const s = decodePayload('status', DeviceStatus, payload);
        const online = s.state === 'online';
        if (prev && !!prev.online === online) return;
        this.#reports.setOnline(device, online, now);
      } else {
        const value = kind === 'state' ? decodePayload('state', DeviceState, payload) : decodePayload('telemetry', Telemetry, payload);
        const col = kind === 'state' ? 'state' : 'telemetry';
        // INVARIANT: device_status.online never changes without a device_presence row (Reports.setReported).
        this.#reports.setReported(device, col, value, now, !prev);
      }
      this.emit('changed', device);
    } catch (e) {
      this.#log.warn({ device, kind, err: reasonOf(e) }, 'device report rejected');
    }
  }

  view(device: string): DeviceView | null {
    const d = this.#reg.device(device);
    if (!d) return null;
    const r = this.#row(device);
    const version = targetVersion(this.#reg, device);
    return {
      id: d.id,
      zone: d.zone,
      revoked: d.status === 'revoked',
      online: !!r?.online,
      since: r?.since ?? null,
      lastSeen: r?.last_seen ?? null,
      state: r?.state ? (JSON.parse(r.state) as DeviceState) : null,
      telemetry: r?.telemetry ? (JSON.parse(r.telemetry) as Telemetry) : null,
      targetVersion: version,
    };
  }

  /** Devices within a zone subtree, with the console's filters. */
  list(scope: string | null, filter: { offlineHours?: number; notApplied?: boolean } = {}): DeviceView[] {
    const now = this.#now();
    return this.#reg
      .devicesIn(scope)
      .map((d) => this.view(d.id)!)
      .filter((v) => {
        if (filter.offlineHours !== undefined) {
          if (v.online) return false;
          if (v.since && now - Date.parse(v.since) < filter.offlineHours * 3600_000) return false;
        }
        if (filter.notApplied && v.targetVersion !== null && v.state?.appliedVersion === v.targetVersion) return false;
        if (filter.notApplied && v.targetVersion === null) return false;
        return true;
      });
  }
}
