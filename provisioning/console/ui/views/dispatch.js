import { h, fill, errorBox, confirmDialog } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, errorText } from '/ui/common/i18n.js';
import { composeForm } from './dispatch-compose.js';
import { modeBadge } from './modes.js';

// Emergency dispatch: compose (dispatch accounts), the recent dispatches with
// their approval state, an Approve button for approvers who did not compose
// it, and the ack roll-up per zone — received, playing, finished, cancelled,
// rejected, silent — updated live from /api/events, once it has been sent
// (before that no device is expected to answer).

const ACKS = ['received', 'playing', 'finished', 'cancelled', 'rejected', 'silent'];
const DETAILED = 10;

export function render(ctx) {
  const me = ctx.me;
  const items = new Map(); // id → { dispatch, rollup }
  const listEl = h('div', { class: 'dispatches', 'data-testid': 'dispatch-list' });
  const err = errorBox();
  let zones = [];

  async function load() {
    err.clear();
    try {
      const [zs, { dispatches }] = await Promise.all([ctx.zones(), api.get('/api/dispatches')]);
      zones = zs;
      for (const d of dispatches) if (!items.has(d.id)) items.set(d.id, { dispatch: d, rollup: null });
      draw();
      // Roll-ups of the most recent emergencies (the list route carries none).
      const recent = dispatches.filter((d) => d.kind === 'start' && d.status === 'sent').slice(0, DETAILED);
      for (const d of recent) {
        const r = await api.get(`/api/dispatches/${d.id}`);
        const cur = items.get(d.id);
        if (cur && !cur.rollup) update(r.dispatch, r.rollup);
      }
    } catch (e) {
      err.show(errorText(e));
    }
  }

  function update(dispatch, rollup) {
    const prev = items.get(dispatch.id);
    items.set(dispatch.id, { dispatch, rollup: rollup ?? prev?.rollup ?? null });
    const old = listEl.querySelector(`[data-dispatch="${CSS.escape(dispatch.id)}"]`);
    if (old) old.replaceWith(card(items.get(dispatch.id)));
    else draw();
  }

  function draw() {
    const all = [...items.values()].sort((a, b) => b.dispatch.createdAt.localeCompare(a.dispatch.createdAt));
    fill(listEl, all.length ? all.map(card) : h('p', { class: 'muted' }, t('dispatch.none')));
  }

  const onEvent = (e) => update(e.detail.dispatch, e.detail.rollup);
  ctx.live.addEventListener('dispatch', onEvent);

  function card({ dispatch: d, rollup }) {
    const cmd = d.command;
    const start = d.kind === 'start';
    const original = d.cancels ? items.get(d.cancels)?.dispatch : null;
    const titleText = start ? (cmd.title ?? t('dispatch.untitled', { level: cmd.level })) : t('dispatch.cancelOf', { title: original?.command.title ?? d.cancels?.slice(0, 8) ?? '' });
    const canApprove = me.can.approve && d.status === 'pending' && d.createdBy !== me.account.name;
    const canCancel = start && (me.can.dispatch || me.can.approve) && (d.status === 'sent' || (d.status === 'pending' && d.createdBy === me.account.name));
    const cardErr = errorBox();
    const content = start ? (cmd.content.kind === 'standard' ? t(`clip.${cmd.content.clip}`) : cmd.content.kind === 'tts' ? `${t('compose.content.tts')}: “${cmd.content.text}”` : `${t('compose.content.asset')}: ${cmd.content.asset?.title ?? ''}`) : null;
    return h(
      'article',
      { class: ['dispatch-card', `mode-${d.mode}`, `status-${d.status}`], 'data-testid': `dispatch-${d.id}`, 'data-dispatch': d.id, 'data-status': d.status, 'data-mode': d.mode, 'data-kind': d.kind },
      h('header', {}, modeBadge(d.mode), ' ', h('strong', {}, titleText), ' ', h('span', { class: ['badge', `badge-${d.status}`], 'data-testid': 'status' }, t(`dstatus.${d.status}`))),
      start ? h('p', {}, t('dispatch.line', { level: cmd.level, repeat: cmd.repeat, expires: fmt.dateTime(cmd.expiresAt) }), ' · ', content) : null,
      h('p', { class: 'muted' }, t('dispatch.zones'), ': ', d.zones.map((z) => ctx.zoneName(zones, z)).join(', ')),
      h('p', { class: 'muted' }, t('dispatch.by', { who: d.createdBy, at: fmt.dateTime(d.createdAt) }), d.approvedBy ? ` · ${t('dispatch.approvedBy', { who: d.approvedBy })}` : '', d.sentAt ? ` · ${t('dispatch.sentAt', { at: fmt.dateTime(d.sentAt) })}` : ''),
      d.status === 'pending' ? h('p', { class: 'pending-note', 'data-testid': 'pending-note' }, d.createdBy === me.account.name ? t('dispatch.waitingOther') : t('dispatch.waiting')) : null,
      // Devices answer only what was sent: a pending (or withdrawn) dispatch has no one silent yet.
      rollup && d.sentAt ? rollupTable(rollup) : null,
      h(
        'div',
        { class: 'actions' },
        canApprove ? h('button', { type: 'button', class: ['primary', `mode-${d.mode}`], 'data-testid': 'approve', onclick: () => approve(d, cardErr) }, t('dispatch.approve')) : null,
        canCancel ? h('button', { type: 'button', class: 'danger', 'data-testid': 'cancel', onclick: () => cancel(d, cardErr) }, d.status === 'pending' ? t('dispatch.withdraw') : t('dispatch.cancel')) : null,
      ),
      cardErr.el,
    );
  }

  function rollupTable(r) {
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'rollup', 'data-testid': 'rollup' },
        h('caption', {}, t('rollup.caption')),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('rollup.zone')), ACKS.map((a) => h('th', { scope: 'col', class: `ack-${a}` }, t(`ack.${a}`))))),
        h(
          'tbody',
          {},
          r.zones.map((z) => h('tr', { 'data-testid': 'rollup-row', 'data-zone': z.zone }, h('th', { scope: 'row' }, ctx.zoneName(zones, z.zone)), ACKS.map((a) => h('td', { class: z.counts[a] ? `ack-${a} nonzero` : `ack-${a}`, 'data-testid': `count-${a}`, 'data-label': t(`ack.${a}`) }, String(z.counts[a] ?? 0))))),
        ),
      ),
      h(
        'details',
        {},
        h('summary', {}, t('rollup.devices')),
        h('ul', { class: 'acks' }, r.devices.map((x) => h('li', { 'data-testid': `ack-${x.device}`, 'data-status': x.status }, `${x.device}: ${t(`ack.${x.status}`)}`, x.code ? ` (${x.code})` : ''))),
      ),
    );
  }

  async function approve(d, cardErr) {
    const m = d.mode;
    const ok = await confirmDialog({
      title: t(`approve.${m}.title`),
      body: [t(`approve.${m}.body`), t('approve.by', { who: d.createdBy, zones: d.zones.map((z) => ctx.zoneName(zones, z)).join(', ') })],
      confirmLabel: t(`approve.${m}.ok`),
      cancelLabel: t('common.cancel'),
      className: `mode-${m}`,
      testid: `approve-${m}`,
      ...(m === 'actual' && d.kind === 'start' ? { mustType: t('confirm.actual.word'), typeLabel: t('confirm.actual.type', { word: t('confirm.actual.word') }) } : {}),
    });
    if (!ok) return;
    try {
      const r = await api.post(`/api/dispatches/${d.id}/approve`);
      update(r.dispatch, null);
    } catch (e) {
      cardErr.show(errorText(e));
    }
  }

  async function cancel(d, cardErr) {
    const pending = d.status === 'pending';
    const ok = await confirmDialog({
      title: t(pending ? 'cancel.withdrawTitle' : 'cancel.title'),
      body: [t(pending ? 'cancel.withdrawBody' : d.mode === 'actual' ? 'cancel.bodyActual' : 'cancel.body')],
      confirmLabel: t(pending ? 'dispatch.withdraw' : 'dispatch.cancel'),
      cancelLabel: t('common.back'),
      className: 'danger',
      testid: 'confirm-cancel-dispatch',
    });
    if (!ok) return;
    try {
      const r = await api.post(`/api/dispatches/${d.id}/cancel`);
      update(r.dispatch, null);
      load();
    } catch (e) {
      cardErr.show(errorText(e));
    }
  }

  const el = h(
    'div',
    { class: 'view dispatch' },
    h('h1', {}, t('nav.dispatch')),
    me.can.dispatch ? composeForm(ctx, (d) => update(d, null)) : null,
    h('section', {}, h('h2', {}, t('dispatch.recent')), err.el, listEl),
  );
  load();
  return { el, stop: () => ctx.live.removeEventListener('dispatch', onEvent) };
}
