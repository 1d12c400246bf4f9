import { h, fill, field, select, statusLine, errorBox, confirmDialog } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, errorText } from '/ui/common/i18n.js';
import { MODES } from './modes.js';
import { zonePicker } from './zone-picker.js';

// Composing an emergency: content (a standard clip, TTS text, a library
// clip), zones, mode, level, repeat count and expiry. Each mode has its own
// confirmation; the actual one asks to type a word, so it cannot be sent by
// a reflex click on the same dialog a drill uses. Once sent, the form goes
// back to its safe defaults (an exercise, no zones ticked) and its status
// line says what was sent: the next alert is never an ACTUAL one by leftover.

const CLIPS = ['siren', 'chime', 'alert-tone', 'drill-preamble'];

export function composeForm(ctx, onSent) {
  const err = errorBox({ 'data-testid': 'compose-error' });
  const status = statusLine({ 'data-testid': 'compose-status' });
  const approval = new Set(ctx.me.approvalModes ?? ['actual']);

  const modeInputs = MODES.map((m) => h('input', { type: 'radio', name: 'mode', value: m, checked: m === 'exercise', 'data-testid': `mode-${m}` }));
  const modes = h(
    'fieldset',
    { class: 'modes' },
    h('legend', {}, t('compose.mode')),
    MODES.map((m, i) => h('label', { class: ['mode-choice', `mode-${m}`] }, modeInputs[i], ' ', h('strong', {}, t(`mode.${m}`)), h('small', {}, t(`mode.${m}.hint`), approval.has(m) ? ` ${t('compose.needsApproval')}` : ''))),
  );
  const mode = () => modeInputs.find((i) => i.checked)?.value ?? 'exercise';

  const level = select([1, 2, 3, 4, 5].map((n) => [String(n), t('compose.levelN', { n })]), { 'data-testid': 'compose-level' }, '3');

  const kindInputs = ['standard', 'tts', 'asset'].map((k) => h('input', { type: 'radio', name: 'content', value: k, checked: k === 'standard', 'data-testid': `content-${k}` }));
  const kind = () => kindInputs.find((i) => i.checked)?.value ?? 'standard';
  const clip = select(CLIPS.map((c) => [c, t(`clip.${c}`)]), { 'data-testid': 'compose-clip' }, 'siren');
  const ttsText = h('textarea', { rows: '4', maxlength: '2000', lang: 'vi', 'data-testid': 'compose-tts-text' });
  const asset = h('select', { 'data-testid': 'compose-asset' });
  const ttsProgress = h('progress', { max: '1', value: '0', hidden: true, 'aria-label': t('tts.progress') });
  api.get('/api/library').then(({ assets }) => fill(asset, [...assets].reverse().map((a) => h('option', { value: a.sha256 }, `${a.title} (${fmt.duration(a.durationMs)})`))), () => {});
  const clipField = field(t('compose.clip'), clip);
  const ttsField = field(t('compose.ttsText'), ttsText, t('compose.ttsHint'));
  const assetField = field(t('compose.asset'), asset);
  const showKind = () => {
    clipField.hidden = kind() !== 'standard';
    ttsField.hidden = kind() !== 'tts';
    assetField.hidden = kind() !== 'asset';
  };
  kindInputs.forEach((i) => i.addEventListener('change', showKind));
  showKind();
  const content = h(
    'fieldset',
    {},
    h('legend', {}, t('compose.content')),
    h('div', { class: 'checks' }, ['standard', 'tts', 'asset'].map((k, i) => h('label', { class: 'check' }, kindInputs[i], ' ', t(`compose.content.${k}`)))),
    clipField,
    ttsField,
    ttsProgress,
    assetField,
  );

  const picker = zonePicker(ctx, { legend: t('compose.zones'), testid: 'compose-zones' });
  let zones = [];
  picker.zones.then((zs) => (zones = zs), () => {});
  const chosenZones = picker.chosen;

  const repeat = h('input', { type: 'number', min: '1', max: '20', value: '2', required: true, class: 'narrow', inputmode: 'numeric', 'data-testid': 'compose-repeat' });
  const expires = h('input', { type: 'number', min: '1', max: '1440', value: '60', required: true, class: 'narrow', inputmode: 'numeric', 'data-testid': 'compose-expires' });
  const title = h('input', { type: 'text', maxlength: '200', 'data-testid': 'compose-title' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'compose-submit' });

  const form = h('form', { class: 'card compose', 'data-testid': 'compose-form' });
  const paint = () => {
    const m = mode();
    form.dataset.mode = m;
    MODES.forEach((x) => form.classList.toggle(`mode-${x}`, x === m));
    submit.className = `primary mode-${m}`;
    fill(submit, t(`compose.send.${m}`));
  };
  modeInputs.forEach((i) => i.addEventListener('change', paint));
  paint();

  /** Back to the defaults: an exercise of the standard siren, level 3, twice, 60 minutes, no zone, no title. */
  function reset() {
    modeInputs.forEach((i) => (i.checked = i.value === 'exercise'));
    kindInputs.forEach((i) => (i.checked = i.value === 'standard'));
    picker.clear();
    level.value = '3';
    clip.value = 'siren';
    ttsText.value = '';
    repeat.value = '2';
    expires.value = '60';
    title.value = '';
    showKind();
    paint();
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    fill(status);
    const m = mode();
    const zs = chosenZones();
    if (!zs.length) return err.show(t('compose.pickZone'));
    const names = zs.map((p) => ctx.zoneName(zones, p)).join(', ');
    const body = { mode: m, level: Number(level.value), zones: zs, repeat: Number(repeat.value), expiresMinutes: Number(expires.value), ...(title.value.trim() ? { title: title.value.normalize('NFC').trim() } : {}) };
    submit.disabled = true;
    try {
      if (kind() === 'standard') body.content = { kind: 'standard', clip: clip.value };
      else if (kind() === 'asset') {
        if (!asset.value) throw Object.assign(new Error(t('compose.pickAsset')), { local: true });
        body.content = { kind: 'asset', sha256: asset.value };
      } else {
        const text = ttsText.value.normalize('NFC').trim();
        if (!text) throw Object.assign(new Error(t('compose.ttsEmpty')), { local: true });
        // The spoken text becomes a clip first; the command carries both.
        ttsProgress.hidden = false;
        fill(status, t('tts.working', { p: '0%' }));
        const { job } = await api.post('/api/tts', { text, title: (body.title ?? t('compose.ttsTitle', { at: fmt.dateTime(Date.now()) })).slice(0, 200) });
        const a = await api.waitJob(job, (p) => ((ttsProgress.value = p), fill(status, t('tts.working', { p: fmt.percent(p) }))));
        fill(status);
        body.content = { kind: 'tts', text, sha256: a.sha256 };
      }
      const what = t('compose.summary', { zones: names, level: body.level, repeat: body.repeat, minutes: body.expiresMinutes });
      const needs = approval.has(m) ? t('compose.willWait') : t('compose.goesNow');
      const ok = await confirmDialog({
        title: t(`confirm.${m}.title`),
        body: [t(`confirm.${m}.body`), what, needs],
        confirmLabel: t(`confirm.${m}.ok`),
        cancelLabel: t('common.cancel'),
        className: `mode-${m}`,
        testid: `confirm-${m}`,
        ...(m === 'actual' ? { mustType: t('confirm.actual.word'), typeLabel: t('confirm.actual.type', { word: t('confirm.actual.word') }) } : {}),
      });
      if (!ok) return fill(status, t('compose.notSent'));
      const { dispatch } = await api.post('/api/dispatches', body);
      reset();
      fill(status, h('strong', {}, dispatch.status === 'pending' ? t('compose.pending') : t('compose.sent')), ' ', t('compose.what', { mode: t(`mode.${m}`), title: body.title ?? '—' }), ' ', what);
      onSent(dispatch);
    } catch (x) {
      err.show(x.local ? x.message : errorText(x));
    } finally {
      submit.disabled = false;
      ttsProgress.hidden = true;
    }
  });

  form.append(
    h('h2', {}, t('compose.title')),
    modes,
    field(t('compose.level'), level, t('compose.levelHint')),
    content,
    picker.el,
    h('div', { class: 'row' }, field(t('compose.repeat'), repeat), field(t('compose.expires'), expires), field(t('compose.titleLabel'), title)),
    h('div', { class: 'actions' }, submit),
    status,
    err.el,
  );
  return form;
}
