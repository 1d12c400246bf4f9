import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { addDays, localDate, localToEpoch } from '../../schedules/time.js';
import { outcomeFields, planOutcomes, type OutcomeRecord } from '../../schedules/plan-outcome.js';
import { dayPlan } from '../../schedules/plan.js';
import { LocalDate } from '../../protocol/payloads.js';
import { httpError, need, type Ctx } from './context.js';
import { parseWith } from '../../protocol/codec.js';
import { inScope } from './access.js';
import { deviceSpec } from '../planning.js';

/**
 * The play records a device reported for instants from `date`'s start in
 * Việt Nam to the end of the next day (a play logged when it ends may end
 * after midnight): what became of the date's plan items.
 */
function playRecordsAround(ctx: Ctx, device: string, date: string): OutcomeRecord[] {
  const from = new Date(localToEpoch(date, '00:00')).toISOString();
  const to = new Date(localToEpoch(addDays(date, 2), '00:00')).toISOString();
  return ctx.reports.deviceRecordsBetween(device, 'play', from, to).map((r) => (r as unknown as { data: OutcomeRecord }).data);
}

export function fleetRoutes(app: FastifyInstance, ctx: Ctx): void {
  app.get('/api/zones', async (req) => {
    const p = need(req, 'read');
    const zones = ctx.registry.zones().filter((z) => inScope(p, z.path) || (p.zone !== null && p.zone.startsWith(z.path + '/')));
    return { zones: zones.map((z) => ({ path: z.path, parent: z.parent, name: z.name, inScope: inScope(p, z.path) })) };
  });

  const DeviceQuery = z.strictObject({ zone: z.string().optional(), offlineHours: z.coerce.number().min(0).optional(), notApplied: z.enum(['1', 'true']).optional() });
  app.get('/api/devices', async (req) => {
    const p = need(req, 'read');
    const q = parseWith(DeviceQuery, req.query, 'query');
    const scope = q.zone ?? p.zone;
    if (scope && !inScope(p, scope)) throw httpError('LOA_E_FORBIDDEN', `zone ${scope} is outside ${p.zone}`);
    return { devices: ctx.fleet.list(scope ?? null, { ...(q.offlineHours !== undefined ? { offlineHours: q.offlineHours } : {}), notApplied: !!q.notApplied }) };
  });

  app.get<{ Params: { id: string } }>('/api/devices/:id', async (req) => {
    const p = need(req, 'read');
    const v = ctx.fleet.view(req.params.id);
    if (!v || !inScope(p, v.zone)) throw httpError('LOA_E_NOT_FOUND', `no device "${req.params.id}"`);
    return { device: v };
  });

  /** A device's day plan, with what will be refused and why (the programmes and rules it would get now), and what became of the items already past. */
  app.get<{ Params: { id: string } }>('/api/devices/:id/plan', async (req) => {
    const p = need(req, 'read');
    const d = ctx.registry.device(req.params.id);
    if (!d || !inScope(p, d.zone)) throw httpError('LOA_E_NOT_FOUND', `no device "${req.params.id}"`);
    const { date } = parseWith(z.strictObject({ date: LocalDate.optional() }), req.query, 'query');
    const spec = deviceSpec(ctx.registry, d.id);
    const durations = new Map<string, number>();
    for (const pr of spec.programmes) for (const sha of pr.playlist) {
      const a = ctx.library.get(sha);
      if (a) durations.set(sha, a.durationMs);
    }
    const day = date ?? localDate(ctx.now());
    const items = dayPlan({ date: day, programmes: spec.programmes, durations, rules: spec.rules, zone: d.zone });
    // Past items: what the device reported happened (absent: nothing reported yet); items to come: what the plan says.
    const outcomes = planOutcomes(items, playRecordsAround(ctx, d.id, day), ctx.now());
    return { device: d.id, date: day, now: new Date(ctx.now()).toISOString(), items: items.map((i, n) => ({ ...i, ...outcomeFields(outcomes[n]!) })) };
  });

  /** Live updates for the browser (Server-Sent Events): device changes and dispatch roll-ups within the account's zone. */
  app.get('/api/events', async (req, reply) => {
    const p = need(req, 'read');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': loa\n\n');
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const onDevice = (id: string) => {
      const v = ctx.fleet.view(id);
      if (v && inScope(p, v.zone)) send('device', v);
    };
    const onDispatch = (id: string) => {
      const d = ctx.dispatcher.get(id);
      if (!d || !d.zones.every((z) => inScope(p, z))) return;
      send('dispatch', { dispatch: d, rollup: d.kind === 'start' ? ctx.dispatcher.rollup(id) : null });
    };
    ctx.fleet.on('changed', onDevice);
    ctx.dispatcher.on('changed', onDispatch);
    const ping = setInterval(() => res.write(': ping\n\n'), 25_000);
    req.raw.on('close', () => {
      clearInterval(ping);
      ctx.fleet.off('changed', onDevice);
      ctx.dispatcher.off('changed', onDispatch);
    });
  });
}
