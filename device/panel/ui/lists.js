import { h, fill, errorBox } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt } from '/ui/common/i18n.js';
import { clock, errorText, levelText, outcomeText, ruleText, sourceText } from './words.js';
import { card, levelBadge } from './parts.js';

// Today's plan as the agent will carry it out (what will be refused or
// shortened, and by which rule) — and for what is past, what became of it
// by the cluster's own journal (played, interrupted, refused, missed) — and
// the recent play log, newest first.

const LOG_LIMIT = 30;

export function planCard(ctx) {
  const date = h('p', { class: 'muted', 'data-testid': 'plan-date' });
  const list = h('ol', { class: 'items plan-list', 'data-testid': 'plan-list' });
  const err = errorBox({ 'data-testid': 'plan-error' });
  const el = card('plan', t('plan.title'), {}, date, err.el, list);

  function item(i, now) {
    const start = Date.parse(i.start);
    const end = Date.parse(i.end);
    // The server tells past from future by the cluster's clock; an older agent does not: by the same clock here.
    const when = i.when ?? (now >= end ? 'past' : now >= start ? 'now' : 'next');
    const status = ['ok', 'shortened', 'refused'].includes(i.status) ? i.status : 'ok';
    let verdict;
    let why = null;
    if (when === 'next' || (when === 'past' && i.outcome === undefined)) {
      verdict = t(`plan.status.${status}`);
      why = status === 'ok' ? null : ruleText(i.rule, i.reason);
    } else if (!i.outcome) verdict = t('plan.outcome.now');
    else {
      // What the journal says became of it: a past item never says "will play".
      verdict = t(`plan.outcome.${i.outcome}`);
      if (i.outcome === 'refused' || i.outcome === 'failed') why = ruleText(i.outcomeRule, i.outcomeReason);
      else if (i.outcome === 'interrupted' && i.outcomeReason) why = i.outcomeReason;
    }
    return h(
      'li',
      { class: ['item', `status-${status}`, `when-${when}`, i.outcome ? `outcome-${i.outcome}` : null], 'data-testid': 'plan-item', 'data-status': status, 'data-when': when, 'data-outcome': i.outcome ?? '', 'data-key': i.key, ...(i.rule ? { 'data-rule': i.rule } : {}) },
      h('span', { class: 'time' }, fmt.span(i.start, i.end)),
      h('span', { class: 'title' }, i.title ?? i.programme ?? '—'),
      h('span', { class: 'meta' }, levelBadge(i.level, levelText(i.level)), Number.isFinite(i.volume) && status !== 'refused' ? ` ${t('plan.volume', { v: i.volume })}` : ''),
      h('span', { class: 'verdict', 'data-testid': 'plan-status' }, h('strong', {}, verdict), why ? `: ${why}` : null),
    );
  }

  return {
    el,
    async refresh() {
      try {
        // No date: the agent's own today (its clock, Asia/Ho_Chi_Minh).
        const r = await api.get('/api/plan');
        err.clear();
        fill(date, r.date ? t('plan.date', { date: fmt.day(r.date) }) : '');
        const now = ctx.now();
        const items = [...(r.items ?? [])].sort((a, b) => a.start.localeCompare(b.start));
        if (!items.length) fill(list, h('li', { class: 'empty muted' }, t('plan.empty')));
        else fill(list, items.map((i) => item(i, now)));
      } catch (e) {
        if (e.status !== 401) err.show(errorText(e));
        throw e;
      }
    },
  };
}

export function logCard(ctx) {
  const list = h('ol', { class: 'items log-list', 'data-testid': 'log-list' });
  const err = errorBox({ 'data-testid': 'log-error' });
  const el = card('log', t('log.title'), {}, err.el, list);

  function item(r, now) {
    const start = Date.parse(r.start);
    const end = r.end ? Date.parse(r.end) : NaN;
    const details = [];
    if (Number.isFinite(end) && end > start) details.push(fmt.duration(end - start));
    if (Number.isFinite(r.volume)) details.push(t('log.volume', { v: r.volume }));
    if (r.outcome === 'refused' || r.rule) details.push(ruleText(r.rule, r.reason));
    else if (r.outcome === 'failed' && r.reason) details.push(r.reason);
    if (r.interruptedBy) details.push(t('log.interruptedBy', { level: levelText(r.interruptedBy).toLocaleLowerCase(document.documentElement.lang) }));
    const src = sourceText(r.source);
    return h(
      'li',
      { class: ['item', `outcome-${r.outcome}`], 'data-testid': 'log-item', 'data-outcome': r.outcome },
      h('span', { class: 'time' }, clock(r.start ?? r.at, now)),
      h('span', { class: 'title' }, r.title ?? src),
      h('span', { class: 'meta' }, levelBadge(r.level, levelText(r.level)), src !== levelText(r.level) ? ` ${src}` : ''),
      h('span', { class: 'verdict' }, h('strong', {}, outcomeText(r.outcome)), details.length ? ` · ${details.join(' · ')}` : ''),
    );
  }

  return {
    el,
    async refresh() {
      try {
        const r = await api.get(`/api/log?limit=${LOG_LIMIT}`);
        err.clear();
        const records = r.records ?? [];
        const now = ctx.now();
        if (!records.length) fill(list, h('li', { class: 'empty muted' }, t('log.empty')));
        else fill(list, records.map((x) => item(x, now)));
      } catch (e) {
        if (e.status !== 401) err.show(errorText(e));
        throw e;
      }
    },
  };
}
