import { h, fill, field, check, select, statusLine, errorBox, confirmDialog } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, today, errorText } from '/ui/common/i18n.js';
import { dateInput, timeInput } from '/ui/common/date-input.js';
import { rulesSection } from './rules.js';
import { planSection } from './plan.js';

// Programmes of a zone (title, playlist, level, recurrence, resumable), the
// zone's rule profile, a device's day plan with what will be refused and why,
// and Publish, which reports the devices that got a new target. A commune's
// account also sees, read-only, the programmes of the zones above it that
// play in its villages, each with the zone it comes from. After a save the
// form starts afresh (a new programme) and the list marks what was saved.

const DAYS = [1, 2, 3, 4, 5, 6, 7];

export function slugify(s) {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[đĐ]/g, 'd')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
}

export function describeRecurrence(r) {
  const at = t('rec.at', { time: r.time });
  switch (r.kind) {
    case 'once':
      return `${t('rec.once')} ${fmt.day(r.date)} ${at}`;
    case 'daily':
      return `${t('rec.daily')} ${at}${range(r)}`;
    case 'weekly':
      return `${r.days.map((d) => t(`day.${d}`)).join(', ')} ${at}${range(r)}`;
    default:
      return `${r.rrule} · ${t('rec.from', { d: fmt.day(r.start) })} ${at}`;
  }
}
const range = (r) => (r.from ? ` · ${t('rec.from', { d: fmt.day(r.from) })}` : '') + (r.until ? ` · ${t('rec.until', { d: fmt.day(r.until) })}` : '');

