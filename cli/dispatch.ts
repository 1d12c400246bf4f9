import { command, group, int, str, UsageError } from '../lib/cli.js';
import { CONN, session } from './console-client.js';

// `loa dispatch …`: emergency dispatch from a terminal, through the console's
// API with the dispatcher's own account — the same rules as the web console
// (actual emergencies and their cancels wait for an approver), the same
// audit log, the dispatch key staying with the console.

interface Rollup {
  zones: { zone: string; counts: Record<string, number> }[];
}
interface Dispatch {
  id: string;
  kind: string;
  status: string;
  mode: string;
  zones: string[];
  approvedBy: string | null;
}

function describe(d: Dispatch, rollup: Rollup | null): string {
  const mode = d.mode === 'actual' ? 'THẬT (actual)' : d.mode === 'exercise' ? 'DIỄN TẬP (exercise)' : 'THỬ NGHIỆM (test)';
  const lines = [`${d.id}  ${d.kind}  ${mode}  ${d.status}${d.approvedBy ? ` (approved by ${d.approvedBy})` : ''}  ${d.zones.join(', ')}`];
  for (const z of rollup?.zones ?? []) lines.push(`  ${z.zone}: ${Object.entries(z.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return lines.join('\n');
}

const send = command({
  summary: 'compose an emergency: exercises and tests go out at once, actual ones wait for an approver',
  options: {
    ...CONN,
    mode: { type: 'string', placeholder: 'MODE', description: 'actual, exercise or test' },
    zone: { type: 'string', multiple: true, placeholder: 'PATH', description: 'zone to reach (repeatable)' },
    device: { type: 'string', multiple: true, placeholder: 'ID', description: 'single device to reach (repeatable)' },
    level: { type: 'string', placeholder: '1-5', description: 'disaster risk level (QĐ 18/2021)', default: '3' },
    clip: { type: 'string', placeholder: 'NAME', description: 'standard clip: siren, chime, alert-tone, drill-preamble' },
    asset: { type: 'string', placeholder: 'SHA256', description: 'a library clip instead' },
    repeat: { type: 'string', placeholder: 'N', description: 'times to play it', default: '2' },
    expires: { type: 'string', placeholder: 'MINUTES', description: 'how long it stays valid', default: '60' },
    title: { type: 'string', placeholder: 'TEXT', description: 'what people see, e.g. "Lũ quét"' },
  },
  run: async (inv) => {
    const mode = str(inv.values.mode);
    if (!mode || !['actual', 'exercise', 'test'].includes(mode)) throw new UsageError('--mode must be actual, exercise or test (chosen on purpose: there is no default)');
    const zones = (inv.values.zone as string[] | undefined) ?? [];
    const devices = (inv.values.device as string[] | undefined) ?? [];
    if (!zones.length && !devices.length) throw new UsageError('give at least one --zone or --device');
    const asset = str(inv.values.asset);
    const content = asset ? { kind: 'asset', sha256: asset } : { kind: 'standard', clip: str(inv.values.clip) ?? 'siren' };
    const api = await session(inv);
    const r = (await api.call('POST', '/api/dispatches', {
      mode,
      level: int('level', inv.values.level, { min: 1, max: 5 }),
      zones,
      devices,
      content,
      repeat: int('repeat', inv.values.repeat, { min: 1, max: 20 }),
      expiresMinutes: int('expires', inv.values.expires, { min: 1, max: 1440 }),
      ...(str(inv.values.title) ? { title: str(inv.values.title) } : {}),
    })) as { dispatch: Dispatch };
    inv.io.out(inv.values.json ? JSON.stringify(r.dispatch, null, 2) : describe(r.dispatch, null) + (r.dispatch.status === 'pending' ? `\nwaiting for an approver: loa dispatch approve ${r.dispatch.id}` : ''));
    return 0;
  },
});

const idCommand = (summary: string, action: 'approve' | 'cancel') =>
  command({
    summary,
    args: [{ name: 'ID', description: 'the dispatch id' }],
    options: { ...CONN },
    run: async (inv) => {
      const api = await session(inv);
      const r = (await api.call('POST', `/api/dispatches/${encodeURIComponent(inv.positionals[0]!)}/${action}`)) as { dispatch: Dispatch };
      inv.io.out(inv.values.json ? JSON.stringify(r.dispatch, null, 2) : describe(r.dispatch, null));
      return 0;
    },
  });

const status = command({
  summary: 'a dispatch and its ack roll-up per zone (or the recent dispatches)',
  args: [{ name: 'ID', description: 'the dispatch id (omit to list recent ones)', optional: true }],
  options: { ...CONN, watch: { type: 'boolean', description: 'print the roll-up again every 2 s until Ctrl-C' } },
  run: async (inv) => {
    const api = await session(inv);
    const id = inv.positionals[0];
    if (!id) {
      const r = (await api.call('GET', '/api/dispatches')) as { dispatches: Dispatch[] };
      inv.io.out(inv.values.json ? JSON.stringify(r.dispatches, null, 2) : r.dispatches.map((d) => describe(d, null)).join('\n') || '(none)');
      return 0;
    }
    for (;;) {
      const r = (await api.call('GET', `/api/dispatches/${encodeURIComponent(id)}`)) as { dispatch: Dispatch; rollup: Rollup | null };
      inv.io.out(inv.values.json ? JSON.stringify(r, null, 2) : describe(r.dispatch, r.rollup));
      if (!inv.values.watch) return 0;
      await new Promise((res) => setTimeout(res, 2000));
    }
  },
});

export const dispatch = group('emergency dispatch from a terminal, through the console', {
  send,
  approve: idCommand('approve an actual emergency or a cancel someone else composed', 'approve'),
  cancel: idCommand('cancel an emergency (actual ones after approval)', 'cancel'),
  status,
});
