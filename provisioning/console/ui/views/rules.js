import { h, fill, field, check, statusLine, errorBox, confirmDialog } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, errorText } from '/ui/common/i18n.js';
import { parseDay, timeInput } from '/ui/common/date-input.js';

// A zone's rule profile: when loudspeakers may sound and how loud, airtime
// limits, blackout dates. Profiles of a device's zone lineage are merged
// most-restrictive-first on the device (schedules/).

const DAYS = [1, 2, 3, 4, 5, 6, 7];

export function rulesSection(ctx) {
  const zone = h('select', { 'data-testid': 'rules-zone' });
  const body = h('div');
  const err = errorBox({ 'data-testid': 'rules-error' });
  const status = statusLine({ 'data-testid': 'rules-status' });
  let zones = [];

  ctx.zones().then((zs) => {
    zones = zs;
    fill(zone, zs.map((z) => h('option', { value: z.path, selected: z.path === ctx.me.account.zone }, `${z.name} (${z.path})`)));
    load();
  });
  zone.addEventListener('change', () => load());

  async function load() {
    err.clear();
    fill(status);
    try {
      const { profile } = await api.get(`/api/rules/${zone.value}`);
      const editable = ctx.me.can.edit && zones.find((z) => z.path === zone.value)?.inScope;
      fill(body, form(profile, editable));
    } catch (e) {
      fill(body);
      err.show(errorText(e));
    }
  }

  function form(profile, editable) {
    const num = (v, attrs = {}) => h('input', { type: 'number', inputmode: 'numeric', value: v ?? '', disabled: !editable, class: 'narrow', ...attrs });
    const defaultVolume = num(profile?.defaultVolume, { min: '0', max: '100', 'data-testid': 'rules-default-volume' });
    const emergencyVolume = num(profile?.emergencyVolume, { min: '0', max: '100' });
    const maxContinuous = num(profile?.maxContinuousSec ? profile.maxContinuousSec / 60 : '', { min: '1' });
    const maxDaily = num(profile?.maxDailySec ? profile.maxDailySec / 60 : '', { min: '1' });
    // Blackout dates as dd/mm/yyyy, like every date on the page; the hint and the placeholder say the same.
    const blackout = h('input', { type: 'text', value: (profile?.blackoutDates ?? []).map(fmt.day).join(', '), disabled: !editable, placeholder: t('rules.blackoutPlaceholder'), spellcheck: 'false', 'data-testid': 'rules-blackout' });
    const blackoutDates = () => blackout.value.split(/[\s,;]+/).filter(Boolean).map((d) => ({ typed: d, day: parseDay(d) }));
    blackout.addEventListener('input', () => {
      const bad = blackoutDates().find((d) => !d.day);
      blackout.setCustomValidity(bad ? t('rules.blackoutInvalid', { d: bad.typed }) : '');
    });
    const panelStop = check(t('rules.panelStop'), { checked: !!profile?.panelMayStopEmergency, disabled: !editable });
    const windowsBox = h('div', { class: 'windows', 'data-testid': 'rules-windows' });
    const rows = [];
    const addWindow = (w) => {
      const boxes = DAYS.map((d) => check(t(`day.short.${d}`), { value: String(d), checked: w.days.includes(d), disabled: !editable }));
      const start = timeInput(w.start, { disabled: !editable, required: true, 'data-testid': 'window-start' });
      const end = timeInput(w.end, { disabled: !editable, required: true, 'data-testid': 'window-end' });
      const cap = num(w.volumeCap, { min: '0', max: '100', required: true, 'data-testid': 'window-cap' });
      const row = { boxes, start, end, cap };
      const el = h(
        'fieldset',
        { class: 'window' },
        h('legend', {}, t('rules.window')),
        h('div', { class: 'checks days' }, boxes.map((b) => b.el)),
        h('div', { class: 'row' }, field(t('rules.start'), start), field(t('rules.end'), end, t('rules.endHint')), field(t('rules.cap'), cap)),
        editable ? h('button', { type: 'button', class: 'small', onclick: () => (rows.splice(rows.indexOf(row), 1), el.remove()) }, t('rules.removeWindow')) : null,
      );
      rows.push(row);
      windowsBox.append(el);
    };
    for (const w of profile?.windows ?? []) addWindow(w);
    const collect = () => {
      const n = (i, k = 1) => (i.value === '' ? undefined : Math.round(Number(i.value) * k));
      const out = {
        windows: rows.map((r) => ({ days: r.boxes.filter((b) => b.input.checked).map((b) => Number(b.input.value)), start: r.start.time, end: r.end.time, volumeCap: Number(r.cap.value) })),
        defaultVolume: n(defaultVolume),
        emergencyVolume: n(emergencyVolume),
        maxContinuousSec: n(maxContinuous, 60),
        maxDailySec: n(maxDaily, 60),
        blackoutDates: blackoutDates().map((d) => d.day),
        ...(panelStop.input.checked ? { panelMayStopEmergency: true } : {}),
      };
      return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
    };
    return h(
      'form',
      {
        'data-testid': 'rules-form',
        onsubmit: async (e) => {
          e.preventDefault();
          err.clear();
          try {
            await api.put(`/api/rules/${zone.value}`, collect());
            fill(status, t('rules.saved'));
          } catch (x) {
            err.show(errorText(x));
          }
        },
      },
      profile ? null : h('p', { class: 'muted', 'data-testid': 'rules-none' }, t('rules.none')),
      h('h3', {}, t('rules.windows')),
      h('p', { class: 'muted' }, t('rules.windowsHint')),
      windowsBox,
      editable ? h('button', { type: 'button', 'data-testid': 'rules-add-window', onclick: () => addWindow({ days: DAYS, start: '05:00', end: '21:00', volumeCap: 80 }) }, t('rules.addWindow')) : null,
      h('div', { class: 'row' }, field(t('rules.defaultVolume'), defaultVolume), field(t('rules.emergencyVolume'), emergencyVolume), field(t('rules.maxContinuous'), maxContinuous), field(t('rules.maxDaily'), maxDaily)),
      field(t('rules.blackout'), blackout, t('rules.blackoutHint')),
      panelStop.el,
      editable
        ? h(
            'div',
            { class: 'actions' },
            profile
              ? h(
                  'button',
                  {
                    type: 'button',
                    class: 'danger',
                    onclick: async () => {
                      if (!(await confirmDialog({ title: t('rules.deleteTitle'), body: t('rules.deleteBody', { zone: zone.value }), confirmLabel: t('common.delete'), cancelLabel: t('common.cancel'), className: 'danger' }))) return;
                      try {
                        await api.del(`/api/rules/${zone.value}`);
                        load();
                      } catch (x) {
                        err.show(errorText(x));
                      }
                    },
                  },
                  t('common.delete'),
                )
              : null,
            h('button', { type: 'submit', class: 'primary', 'data-testid': 'rules-save' }, t('common.save')),
          )
        : null,
    );
  }

  return h('section', { class: 'card', 'data-testid': 'rules' }, h('h2', {}, t('rules.title')), field(t('rules.zone'), zone), body, status, err.el);
}
