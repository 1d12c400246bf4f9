import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { LocalDate } from '../../protocol/payloads.js';
import { parentZone } from '../../protocol/ids.js';
import { addDays, localToEpoch } from '../../schedules/time.js';
import { body, httpError, need, type Ctx } from './app.js';
import { inScope } from './access.js';

// The numbers the province reports upward: what played where and when, how
// much airtime each commune had, how long each cluster was online. Every
// report is JSON or, with format=csv, a spreadsheet-ready CSV (UTF-8 with a
// BOM so Excel keeps the Vietnamese).

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

function sendCsv(reply: FastifyReply, name: string, header: string[], rows: unknown[][]) {
  const text = '\ufeff' + [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
  return reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(text);
}

export function reportRoutes(app: FastifyInstance, ctx: Ctx): void {
  const scoped = (zone: string | undefined, p: { zone: string | null }) => {
    const z = zone ?? p.zone;
    if (z && !inScope(p as never, z)) throw httpError('LOA_E_FORBIDDEN', `zone ${z} is outside ${p.zone}`);
    return z ?? null;
  };

  /** Play log per zone and day. */
  app.get('/api/reports/playlog', async (req, reply) => {
    const p = need(req, 'read');
    const q = body(z.strictObject({ zone: z.string().optional(), date: LocalDate, format: z.enum(['json', 'csv']).default('json') }), req.query, 'query');
    const zone = scoped(q.zone, p);
    const from = new Date(localToEpoch(q.date, '00:00')).toISOString();
    const to = new Date(localToEpoch(addDays(q.date, 1), '00:00')).toISOString();
    const devices = new Map(ctx.registry.devicesIn(zone).map((d) => [d.id, d.zone]));
    const rows = (ctx.reports.db.prepare("SELECT device, record FROM device_log WHERE kind = 'play' AND at >= ? AND at < ? ORDER BY at").all(from, to) as { device: string; record: string }[])
      .filter((r) => devices.has(r.device))
      .map((r) => {
        const d = (JSON.parse(r.record) as { data: Record<string, unknown> }).data;
        return { device: r.device, zone: devices.get(r.device)!, programme: d.programme ?? null, title: d.title ?? null, level: d.level, source: d.source, start: d.start, end: d.end ?? null, outcome: d.outcome, volume: d.volume ?? null, rule: d.rule ?? null, reason: d.reason ?? null };
      });
    if (q.format === 'csv') return sendCsv(reply, `playlog-${q.date}`, ['device', 'zone', 'programme', 'title', 'level', 'source', 'start', 'end', 'outcome', 'volume', 'rule', 'reason'], rows.map((r) => Object.values(r)));
    return { date: q.date, zone, rows };
  });

  /** Airtime per commune (the parent zone of each village) for the week starting on `week`. */
  app.get('/api/reports/airtime', async (req, reply) => {
    const p = need(req, 'read');
    const q = body(z.strictObject({ zone: z.string().optional(), week: LocalDate, format: z.enum(['json', 'csv']).default('json') }), req.query, 'query');
    const zone = scoped(q.zone, p);
    const from = new Date(localToEpoch(q.week, '00:00')).toISOString();
    const to = new Date(localToEpoch(addDays(q.week, 7), '00:00')).toISOString();
    const devices = new Map(ctx.registry.devicesIn(zone).map((d) => [d.id, d.zone]));
    const totals = new Map<string, { seconds: number; items: number; emergencySeconds: number }>();
    for (const r of ctx.reports.db.prepare("SELECT device, record FROM device_log WHERE kind = 'play' AND at >= ? AND at < ?").all(from, to) as { device: string; record: string }[]) {
      const dz = devices.get(r.device);
      if (!dz) continue;
      const d = (JSON.parse(r.record) as { data: { outcome: string; start: string; end?: string; level: string } }).data;
      if ((d.outcome !== 'played' && d.outcome !== 'interrupted') || !d.end) continue;
      const commune = parentZone(dz) ?? dz;
      const t = totals.get(commune) ?? { seconds: 0, items: 0, emergencySeconds: 0 };
      const s = Math.max(0, (Date.parse(d.end) - Date.parse(d.start)) / 1000);
      t.seconds += s;
      t.items++;
      if (d.level === 'emergency') t.emergencySeconds += s;
      totals.set(commune, t);
    }
    const rows = [...totals].sort(([a], [b]) => a.localeCompare(b)).map(([commune, t]) => ({ commune, name: ctx.registry.zone(commune)?.name ?? commune, minutes: Math.round(t.seconds / 6) / 10, items: t.items, emergencyMinutes: Math.round(t.emergencySeconds / 6) / 10 }));
    if (q.format === 'csv') return sendCsv(reply, `airtime-${q.week}`, ['commune', 'name', 'minutes', 'items', 'emergency_minutes'], rows.map((r) => Object.values(r)));
    return { week: q.week, zone, rows };
  });

  /** Share of time each device was online between two dates, from the transitions the console saw. */
  app.get('/api/reports/uptime', async (req, reply) => {
    const p = need(req, 'read');
    const q = body(z.strictObject({ zone: z.string().optional(), from: LocalDate, to: LocalDate, format: z.enum(['json', 'csv']).default('json') }), req.query, 'query');
    const zone = scoped(q.zone, p);
    const t0 = localToEpoch(q.from, '00:00');
    const t1 = Math.min(ctx.now(), localToEpoch(addDays(q.to, 1), '00:00'));
    if (t1 <= t0) throw httpError('LOA_E_PAYLOAD_SCHEMA', '`to` must not be before `from`');
    const rows = ctx.registry.devicesIn(zone).map((d) => {
      const ev = ctx.reports.db.prepare('SELECT at, online FROM device_presence WHERE device = ? ORDER BY at').all(d.id) as { at: string; online: number }[];
      let online = false;
      let last = t0;
      let up = 0;
      for (const e of ev) {
        const t = Date.parse(e.at);
        if (t > t0) up += online ? Math.min(t, t1) - Math.max(last, t0) : 0;
        if (t >= t1) break;
        online = e.online === 1;
        last = Math.max(t, t0);
      }
      if (online && last < t1) up += t1 - last;
      return { device: d.id, zone: d.zone, uptimePercent: Math.round((1000 * up) / (t1 - t0)) / 10 };
    });
    if (q.format === 'csv') return sendCsv(reply, `uptime-${q.from}-${q.to}`, ['device', 'zone', 'uptime_percent'], rows.map((r) => Object.values(r)));
    return { from: q.from, to: q.to, zone, rows };
  });
}
