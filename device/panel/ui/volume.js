import { h, fill } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t } from '/ui/common/i18n.js';
import { errorText } from './words.js';
import { card, messageLine } from './parts.js';

// The operator's volume: − / + buttons and a number (easy on a phone), a
// slider beside them, and Apply. The agent clamps it to the cap of the
// window in force and says so; the number the operator is editing is not
// overwritten by the next poll.

const STEP = 5;

export function volumeCard(ctx) {
  const number = h('input', { type: 'number', min: '0', max: '100', step: '1', inputmode: 'numeric', class: 'volume-number', 'data-testid': 'volume-input', id: 'volume-input' });
  const slider = h('input', { type: 'range', min: '0', max: '100', step: '1', 'aria-label': t('volume.slider'), 'data-testid': 'volume-slider' });
  const cap = h('p', { class: 'cap', 'data-testid': 'volume-cap' });
  const apply = h('button', { type: 'submit', class: 'primary big', 'data-testid': 'volume-apply' }, t('volume.apply'));
  const msg = messageLine('volume-message');
  let dirty = false;

  const set = (v, from) => {
    const n = Math.max(0, Math.min(100, Math.round(Number(v))));
    if (!Number.isFinite(n)) return;
    if (from !== number) number.value = String(n);
    slider.value = String(n);
    dirty = true;
  };
  const step = (d) => set((Number(number.value) || 0) + d);
  number.addEventListener('input', () => {
    dirty = true;
    if (number.value !== '' && Number.isFinite(Number(number.value))) slider.value = String(Math.max(0, Math.min(100, Number(number.value))));
  });
  slider.addEventListener('input', () => set(slider.value, slider));

  const form = h(
    'form',
    {
      class: 'volume-form',
      onsubmit: async (e) => {
        e.preventDefault();
        msg.clear();
        const requested = Number(number.value);
        if (number.value.trim() === '' || !Number.isInteger(requested) || requested < 0 || requested > 100) {
          msg.fail(t('err.LOA_E_PAYLOAD_SCHEMA'));
          number.focus();
          return;
        }
        apply.disabled = true;
        try {
          const r = await ctx.call(() => api.post('/api/volume', { volume: requested }));
          dirty = false;
          number.value = String(r.volume);
          slider.value = String(r.volume);
          msg.ok(r.clamped ? t('volume.clamped', { volume: r.volume, cap: r.cap, requested: r.requested ?? requested }) : t('volume.set', { volume: r.volume }));
          ctx.changed();
        } catch (x) {
          msg.fail(errorText(x));
        } finally {
          apply.disabled = false;
        }
      },
    },
    h('label', { for: 'volume-input', class: 'label' }, t('volume.label')),
    h(
      'div',
      { class: 'stepper' },
      h('button', { type: 'button', class: 'big step', 'aria-label': t('volume.down'), 'data-testid': 'volume-down', onclick: () => step(-STEP) }, '−'),
      number,
      h('button', { type: 'button', class: 'big step', 'aria-label': t('volume.up'), 'data-testid': 'volume-up', onclick: () => step(STEP) }, '+'),
    ),
    slider,
    cap,
    h('div', { class: 'actions' }, apply),
  );
  const el = card('volume', t('volume.title'), { 'data-testid': 'volume' }, form, msg.el, h('p', { class: 'muted small' }, t('volume.note')));

  return {
    el,
    update(s) {
      const v = s.volume ?? {};
      fill(cap, v.cap > 0 ? t('volume.cap', { cap: v.cap }) : t('volume.capQuiet'));
      cap.dataset.cap = String(v.cap ?? '');
      if (!dirty && Number.isFinite(v.setting) && document.activeElement !== number) {
        number.value = String(v.setting);
        slider.value = String(v.setting);
      }
    },
  };
}
