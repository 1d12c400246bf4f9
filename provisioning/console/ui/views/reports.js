import { h, fill, field, errorBox } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, hasKey, fmt, today, addDays, mondayOf, errorText } from '/ui/common/i18n.js';
import { dateInput } from '/ui/common/date-input.js';

// Reports the province sends upward: the play log of a zone for a day,
// what the commune operators did on the village panels that day, airtime per
// commune for a week, uptime per device; each as a table here and as a CSV
// file (UTF-8 with BOM, opens in Excel with the diacritics).

/** An operator action in words: a stop that ended an emergency is told apart; an action this page does not know is shown as the device sent it. */
const operatorAction = (r) => {
  const key = r.action === 'stop' && r.emergency ? 'operator.stop.emergency' : `operator.${r.action}`;
  return hasKey(key) ? t(key) : r.action;
};

/** What the action was about: the volume set (and what was asked when the cap clamped it), the title stopped or announced. */
function operatorDetail(r) {
  const d = r.detail ?? {};
  if (r.action === 'volume' && typeof d.volume === 'number') return d.clamped ? t('operator.volumeClamped', { volume: d.volume, requested: d.requested, cap: d.cap }) : `${d.volume}%`;
  if (typeof d.title === 'string' && d.title) return d.title;
  if (r.action === 'stop' && hasKey(`source.${d.source}`)) return t(`source.${d.source}`);
  return r.summary || '—';
}

/** Why: the operator's own reason, or the rule that refused an announcement. */
const operatorReason = (r) => r.reason ?? (r.rule ? (hasKey(`rule.${r.rule}`) ? t(`rule.${r.rule}`) : r.rule) : '—');

export function render(ctx) {
  const zoneSelect = (testid) => {
    const s = h('select', { 'data-testid': testid });
    ctx.zones().then((zs) => fill(s, ctx.me.account.zone ? null : h('option', { value: '' }, t('reports.allZones')), zs.filter((z) => z.inScope).map((z) => h('option', { value: z.path, selected: z.path === ctx.me.account.zone }, `${z.name} (${z.path})`))));
    return s;
  };

  /** A report form: fields, then on submit a table and a CSV link for the same query. */
  function report({ id, title, intro, fields, query, columns, row }) {
    const out = h('div', { class: 'table-wrap', 'data-testid': `${id}-result`, 'aria-live': 'polite' });
    const csv = h('a', { class: 'button', hidden: true, download: '', 'data-testid': `${id}-csv` }, t('reports.csv'));
    const err = errorBox();
    const submit = async (e) => {
      e?.preventDefault();
      err.clear();
      const q = query();
      csv.href = `/api/reports/${id}${api.qs({ ...q, format: 'csv' })}`;
      csv.hidden = false;
      try {
        const r = await api.get(`/api/reports/${id}${api.qs(q)}`);
        fill(
          out,
          r.rows.length
            ? h('table', { class: 'stack' }, h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, t(c))))), h('tbody', {}, r.rows.map((x) => h('tr', {}, row(x).map((v, i) => h('td', { 'data-label': t(columns[i]) }, v))))))
            : h('p', { class: 'muted' }, t('reports.empty')),
        );
      } catch (x) {
        fill(out);
        err.show(errorText(x));
      }
    };
    return h(
      'section',
      { class: 'card', 'data-testid': `report-${id}` },
      h('h2', {}, t(title)),
      h('p', { class: 'muted' }, t(intro)),
      h('form', { onsubmit: submit }, h('div', { class: 'row' }, fields, h('div', { class: 'field end' }, h('button', { type: 'submit', 'data-testid': `${id}-show` }, t('reports.show'))))),
      h('div', { class: 'actions' }, csv),
      err.el,
      out,
    );
  }

  const plZone = zoneSelect('playlog-zone');
  const plDate = dateInput(today(), { required: true, 'data-testid': 'playlog-date' });
  const opZone = zoneSelect('operator-zone');
  const opDate = dateInput(today(), { required: true, 'data-testid': 'operator-date' });
  const atZone = zoneSelect('airtime-zone');
  const atWeek = dateInput(mondayOf(today()), { required: true, 'data-testid': 'airtime-week' });
  const upZone = zoneSelect('uptime-zone');
  const upFrom = dateInput(addDays(today(), -6), { required: true, 'data-testid': 'uptime-from' });
  const upTo = dateInput(today(), { required: true, 'data-testid': 'uptime-to' });

  const el = h(
    'div',
    { class: 'view reports' },
    h('h1', {}, t('nav.reports')),
    report({
      id: 'playlog',
      title: 'reports.playlog',
      intro: 'reports.playlogIntro',
      fields: [field(t('reports.zone'), plZone), field(t('reports.date'), plDate)],
      query: () => ({ zone: plZone.value, date: plDate.day }),
      columns: ['reports.col.time', 'reports.col.device', 'reports.col.title', 'reports.col.level', 'reports.col.outcome', 'reports.col.volume', 'reports.col.reason'],
      row: (r) => [fmt.span(r.start, r.end), r.device, r.title ?? r.programme ?? t(`source.${r.source}`), t(`level.${r.level}`), t(`outcome.${r.outcome}`), r.volume === null ? '—' : `${r.volume}%`, r.rule ? `${t(`rule.${r.rule}`)}${r.reason ? ` — ${r.reason}` : ''}` : '—'],
    }),
    report({
      id: 'operator',
      title: 'reports.operator',
      intro: 'reports.operatorIntro',
      fields: [field(t('reports.zone'), opZone), field(t('reports.date'), opDate)],
      query: () => ({ zone: opZone.value, date: opDate.day }),
      columns: ['reports.col.time', 'reports.col.device', 'reports.col.action', 'reports.col.detail', 'reports.col.reason', 'reports.col.session'],
      row: (r) => [fmt.seconds(r.at), r.device, operatorAction(r), operatorDetail(r), operatorReason(r), r.address ? `${r.session} · ${r.address}` : r.session],
    }),
    report({
      id: 'airtime',
      title: 'reports.airtime',
      intro: 'reports.airtimeIntro',
      fields: [field(t('reports.zone'), atZone), field(t('reports.week'), atWeek, t('reports.weekHint'))],
      query: () => ({ zone: atZone.value, week: mondayOf(atWeek.day || today()) }),
      columns: ['reports.col.commune', 'reports.col.minutes', 'reports.col.items', 'reports.col.emergencyMinutes'],
      row: (r) => [`${r.name} (${r.commune})`, fmt.number(r.minutes, 1), String(r.items), fmt.number(r.emergencyMinutes, 1)],
    }),
    report({
      id: 'uptime',
      title: 'reports.uptime',
      intro: 'reports.uptimeIntro',
      fields: [field(t('reports.zone'), upZone), field(t('reports.from'), upFrom), field(t('reports.to'), upTo)],
      query: () => ({ zone: upZone.value, from: upFrom.day, to: upTo.day }),
      columns: ['reports.col.device', 'reports.col.zone', 'reports.col.uptime'],
      row: (r) => [r.device, r.zone, `${fmt.number(r.uptimePercent, 1)}%`],
    }),
  );
  return { el };
}
