import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { LocalDate, type LogKind, type LogRecord } from '../../protocol/payloads.js';
import { parentZone } from '../../protocol/ids.js';
import { addDays, localToEpoch } from '../../schedules/time.js';
import { httpError, need, type Ctx } from './context.js';
import { parseWith } from '../../protocol/codec.js';
import { inScope } from './access.js';

// The numbers the province reports upward: what played where and when, how
// much airtime each commune had, how long each cluster was online, what the
// commune operators did on the village panels. Every report is JSON or, with
// format=csv, a spreadsheet-ready CSV (UTF-8 with a BOM so Excel keeps the
// Vietnamese). Days are Việt Nam's (Asia/Ho_Chi_Minh), whatever the server's zone.

const csvCell = (v: unknown) => {
  let s = v === null || v === undefined ? '' : String(v);
  // Text typed by someone (an operator's reason, a title) that a spreadsheet would run as a formula is kept as text.
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

function sendCsv(reply: FastifyReply, name: string, header: string[], rows: unknown[][]) {
  const text = '\ufeff' + [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
  return reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(text);
}

type Data<K extends LogKind> = Extract<LogRecord, { kind: K }>['data'];
type Detail = Record<string, string | number | boolean | null>;

/** The instants [from, to) of `days` local days in Việt Nam starting on `date`. */
function localDays(date: string, days: number): { from: string; to: string } {
  return { from: new Date(localToEpoch(date, '00:00')).toISOString(), to: new Date(localToEpoch(addDays(date, days), '00:00')).toISOString() };
}

/** What an operator record's detail says besides the columns of its own: `requested=90; volume=80; cap=80; clamped=true`. */
function detailSummary(detail: Detail, skip: readonly string[]): string {
  return Object.entries(detail)
    .filter(([k, v]) => !skip.includes(k) && v !== null && v !== '')
    .map(([k, v]) => `${k}=${v}`)
    .join('; ');
}

const text = (v: unknown) => (v === undefined || v === null || v === '' || v === false ? null : String(v));

export function reportRoutes(app: FastifyInstance, ctx: Ctx): void {
  const scoped = (zone: string | undefined, p: { zone: string | null }) => {
    const z = zone ?? p.zone;
    if (z && !inScope(p as never, z)) throw httpError('LOA_E_FORBIDDEN', `zone ${z} is outside ${p.zone}`);
    return z ?? null;
  };

  /** The records of one kind the devices under `zone` reported for instants in [from, to), oldest first, with each device's zone. */
  /** `untrusted`: the device stamped it before it knew the time and could not correct it (protocol.md "Records"). */
  function deviceRecords<K extends LogKind>(kind: K, zone: string | null, range: { from: string; to: string }): { device: string; zone: string; at: string; data: Data<K>; untrusted: boolean }[] {
    const devices = new Map(ctx.registry.devicesIn(zone).map((d) => [d.id, d.zone]));
    return ctx.reports
      .recordsBetween(kind, range.from, range.to)
      .filter((r) => devices.has(r.device))
      .map((r) => {
        const rec = JSON.parse(r.record) as { data: Data<K>; clock?: string };
        return { device: r.device, zone: devices.get(r.device)!, at: r.at, data: rec.data, untrusted: rec.clock === 'untrusted' };
      });
  }

  /**
   * A report of one kind of device record over one day in Việt Nam, within
   * the zone: `GET /api/reports/<name>?zone=&date=&format=csv`.
   */
  function dailyLog<K extends LogKind, R extends object>(name: string, kind: K, row: (r: { device: string; zone: string; at: string; data: Data<K>; untrusted: boolean }) => R, csv: { header: string[]; row: (r: R) => unknown[] }): void {
    app.get(`/api/reports/${name}`, async (req, reply) => {
      const p = need(req, 'read');
      const q = parseWith(z.strictObject({ zone: z.string().optional(), date: LocalDate, format: z.enum(['json', 'csv']).default('json') }), req.query, 'query');
      const zone = scoped(q.zone, p);
      const rows = deviceRecords(kind, zone, localDays(q.date, 1)).map(row);
      if (q.format === 'csv') return sendCsv(reply, `${name}-${q.date}`, csv.header, rows.map(csv.row));
      return { date: q.date, zone, rows };
    });
  }

  /** Play log per zone and day. */
  dailyLog(
    'playlog',
    'play',
    ({ device, zone, data: d, untrusted }) => ({ device, zone, programme: d.programme ?? null, title: d.title ?? null, level: d.level, source: d.source, start: d.start, end: d.end ?? null, outcome: d.outcome, volume: d.volume ?? null, rule: d.rule ?? null, reason: d.reason ?? null, clockUntrusted: untrusted }),
    { header: ['device', 'zone', 'programme', 'title', 'level', 'source', 'start', 'end', 'outcome', 'volume', 'rule', 'reason', 'clock_untrusted'], row: (r) => Object.values(r) },
  );

  const OWN = ['address', 'reason', 'rule', 'emergency'] as const;
  /**
   * What the commune operators did on the village panels (log in, a failed
   * login, log out, volume, stop — of an emergency with its reason —,
   * announce, a refused announcement), per zone and day. `emergency` is the
   * emergency a stop ended; `detail` is everything the device recorded,
   * `summary` what of it has no column of its own (the CSV's `detail`).
   */
  dailyLog(
    'operator',
    'operator',
    ({ device, zone, at, data: d }) => {
      const detail: Detail = d.detail ?? {};
      return { device, zone, at, action: d.action, emergency: text(detail.emergency), session: d.session, address: text(detail.address), rule: text(detail.rule), reason: text(detail.reason), summary: detailSummary(detail, OWN), detail };
    },
    { header: ['device', 'zone', 'at', 'action', 'emergency', 'session', 'address', 'rule', 'reason', 'detail'], row: (r) => [r.device, r.zone, r.at, r.action, r.emergency, r.session, r.address, r.rule, r.reason, r.summary] },
  );

  /** Airtime per commune (the parent zone of each village) for the week starting on `week`. */
  app.get('/api/reports/airtime', async (req, reply) => {
    const p = need(req, 'read');
    const q = parseWith(z.strictObject({ zone: z.string().optional(), week: LocalDate, format: z.enum(['json', 'csv']).default('json') }), req.query, 'query');
    const zone = scoped(q.zone, p);
    const totals = new Map<string, { seconds: number; items: number; emergencySeconds: number; untrustedItems: number }>();
    for (const { zone: dz, data: d, untrusted } of deviceRecords('play', zone, localDays(q.week, 7))) {
      if ((d.outcome !== 'played' && d.outcome !== 'interrupted') || !d.end) continue;
      const commune = parentZone(dz) ?? dz;
      const t = totals.get(commune) ?? { seconds: 0, items: 0, emergencySeconds: 0, untrustedItems: 0 };
      if (untrusted) {
        // Times a device could not vouch for are not summed as airtime; they are counted apart.
        t.untrustedItems++;
        totals.set(commune, t);
        continue;
      }
      // What sounded: a programme suspended by an emergency, or cut by a restart and resumed, is not counted for the time in between.
      const s = d.playedMs !== undefined ? d.playedMs / 1000 : Math.max(0, (Date.parse(d.end) - Date.parse(d.start)) / 1000);
      t.seconds += s;
      t.items++;
      if (d.level === 'emergency') t.emergencySeconds += s;
      totals.set(commune, t);
    }
    const rows = [...totals].sort(([a], [b]) => a.localeCompare(b)).map(([commune, t]) => ({ commune, name: ctx.registry.zone(commune)?.name ?? commune, minutes: Math.round(t.seconds / 6) / 10, items: t.items, emergencyMinutes: Math.round(t.emergencySeconds / 6) / 10, untrustedItems: t.untrustedItems }));
    if (q.format === 'csv') return sendCsv(reply, `airtime-${q.week}`, ['commune', 'name', 'minutes', 'items', 'emergency_minutes', 'items_clock_untrusted'], rows.map((r) => Object.values(r)));
    return { week: q.week, zone, rows };
  });

  /** Share of time each device was online between two dates, from the transitions the console saw. */
  app.get('/api/reports/uptime', async (req, reply) => {
    const p = need(req, 'read');
    const q = parseWith(z.strictObject({ zone: z.string().optional(), from: LocalDate, to: LocalDate, format: z.enum(['json', 'csv']).default('json') }), req.query, 'query');
    const zone = scoped(q.zone, p);
    const t0 = localToEpoch(q.from, '00:00');
    const t1 = Math.min(ctx.now(), localToEpoch(addDays(q.to, 1), '00:00'));
    if (t1 <= t0) throw httpError('LOA_E_PAYLOAD_SCHEMA', '`to` must not be before `from`');
    const rows = ctx.registry.devicesIn(zone).map((d) => {
      const ev = ctx.reports.presence(d.id);
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