export function render(ctx) {
  const err = errorBox();
  const list = h('div', { class: 'table-wrap', 'data-testid': 'programme-list' });
  const inheritedBox = h('section', { 'data-testid': 'programme-inherited', hidden: true });
  const editorBox = h('div');
  let assets = [];
  let zones = [];
  let programmes = [];
  let inherited = [];
  /** The id of the programme just saved: marked in the list. */
  let justSaved = null;

  async function load() {
    err.clear();
    try {
      const [zs, lib, ps] = await Promise.all([ctx.zones(), api.get('/api/library'), api.get('/api/programmes')]);
      zones = zs;
      assets = lib.assets;
      programmes = ps.programmes;
      inherited = ps.inherited ?? [];
      drawList();
      drawInherited();
      if (ctx.me.can.edit && !editorBox.firstChild) fill(editorBox, editor(null));
    } catch (e) {
      err.show(errorText(e));
    }
  }

  const titleOf = (sha) => assets.find((a) => a.sha256 === sha)?.title ?? sha.slice(0, 12);
  const durationOf = (ps) => ps.reduce((n, sha) => n + (assets.find((a) => a.sha256 === sha)?.durationMs ?? 0), 0);

  function drawList() {
    if (!programmes.length) return fill(list, h('p', { class: 'muted', 'data-testid': 'programme-none' }, t(inherited.length ? 'prog.noneOwn' : 'prog.none')));
    fill(
      list,
      h(
        'table',
        { class: 'stack' },
        h('thead', {}, h('tr', {}, [t('prog.col.title'), t('prog.col.zone'), t('prog.col.level'), t('prog.col.when'), t('prog.col.playlist'), t('prog.col.updated'), ''].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          {},
          programmes.map(({ zone, programme: p, updatedAt, updatedBy }) =>
            h(
              'tr',
              { 'data-testid': `programme-${p.id}`, class: p.id === justSaved ? 'just-saved' : null, 'data-saved': p.id === justSaved ? 'true' : null },
              h('td', { 'data-label': t('prog.col.title') }, h('strong', {}, p.title), h('br'), h('code', {}, p.id)),
              h('td', { 'data-label': t('prog.col.zone') }, ctx.zoneName(zones, zone), h('br'), h('code', {}, p.zones.join(', '))),
              h('td', { 'data-label': t('prog.col.level') }, t(`level.${p.level}`), p.resumable ? ` · ${t('prog.resumableShort')}` : ''),
              h('td', { 'data-label': t('prog.col.when') }, describeRecurrence(p.recurrence)),
              h('td', { 'data-label': t('prog.col.playlist') }, p.playlist.map(titleOf).join(', '), ` (${fmt.duration(durationOf(p.playlist))})`),
              h('td', { 'data-label': t('prog.col.updated') }, `${fmt.dateTime(updatedAt)} · ${updatedBy}`),
              h(
                'td',
                {},
                ctx.me.can.edit
                  ? h(
                      'div',
                      { class: 'actions' },
                      h('button', { type: 'button', 'data-testid': 'edit', onclick: () => (fill(editorBox, editor({ zone, programme: p })), editorBox.scrollIntoView()) }, t('common.edit')),
                      h('button', { type: 'button', class: 'danger', 'data-testid': 'delete', onclick: () => remove(p) }, t('common.delete')),
                    )
                  : null,
              ),
            ),
          ),
        ),
      ),
    );
  }

  /** Programmes of the zones above that play here: read-only, with where they come from. */
  function drawInherited() {
    inheritedBox.hidden = !inherited.length;
    if (!inherited.length) return fill(inheritedBox);
    fill(
      inheritedBox,
      h('h2', {}, t('prog.inherited')),
      h('p', { class: 'muted' }, t('prog.inheritedIntro')),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'stack' },
          h('thead', {}, h('tr', {}, [t('prog.col.title'), t('prog.col.from'), t('prog.col.reaches'), t('prog.col.level'), t('prog.col.when'), t('prog.col.playlist')].map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            {},
            inherited.map(({ zone, programme: p, reaches }) =>
              h(
                'tr',
                { 'data-testid': `inherited-${p.id}`, 'data-zone': zone },
                h('td', { 'data-label': t('prog.col.title') }, h('strong', {}, p.title), h('br'), h('span', { class: 'badge badge-readonly' }, t('prog.readOnly'))),
                h('td', { 'data-label': t('prog.col.from'), 'data-testid': 'inherited-from' }, `${ctx.zoneName(zones, zone)} (${zone})`),
                h('td', { 'data-label': t('prog.col.reaches') }, reaches.map((z) => `${ctx.zoneName(zones, z)} (${z})`).join(', ')),
                h('td', { 'data-label': t('prog.col.level') }, t(`level.${p.level}`)),
                h('td', { 'data-label': t('prog.col.when') }, describeRecurrence(p.recurrence)),
                h('td', { 'data-label': t('prog.col.playlist') }, p.playlist.map(titleOf).join(', '), ` (${fmt.duration(durationOf(p.playlist))})`),
              ),
            ),
          ),
        ),
      ),
    );
  }

  async function remove(p) {
    const ok = await confirmDialog({ title: t('prog.deleteTitle'), body: t('prog.deleteBody', { title: p.title }), confirmLabel: t('common.delete'), cancelLabel: t('common.cancel'), className: 'danger' });
    if (!ok) return;
    try {
      await api.del(`/api/programmes/${encodeURIComponent(p.id)}`);
      load();
    } catch (e) {
      err.show(errorText(e));
    }
  }

  /** The create/edit form; `existing` is {zone, programme} or null; `notice`: what the status line says at first. */
  function editor(existing, notice) {
    const p = existing?.programme;
    const editable = zones.filter((z) => z.inScope);
    const owner = select(editable.map((z) => [z.path, `${z.name} (${z.path})`]), { 'data-testid': 'prog-zone', disabled: !!p }, existing?.zone ?? ctx.me.account.zone ?? editable[0]?.path);
    const title = h('input', { type: 'text', maxlength: '200', required: true, value: p?.title ?? '', 'data-testid': 'prog-title' });
    const id = h('input', { type: 'text', maxlength: '64', required: true, value: p?.id ?? '', readOnly: !!p, 'data-testid': 'prog-id' });
    let idTouched = !!p;
    id.addEventListener('input', () => (idTouched = true));
    title.addEventListener('input', () => !idTouched && (id.value = slugify(title.value)));
    const targets = h('fieldset', { class: 'checks', 'data-testid': 'prog-targets' });
    const drawTargets = (checked) => {
      const under = zones.filter((z) => z.path === owner.value || z.path.startsWith(`${owner.value}/`));
      fill(targets, h('legend', {}, t('prog.targets')), under.map((z) => check(`${z.name} (${z.path})`, { value: z.path, checked: checked.includes(z.path), 'data-testid': `prog-target-${z.path}` }).el));
    };
    drawTargets(p?.zones ?? [owner.value]);
    owner.addEventListener('change', () => drawTargets([owner.value]));
    const level = select([['normal', t('level.normal')], ['priority', t('level.priority')]], { 'data-testid': 'prog-level' }, p?.level ?? 'normal');
    const resumable = check(t('prog.resumable'), { checked: p ? p.resumable : true, 'data-testid': 'prog-resumable' });
    const chime = check(t('prog.chime'), { checked: !!p?.chime, 'data-testid': 'prog-chime' });

    // Playlist: an ordered list of assets.
    let playlist = [...(p?.playlist ?? [])];
    const plList = h('ol', { class: 'playlist', 'data-testid': 'prog-playlist' });
    const move = (i, d) => {
      const j = i + d;
      if (j < 0 || j >= playlist.length) return;
      [playlist[i], playlist[j]] = [playlist[j], playlist[i]];
      drawPlaylist();
    };
    const drawPlaylist = () =>
      fill(
        plList,
        playlist.map((sha, i) =>
          h(
            'li',
            {},
            h('span', {}, titleOf(sha)),
            ' ',
            h('button', { type: 'button', class: 'small', onclick: () => move(i, -1), disabled: i === 0 }, t('prog.up')),
            h('button', { type: 'button', class: 'small', onclick: () => move(i, 1), disabled: i === playlist.length - 1 }, t('prog.down')),
            h('button', { type: 'button', class: 'small', onclick: () => (playlist.splice(i, 1), drawPlaylist()) }, t('prog.remove')),
          ),
        ),
        playlist.length ? null : h('li', { class: 'muted' }, t('prog.playlistEmpty')),
      );
    drawPlaylist();
    const pick = select([...assets].reverse().map((a) => [a.sha256, `${a.title} (${fmt.duration(a.durationMs)})`]), { 'data-testid': 'prog-asset' });
    const add = h('button', { type: 'button', 'data-testid': 'prog-add-asset', onclick: () => pick.value && (playlist.push(pick.value), drawPlaylist()) }, t('prog.add'));

    // Recurrence.
    const r = p?.recurrence ?? { kind: 'daily', time: '06:30' };
    const kind = select(['once', 'daily', 'weekly', 'rrule'].map((k) => [k, t(`rec.kind.${k}`)]), { 'data-testid': 'prog-kind' }, r.kind);
    const time = timeInput(r.time, { required: true, 'data-testid': 'prog-time' });
    const date = dateInput(r.kind === 'once' ? r.date : r.kind === 'rrule' ? r.start : today(), { 'data-testid': 'prog-date' });
    const from = dateInput(r.from ?? '', { 'data-testid': 'prog-from' });
    const until = dateInput(r.until ?? '', { 'data-testid': 'prog-until' });
    const rrule = h('input', { type: 'text', value: r.rrule ?? 'FREQ=WEEKLY;BYDAY=MO', spellcheck: 'false', 'data-testid': 'prog-rrule' });
    const dayBoxes = DAYS.map((d) => check(t(`day.${d}`), { value: String(d), checked: r.kind === 'weekly' ? r.days.includes(d) : d === 1 }));
    const days = h('fieldset', { class: 'checks days' }, h('legend', {}, t('rec.days')), dayBoxes.map((b) => b.el));
    const dateField = field(t('rec.date'), date);
    const rangeFields = h('div', { class: 'row' }, field(t('rec.fromLabel'), from), field(t('rec.untilLabel'), until));
    const rruleField = field(t('rec.rrule'), rrule, t('rec.rruleHint'));
    const showKind = () => {
      const k = kind.value;
      dateField.hidden = k !== 'once' && k !== 'rrule';
      fill(dateField.querySelector('label'), t(k === 'rrule' ? 'rec.start' : 'rec.date'));
      days.hidden = k !== 'weekly';
      rangeFields.hidden = k !== 'daily' && k !== 'weekly';
      rruleField.hidden = k !== 'rrule';
    };
    kind.addEventListener('change', showKind);
    showKind();

    const recurrence = () => {
      const k = kind.value;
      const opt = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v));
      if (k === 'once') return { kind: k, date: date.day, time: time.time };
      if (k === 'daily') return { kind: k, time: time.time, ...opt({ from: from.day, until: until.day }) };
      if (k === 'weekly') return { kind: k, days: dayBoxes.filter((b) => b.input.checked).map((b) => Number(b.input.value)), time: time.time, ...opt({ from: from.day, until: until.day }) };
      return { kind: k, rrule: rrule.value.trim(), start: date.day, time: time.time };
    };

    const status = statusLine({ 'data-testid': 'prog-status' });
    if (notice) fill(status, notice);
    const ferr = errorBox({ 'data-testid': 'prog-error' });
    const form = h(
      'form',
      {
        class: 'card editor',
        'data-testid': 'programme-editor',
        onsubmit: async (e) => {
          e.preventDefault();
          ferr.clear();
          fill(status);
          const zonesChosen = [...targets.querySelectorAll('input:checked')].map((i) => i.value);
          const programme = { title: title.value.normalize('NFC').trim(), level: level.value, playlist, recurrence: recurrence(), resumable: resumable.input.checked, zones: zonesChosen, ...(chime.input.checked ? { chime: true } : {}) };
          try {
            const saved = await api.put(`/api/programmes/${encodeURIComponent(id.value)}`, { zone: owner.value, programme });
            justSaved = saved.programme.programme.id;
            await load();
            // A fresh form for the next one; what was saved is in the list, marked, and named here.
            fill(editorBox, editor(null, t('prog.saved', { title: saved.programme.programme.title })));
          } catch (x) {
            ferr.show(errorText(x));
          }
        },
      },
      h('h2', {}, p ? t('prog.editTitle', { title: p.title }) : t('prog.newTitle')),
      field(t('prog.zone'), owner, t('prog.zoneHint')),
      h('div', { class: 'row' }, field(t('prog.title'), title), field(t('prog.id'), id, t('prog.idHint'))),
      targets,
      field(t('prog.level'), level),
      h('fieldset', {}, h('legend', {}, t('prog.playlist')), plList, h('div', { class: 'row' }, field(t('prog.asset'), pick), h('div', { class: 'field end' }, add))),
      h('fieldset', {}, h('legend', {}, t('rec.legend')), h('div', { class: 'row' }, field(t('rec.kind'), kind), field(t('rec.time'), time)), dateField, days, rangeFields, rruleField),
      resumable.el,
      chime.el,
      h('div', { class: 'actions' }, p ? h('button', { type: 'button', onclick: () => fill(editorBox, editor(null)) }, t('prog.new')) : null, h('button', { type: 'submit', class: 'primary', 'data-testid': 'prog-save' }, t('common.save'))),
      status,
      ferr.el,
    );
    return form;
  }

  const el = h(
    'div',
    { class: 'view programmes' },
    h('h1', {}, t('nav.programmes')),
    err.el,
    h('section', {}, h('h2', {}, t('prog.list')), list),
    inheritedBox,
    editorBox,
    ctx.me.can.edit ? publishSection(ctx) : null,
    rulesSection(ctx),
    planSection(ctx),
  );
  load();
  return { el };
}

