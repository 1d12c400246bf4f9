import { z } from 'zod';
import { LoaError } from '../protocol/errors.js';
import { Sha256Hex, zoneContains, zoneLineage } from '../protocol/ids.js';
import { Programme, RuleProfile, TargetState, type AssetRef } from '../protocol/payloads.js';
import { schemaError } from '../protocol/codec.js';
import type { Db } from '../lib/sqlite.js';
import type { AssetLibrary } from './library.js';
import type { Registry } from './registry.js';

// What the province wants a device to hold and do, per device, versioned.
// A spec names library assets, programmes and the rule profiles of the
// device's zone lineage; `buildTarget` turns it into the TargetState the
// console signs. (The console issue derives specs from per-zone programmes
// and rules; until then a technician sets them with `loa target set`.)

export const TargetSpec = z.strictObject({
  /** Assets to hold besides those the programmes play. */
  assets: z.array(Sha256Hex).max(2000).default([]),
  /** Emergency clips: fetched first, kept in the disk reserve. */
  reserve: z.array(Sha256Hex).max(100).default([]),
  programmes: z.array(Programme).max(500).default([]),
  rules: z.array(RuleProfile).max(16).default([]),
});
export type TargetSpec = z.output<typeof TargetSpec>;

export function parseTargetSpec(value: unknown): TargetSpec {
  const r = TargetSpec.safeParse(value);
  if (!r.success) throw schemaError('target spec', r.error);
  return r.data;
}

// The targets table is this module's: its SQL lives here alone, on the
// registry's connection (Registry.openStore).
const store = (reg: Registry) => reg.openStore((db: Db) => db);

function deviceOrThrow(reg: Registry, id: string): { zone: string } {
  const d = reg.device(id);
  if (!d) throw new LoaError('LOA_E_DEVICE_NOT_FOUND', `no device "${id}"`, { context: { id } });
  if (d.status !== 'active') throw new LoaError('LOA_E_DEVICE_REVOKED', `device ${id} is revoked`, { context: { id } });
  return d;
}

/** Validates a spec against the registry and library and stores it as the device's next version. */
export function setTarget(reg: Registry, lib: AssetLibrary, deviceId: string, spec: TargetSpec, actor: string): number {
  const { zone } = deviceOrThrow(reg, deviceId);
  const lineage = zoneLineage(zone);
  const problems: string[] = [];
  const all = new Set([...spec.assets, ...spec.reserve, ...spec.programmes.flatMap((p) => p.playlist)]);
  for (const sha of all) if (!lib.get(sha)) problems.push(`asset ${sha} is not in the library`);
  for (const p of spec.programmes) {
    if (!p.zones.some((z) => zoneContains(z, zone))) problems.push(`programme ${p.id} targets ${p.zones.join(', ')}, which does not include ${zone}`);
  }
  for (const r of spec.rules) if (!lineage.includes(r.zone)) problems.push(`rule profile for ${r.zone} is not in the device's zone lineage (${lineage.join(' > ')})`);
  if (problems.length) throw new LoaError('LOA_E_TARGET_INVALID', `target for ${deviceId} refused: ${problems.join('; ')}`, { context: { problems } });
  const db = store(reg);
  return db
    .transaction(() => {
      const row = db.prepare('SELECT version FROM targets WHERE device = ?').get(deviceId) as { version: number } | undefined;
      const version = (row?.version ?? 0) + 1;
      db.prepare('INSERT INTO targets (device, version, spec, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device) DO UPDATE SET version = excluded.version, spec = excluded.spec, updated_at = excluded.updated_at, updated_by = excluded.updated_by')
        .run(deviceId, version, JSON.stringify(spec), new Date().toISOString(), actor);
      reg.audit(actor, 'target.set', deviceId, { version });
      return version;
    })
    .immediate();
}

export interface StoredTarget {
  device: string;
  version: number;
  spec: TargetSpec;
}

export function storedTargets(reg: Registry): StoredTarget[] {
  return (store(reg).prepare('SELECT device, version, spec FROM targets ORDER BY device').all() as { device: string; version: number; spec: string }[]).map((r) => ({ device: r.device, version: r.version, spec: TargetSpec.parse(JSON.parse(r.spec)) }));
}

/** The version of a device's stored target (null: none yet). */
export function targetVersion(reg: Registry, device: string): number | null {
  return (store(reg).prepare('SELECT version FROM targets WHERE device = ?').get(device) as { version: number } | undefined)?.version ?? null;
}

/**
 * A new local panel password for a device (Registry.rotatePanelPassword),
 * with its target's version bumped in the same transaction (same spec): the
 * device learns the password from that version, which the console republishes.
 */
export function rotatePanelPassword(reg: Registry, id: string, actor = 'technician'): ReturnType<Registry['rotatePanelPassword']> {
  return reg.rotatePanelPassword(id, actor, () => {
    const t = store(reg).prepare('UPDATE targets SET version = version + 1, updated_at = ?, updated_by = ? WHERE device = ? RETURNING version').get(new Date().toISOString(), actor, id) as { version: number } | undefined;
    return t?.version ?? null;
  });
}

/** The TargetState a device receives, from its stored spec. */
export function buildTarget(reg: Registry, lib: AssetLibrary, t: StoredTarget, issuedAt: string): TargetState {
  const { zone } = deviceOrThrow(reg, t.device);
  const reserve = new Set(t.spec.reserve);
  const shas = [...new Set([...t.spec.reserve, ...t.spec.assets, ...t.spec.programmes.flatMap((p) => p.playlist)])];
  const assets: AssetRef[] = shas.map((sha) => {
    const a = lib.get(sha);
    if (!a) throw new LoaError('LOA_E_TARGET_INVALID', `asset ${sha} of ${t.device}'s target is no longer in the library`);
    return { sha256: a.sha256, size: a.size, durationMs: a.durationMs, mime: a.mime, title: a.title, ...(reserve.has(sha) ? { reserve: true } : {}) };
  });
  const panelHash = reg.panelHash(t.device);
  return TargetState.parse({ device: t.device, zone, version: t.version, issuedAt, assets, programmes: t.spec.programmes, rules: t.spec.rules, ...(panelHash ? { panel: { passwordHash: panelHash } } : {}) });
}
