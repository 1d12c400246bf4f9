import { h, fill, field, errorBox } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, today, errorText } from '/ui/common/i18n.js';

// A device's day plan as the console computes it from the programmes and
// rules it would get now: what plays, what is shortened, what is refused and
// by which rule.

export function planSection(ctx) {
  const device = h('select', { 'data-testid': 'plan-device' });
  const date = h('input', { type: 'date', value: today(), required: true, 'data-testid': 'plan-date' });
  const out = h('div', { class: 'table-wrap', 'data-testid': 'plan-result', 'aria-live': 'polite' });
  const err = errorBox();
  api.get('/api/devices').then(
    ({ devices }) => fill(device, devices.map((d) => h('option', { value: d.id }, `${d.id} (${d.zone})`))),
    (e) => err.show(errorText(e)),
  );

  async function show(e) {
    e.preventDefault();
    err.clear();
    try {
      const plan = await api.get(`/api/devices/${encodeURIComponent(device.value)}/plan${api.qs({ date: date.value })}`);
      if (!plan.items.length) return fill(out, h('p', { class: 'muted' }, t('plan.empty')));
      fill(
        out,
        h(
          'table',
          { class: 'stack' },
          h('caption', {}, t('plan.caption', { device: plan.device, date: fmt.day(plan.date) })),
          h('thead', {}, h('tr', {}, [t('plan.col.time'), t('plan.col.title'), t('plan.col.level'), t('plan.col.volume'), t('plan.col.status'), t('plan.col.reason')].map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            {},
            plan.items.map((i) =>
              h(
                'tr',
                { class: `plan-${i.status}`, 'data-testid': `plan-${i.programme}`, 'data-status': i.status, 'data-rule': i.rule ?? '' },
                h('td', { 'data-label': t('plan.col.time') }, i.status === 'refused' ? fmt.time(i.scheduled) : `${fmt.time(i.start)}–${fmt.time(i.end)}`),
                h('td', { 'data-label': t('plan.col.title') }, i.title),
                h('td', { 'data-label': t('plan.col.level') }, t(`level.${i.level}`)),
                h('td', { 'data-label': t('plan.col.volume') }, i.status === 'refused' ? '—' : `${i.volume}%`),
                h('td', { 'data-label': t('plan.col.status') }, h('span', { class: ['badge', `badge-${i.status}`] }, t(`plan.status.${i.status}`))),
                h('td', { 'data-label': t('plan.col.reason') }, i.rule ? h('span', {}, h('strong', {}, t(`rule.${i.rule}`)), i.reason ? ` — ${i.reason}` : '') : '—'),
              ),
            ),
          ),
        ),
      );
    } catch (x) {
      fill(out);
      err.show(errorText(x));
    }
  }

  return h(
    'section',
    { class: 'card', 'data-testid': 'plan' },
    h('h2', {}, t('plan.title')),
    h('form', { onsubmit: show }, h('div', { class: 'row' }, field(t('plan.device'), device), field(t('plan.date'), date), h('div', { class: 'field end' }, h('button', { type: 'submit', 'data-testid': 'plan-show' }, t('plan.show'))))),
    err.el,
    out,
  );
}
