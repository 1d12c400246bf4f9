import { h, fill, field, errorBox } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, today, errorText } from '/ui/common/i18n.js';
import { dateInput } from '/ui/common/date-input.js';

// A device's day plan as the console computes it from the programmes and
// rules it would get now: what plays, what is shortened, what is refused and
// by which rule. Items whose time has passed show what the device reported
// happened (played, interrupted, refused, missed — or nothing reported yet),
// not what the plan said would.

/** The verdict of one item: {key, text, why} — the plan's for an item to come, the play log's for one past. */
function verdict(i) {
  const ruleWhy = (rule, reason) => (rule && rule !== 'missed' ? h('span', {}, h('strong', {}, t(`rule.${rule}`)), reason ? ` — ${reason}` : '') : (reason ?? null));
  if (!i.when || i.when === 'next') return { key: i.status, text: t(`plan.status.${i.status}`), why: ruleWhy(i.rule, i.reason) };
  if (!i.outcome) return { key: 'now', text: t('plan.outcome.now'), why: null };
  return { key: i.outcome, text: t(`plan.outcome.${i.outcome}`), why: i.outcome === 'absent' ? t('plan.outcome.absentWhy') : ruleWhy(i.outcomeRule, i.outcomeReason) };
}

export function planSection(ctx) {
  const device = h('select', { 'data-testid': 'plan-device' });
  const date = dateInput(today(), { required: true, 'data-testid': 'plan-date' });
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
      const plan = await api.get(`/api/devices/${encodeURIComponent(device.value)}/plan${api.qs({ date: date.day })}`);
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
            plan.items.map((i) => {
              const v = verdict(i);
              return h(
                'tr',
                { class: [`plan-${i.status}`, `when-${i.when ?? 'next'}`], 'data-testid': `plan-${i.programme}`, 'data-status': i.status, 'data-when': i.when ?? 'next', 'data-outcome': i.outcome ?? '', 'data-rule': i.rule ?? '' },
                h('td', { 'data-label': t('plan.col.time') }, fmt.span(i.start, i.end)),
                h('td', { 'data-label': t('plan.col.title') }, i.title),
                h('td', { 'data-label': t('plan.col.level') }, t(`level.${i.level}`)),
                h('td', { 'data-label': t('plan.col.volume') }, i.status === 'refused' ? '—' : `${i.volume}%`),
                h('td', { 'data-label': t('plan.col.status') }, h('span', { class: ['badge', `badge-${v.key}`], 'data-testid': 'plan-verdict' }, v.text)),
                h('td', { 'data-label': t('plan.col.reason') }, v.why ?? '—'),
              );
            }),
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
