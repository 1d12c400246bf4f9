import { h, fill } from '/ui/common/dom.js';
import { t, fmt } from '/ui/common/i18n.js';
import { when } from './words.js';
import { card } from './parts.js';

// The cluster's status as /api/status tells it: one row per fact, a word
// and a colour for what needs attention (link down, clock untrusted,
// amplifier fault, disk full, schedule not synchronised).

const row = (label, testid) => {
  const dd = h('dd', { 'data-testid': testid });
  return { dd, els: [h('dt', {}, label), dd] };
};

export function statusCard(ctx) {
  const rows = {
    link: row(t('status.link'), 'status-link'),
    clock: row(t('status.clock'), 'status-clock'),
    amplifier: row(t('status.amplifier'), 'status-amplifier'),
    volume: row(t('status.volume'), 'status-volume'),
    disk: row(t('status.disk'), 'status-disk'),
    store: row(t('status.store'), 'status-store'),
    target: row(t('status.target'), 'status-target'),
    sync: row(t('status.sync'), 'status-sync'),
    outbox: row(t('status.outbox'), 'status-outbox'),
    agent: row(t('status.agent'), 'status-agent'),
  };
  const updated = h('p', { class: 'muted small', 'data-testid': 'status-updated' });
  const el = card('status', t('status.title'), { 'data-testid': 'status' }, h('dl', { class: 'facts' }, Object.values(rows).map((r) => r.els)), updated);

  const put = (r, tone, ...text) => {
    r.dd.className = tone ?? '';
    fill(r.dd, ...text);
  };

  return {
    el,
    update(s) {
      const now = ctx.now();
      const link = s.link ?? {};
      if (link.connected) put(rows.link, 'ok', link.since ? t('status.link.up', { when: when(link.since, now) }) : t('status.link.upNoSince'));
      else put(rows.link, 'bad', link.since ? t('status.link.down', { when: when(link.since, now) }) : t('status.link.downNoSince'));
      rows.link.dd.dataset.connected = String(!!link.connected);

      const c = s.clock ?? {};
      put(rows.clock, c.trusted ? 'ok' : 'bad', t('clock.line', { state: t(c.trusted ? 'clock.trusted' : 'clock.untrusted'), source: t(`clock.${c.source ?? 'none'}`) }));
      rows.clock.dd.dataset.trusted = String(!!c.trusted);

      put(rows.amplifier, s.amplifier === 'fault' ? 'bad' : s.amplifier === 'warming' ? 'warn' : null, t(`amp.${s.amplifier ?? 'off'}`));

      const v = s.volume ?? {};
      put(
        rows.volume,
        null,
        t(v.cap > 0 ? 'status.volume.line' : 'status.volume.quiet', { setting: v.setting ?? '—', cap: v.cap ?? '—' }),
        Number.isFinite(v.current) ? ` · ${t('status.volume.current', { current: v.current })}` : '',
      );

      const d = s.disk ?? {};
      put(rows.disk, d.full ? 'bad' : null, t('status.disk.line', { free: fmt.bytes(d.freeBytes), used: fmt.bytes(d.usedBytes), budget: fmt.bytes(d.budgetBytes) }), d.full ? h('br') : null, d.full ? t('status.disk.full') : null);

      // The device's own records: a full disk or a damaged store degrades them, never the emergency alert.
      const st = s.store ?? { state: 'ok' };
      const storeText = {
        ok: () => t('status.store.ok'),
        full: () => (st.held > 0 ? t('status.store.full', { n: fmt.number(st.held) }) : t('status.store.fullNone')),
        rebuilt: () => t('status.store.rebuilt', { when: st.since ? when(st.since, now) : '—' }),
        memory: () => t('status.store.memory'),
      }[st.state] ?? (() => st.state);
      put(rows.store, st.state === 'ok' ? null : st.state === 'rebuilt' ? 'warn' : 'bad', storeText());
      rows.store.dd.dataset.state = st.state;
      if (st.detail && st.state !== 'ok') rows.store.dd.title = st.detail;

      const tg = s.target ?? {};
      const notes = [];
      if (tg.received !== null && tg.received !== undefined && tg.received !== tg.applied && tg.sync !== 'blocked') notes.push(t('status.target.syncing', { v: tg.received }));
      if (tg.sync === 'blocked') notes.push(t('status.target.blocked'));
      if (tg.missingAssets > 0) notes.push(t('status.target.missing', { n: tg.missingAssets }));
      put(rows.target, tg.sync === 'blocked' || tg.missingAssets > 0 ? 'warn' : null, tg.applied === null || tg.applied === undefined ? t('status.target.none') : t('status.target.applied', { v: tg.applied }), notes.length ? ` · ${notes.join(' · ')}` : '');

      put(rows.sync, null, tg.lastSyncAt ? when(tg.lastSyncAt, now) : '—');
      const pending = s.outbox?.pending ?? 0;
      put(rows.outbox, pending > 0 && !link.connected ? 'warn' : null, pending > 0 ? t('status.outbox.n', { n: fmt.number(pending) }) : t('status.outbox.none'));
      put(rows.agent, null, `Loa ${s.agent ?? '—'}`);
      fill(updated, t('status.updated', { time: s.now ? fmt.seconds(s.now) : '—' }));
    },
  };
}
