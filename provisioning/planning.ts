import { canonicalJson } from '../protocol/signing.js';
import { LoaError } from '../protocol/errors.js';
import { zoneContains, zoneLineage } from '../protocol/ids.js';
import { Programme, RuleProfile } from '../protocol/payloads.js';
import { parseWith } from '../protocol/codec.js';
import { checkProgrammes } from '../schedules/plan.js';
import type { Db } from '../lib/sqlite.js';
import type { AssetLibrary } from './library.js';
import type { Registry } from './registry.js';
import { setTarget, storedTargets, type TargetSpec } from './targets.js';

// Programmes and rule profiles as the console edits them: each belongs to a
// zone, and applies to every device below it. A device's target is derived
// from its zone lineage; publishing recomputes the targets of the devices
// under the changed zones and gives a new version only to those whose target
// actually changed, so no village refetches anything for nothing.

// The programmes and rule_profiles tables are this module's: their SQL lives
// here alone, on the registry's connection (Registry.openStore).
const store = (reg: Registry) => reg.openStore((db: Db) => db);

export interface OwnedProgramme {
  /** The zone that owns it (who may edit it); its `zones` lie inside this one. */
  zone: string;
  programme: Programme;
  updatedAt: string;
  updatedBy: string;
}

export function programmes(reg: Registry, scope: string | null = null): OwnedProgramme[] {
  const rows = store(reg).prepare('SELECT zone, spec, updated_at, updated_by FROM programmes ORDER BY zone, id').all() as { zone: string; spec: string; updated_at: string; updated_by: string }[];
  return rows
    .filter((r) => scope === null || zoneContains(scope, r.zone))
    .map((r) => ({ zone: r.zone, programme: Programme.parse(JSON.parse(r.spec)), updatedAt: r.updated_at, updatedBy: r.updated_by }));
}

export function programme(reg: Registry, id: string): OwnedProgramme | null {
  return programmes(reg).find((p) => p.programme.id === id) ?? null;
}

export function saveProgramme(reg: Registry, lib: AssetLibrary, zone: string, input: unknown, actor: string): OwnedProgramme {
  if (!reg.zone(zone)) throw new LoaError('LOA_E_ZONE_NOT_FOUND', `zone ${zone} does not exist`, { context: { zone } });
  const p = parseWith(Programme, input, 'programme');
  const problems: string[] = [];
  for (const z of p.zones) if (!zoneContains(zone, z)) problems.push(`zone ${z} is not inside ${zone}`);
  for (const sha of p.playlist) if (!lib.get(sha)) problems.push(`asset ${sha} is not in the library`);
  for (const e of checkProgrammes([p])) problems.push(e.message);
  const existing = programme(reg, p.id);
  if (existing && existing.zone !== zone) problems.push(`programme id ${p.id} already belongs to zone ${existing.zone}`);
  if (problems.length) throw new LoaError('LOA_E_SCHEDULE_INVALID', `programme ${p.id} refused: ${problems.join('; ')}`, { context: { problems } });
  const db = store(reg);
  db.transaction(() => {
    db.prepare('INSERT INTO programmes (id, zone, spec, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at, updated_by = excluded.updated_by')
      .run(p.id, zone, JSON.stringify(p), new Date().toISOString(), actor);
    reg.audit(actor, existing ? 'programme.update' : 'programme.add', p.id, { zone, title: p.title });
  })();
  return programme(reg, p.id)!;
}

export function deleteProgramme(reg: Registry, id: string, actor: string): void {
  const p = programme(reg, id);
  if (!p) throw new LoaError('LOA_E_SCHEDULE_INVALID', `no programme "${id}"`);
  const db = store(reg);
  db.transaction(() => {
    db.prepare('DELETE FROM programmes WHERE id = ?').run(id);
    reg.audit(actor, 'programme.delete', id, { zone: p.zone });
  })();
}

export function ruleProfile(reg: Registry, zone: string): RuleProfile | null {
  const r = store(reg).prepare('SELECT spec FROM rule_profiles WHERE zone = ?').get(zone) as { spec: string } | undefined;
  return r ? RuleProfile.parse(JSON.parse(r.spec)) : null;
}

export function saveRuleProfile(reg: Registry, zone: string, input: unknown, actor: string): RuleProfile {
  if (!reg.zone(zone)) throw new LoaError('LOA_E_ZONE_NOT_FOUND', `zone ${zone} does not exist`, { context: { zone } });
  const profile = parseWith(RuleProfile, { ...(input as object), zone }, 'rule profile');
  const db = store(reg);
  db.transaction(() => {
    db.prepare('INSERT INTO rule_profiles (zone, spec, updated_at, updated_by) VALUES (?, ?, ?, ?) ON CONFLICT (zone) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at, updated_by = excluded.updated_by')
      .run(zone, JSON.stringify(profile), new Date().toISOString(), actor);
    reg.audit(actor, 'rules.update', zone, profile);
  })();
  return profile;
}

export function deleteRuleProfile(reg: Registry, zone: string, actor: string): void {
  const db = store(reg);
  db.transaction(() => {
    db.prepare('DELETE FROM rule_profiles WHERE zone = ?').run(zone);
    reg.audit(actor, 'rules.delete', zone);
  })();
}

/** What a device should hold and do, from the programmes and rule profiles of its zone lineage. */
export function deviceSpec(reg: Registry, deviceId: string): TargetSpec {
  const d = reg.device(deviceId);
  if (!d) throw new LoaError('LOA_E_DEVICE_NOT_FOUND', `no device "${deviceId}"`);
  const lineage = zoneLineage(d.zone);
  const ps = programmes(reg)
    .map((p) => p.programme)
    .filter((p) => p.zones.some((z) => zoneContains(z, d.zone)))
    .sort((a, b) => a.id.localeCompare(b.id));
  const rules = lineage.map((z) => ruleProfile(reg, z)).filter((r): r is RuleProfile => r !== null);
  return { assets: [], reserve: [], programmes: ps, rules };
}

/**
 * Recomputes the targets of the active devices under `zones` (all when null)
 * and stores a new version for each whose target changed. The running
 * console services publish them within a second.
 */
export function publishZones(reg: Registry, lib: AssetLibrary, zones: string[] | null, actor: string): { device: string; version: number }[] {
  const current = new Map(storedTargets(reg).map((t) => [t.device, t]));
  const out: { device: string; version: number }[] = [];
  for (const d of reg.devicesIn(null)) {
    if (d.status !== 'active') continue;
    if (zones && !zones.some((z) => zoneContains(z, d.zone))) continue;
    const spec = deviceSpec(reg, d.id);
    const prev = current.get(d.id);
    if (prev && canonicalJson(prev.spec) === canonicalJson(spec)) continue;
    out.push({ device: d.id, version: setTarget(reg, lib, d.id, spec, actor) });
  }
  return out;
}