function publishSection(ctx) {
  const zone = h('select', { 'data-testid': 'publish-zone' });
  ctx.zones().then((zs) => {
    const mine = zs.filter((z) => z.inScope);
    fill(zone, ctx.me.account.zone ? null : h('option', { value: '' }, t('publish.all')), mine.map((z) => h('option', { value: z.path, selected: z.path === ctx.me.account.zone }, `${z.name} (${z.path})`)));
  });
  const result = h('div', { 'data-testid': 'publish-result', 'aria-live': 'polite' });
  const err = errorBox();
  const btn = h('button', { type: 'submit', class: 'primary', 'data-testid': 'publish' }, t('publish.button'));
  return h(
    'form',
    {
      class: 'card',
      onsubmit: async (e) => {
        e.preventDefault();
        err.clear();
        fill(result);
        btn.disabled = true;
        try {
          const { published } = await api.post('/api/publish', zone.value ? { zones: [zone.value] } : {});
          fill(
            result,
            published.length
              ? [h('p', {}, t('publish.done', { n: published.length })), h('ul', {}, published.map((x) => h('li', { 'data-testid': `published-${x.device}`, 'data-version': x.version }, t('publish.device', { device: x.device, v: x.version }))))]
              : h('p', { 'data-testid': 'published-none' }, t('publish.nothing')),
          );
        } catch (x) {
          err.show(errorText(x));
        } finally {
          btn.disabled = false;
        }
      },
    },
    h('h2', {}, t('publish.title')),
    h('p', { class: 'muted' }, t('publish.intro')),
    field(t('publish.zone'), zone),
    h('div', { class: 'actions' }, btn),
    err.el,
    result,
  );
}
