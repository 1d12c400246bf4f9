import { h, fill, errorBox } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, errorText } from '/ui/common/i18n.js';

// The audit log (admins): who did what, when — the latest 200 entries.

export function render() {
  const out = h('div', { class: 'table-wrap' });
  const err = errorBox();
  const filter = h('input', { type: 'search', 'data-testid': 'audit-filter', placeholder: t('audit.filterHint') });
  let entries = [];
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = q ? entries.filter((e) => `${e.actor} ${e.action} ${e.subject}`.toLowerCase().includes(q)) : entries;
    fill(
      out,
      h(
        'table',
        { class: 'stack', 'data-testid': 'audit-list' },
        h('thead', {}, h('tr', {}, ['audit.col.at', 'audit.col.actor', 'audit.col.action', 'audit.col.subject', 'audit.col.detail'].map((c) => h('th', { scope: 'col' }, t(c))))),
        h(
          'tbody',
          {},
          shown.map((e) =>
            h(
              'tr',
              { 'data-action': e.action },
              h('td', { 'data-label': t('audit.col.at') }, fmt.dateTime(e.at)),
              h('td', { 'data-label': t('audit.col.actor') }, e.actor),
              h('td', { 'data-label': t('audit.col.action') }, h('code', {}, e.action)),
              h('td', { 'data-label': t('audit.col.subject') }, e.subject),
              h('td', { 'data-label': t('audit.col.detail'), class: 'detail' }, e.detail === null ? '' : JSON.stringify(e.detail)),
            ),
          ),
        ),
      ),
    );
  };
  filter.addEventListener('input', draw);
  api.get('/api/audit').then(
    (r) => ((entries = r.entries), draw()),
    (e) => err.show(errorText(e)),
  );
  return { el: h('div', { class: 'view audit' }, h('h1', {}, t('nav.audit')), h('label', { class: 'field' }, t('audit.filter'), filter), err.el, out) };
}
