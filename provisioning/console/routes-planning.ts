import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ZonePath, zoneContains } from '../../protocol/ids.js';
import { httpError, need, type Ctx } from './context.js';
import { parseWith } from '../../protocol/codec.js';
import { allInScope, inScope } from './access.js';
import { deleteProgramme, deleteRuleProfile, programme, programmes, type OwnedProgramme, publishZones, ruleProfile, saveProgramme, saveRuleProfile } from '../planning.js';

/**
 * Programmes an account of `scope` cannot edit but its devices play: owned by
 * a zone above it (the province's, the district's) and aimed at its zone or
 * at zones within it. Each with `reaches`, those of its target zones that do.
 */
function inheritedProgrammes(ctx: Ctx, scope: string | null): (OwnedProgramme & { reaches: string[] })[] {
  if (scope === null) return [];
  return programmes(ctx.registry)
    .filter((o) => !zoneContains(scope, o.zone))
    .map((o) => ({ ...o, reaches: o.programme.zones.filter((z) => zoneContains(z, scope) || zoneContains(scope, z)) }))
    .filter((o) => o.reaches.length > 0);
}

export function planningRoutes(app: FastifyInstance, ctx: Ctx): void {
  app.get('/api/programmes', async (req) => {
    const p = need(req, 'read');
    return { programmes: programmes(ctx.registry, p.zone), inherited: inheritedProgrammes(ctx, p.zone) };
  });

  app.put<{ Params: { id: string } }>('/api/programmes/:id', async (req) => {
    const p = need(req, 'edit');
    const b = parseWith(z.strictObject({ zone: ZonePath, programme: z.record(z.string(), z.unknown()) }), req.body ?? {}, 'programme');
    if (!inScope(p, b.zone)) throw httpError('LOA_E_FORBIDDEN', `zone ${b.zone} is outside ${p.zone}`);
    if (b.programme.id !== undefined && b.programme.id !== req.params.id) throw httpError('LOA_E_PAYLOAD_SCHEMA', 'the programme id in the body differs from the URL');
    const existing = programme(ctx.registry, req.params.id);
    if (existing && !inScope(p, existing.zone)) throw httpError('LOA_E_FORBIDDEN', `programme ${req.params.id} belongs to ${existing.zone}`);
    return { programme: saveProgramme(ctx.registry, ctx.library, b.zone, { ...b.programme, id: req.params.id }, p.name) };
  });

  app.delete<{ Params: { id: string } }>('/api/programmes/:id', async (req) => {
    const p = need(req, 'edit');
    const existing = programme(ctx.registry, req.params.id);
    if (!existing) throw httpError('LOA_E_NOT_FOUND', `no programme "${req.params.id}"`);
    if (!inScope(p, existing.zone)) throw httpError('LOA_E_FORBIDDEN', `programme ${req.params.id} belongs to ${existing.zone}`);
    deleteProgramme(ctx.registry, req.params.id, p.name);
    return { ok: true };
  });

  app.get('/api/rules/*', async (req) => {
    const p = need(req, 'read');
    const zone = (req.params as { '*': string })['*'];
    if (!inScope(p, zone) && !(p.zone ?? '').startsWith(zone + '/')) throw httpError('LOA_E_FORBIDDEN', `zone ${zone} is outside ${p.zone}`);
    return { zone, profile: ruleProfile(ctx.registry, zone) };
  });

  app.put('/api/rules/*', async (req) => {
    const p = need(req, 'edit');
    const zone = (req.params as { '*': string })['*'];
    if (!inScope(p, zone)) throw httpError('LOA_E_FORBIDDEN', `zone ${zone} is outside ${p.zone}`);
    return { zone, profile: saveRuleProfile(ctx.registry, zone, req.body, p.name) };
  });

  app.delete('/api/rules/*', async (req) => {
    const p = need(req, 'edit');
    const zone = (req.params as { '*': string })['*'];
    if (!inScope(p, zone)) throw httpError('LOA_E_FORBIDDEN', `zone ${zone} is outside ${p.zone}`);
    deleteRuleProfile(ctx.registry, zone, p.name);
    return { ok: true };
  });

  /** Recomputes and republishes the targets of exactly the devices whose target changed, under the given zones. */
  app.post('/api/publish', async (req) => {
    const p = need(req, 'edit');
    const b = parseWith(z.strictObject({ zones: z.array(ZonePath).max(200).optional() }), req.body ?? {}, 'publish');
    const zones = b.zones ?? (p.zone ? [p.zone] : null);
    if (zones && !allInScope(p, zones)) throw httpError('LOA_E_FORBIDDEN', `zones outside ${p.zone}`);
    const published = publishZones(ctx.registry, ctx.library, zones, p.name);
    if (published.length) ctx.publishTargets?.();
    return { published };
  });
}
