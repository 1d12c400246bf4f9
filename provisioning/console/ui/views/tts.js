import { h, fill, field, select, statusLine, errorBox } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, errorText } from '/ui/common/i18n.js';

// Text to speech: Vietnamese text (numbers, dates, phone numbers and
// abbreviations are read out by the server's normalisation) becomes a library
// asset through the same ingest as an upload; the result can be heard at once.

export const VOICES = ['vi', 'vi-vn-x-central', 'vi-vn-x-south'];

export function render() {
  const text = h('textarea', { rows: '6', maxlength: '5000', required: true, lang: 'vi', 'data-testid': 'tts-text' });
  const count = h('small', { class: 'hint', 'aria-live': 'polite' }, t('tts.count', { n: 0 }));
  text.addEventListener('input', () => fill(count, t('tts.count', { n: text.value.length })));
  const title = h('input', { type: 'text', maxlength: '200', required: true, 'data-testid': 'tts-title' });
  const engine = select([['', t('tts.engine.default')], ['espeak', 'espeak-ng']], { 'data-testid': 'tts-engine' });
  const voice = select([['', t('tts.voice.default')], ...VOICES.map((v) => [v, t(`tts.voice.${v}`)])], { 'data-testid': 'tts-voice' });
  const speedOut = h('output', {}, '1,0×');
  const speed = h('input', { type: 'range', min: '0.5', max: '2', step: '0.1', value: '1', 'data-testid': 'tts-speed' });
  speed.addEventListener('input', () => fill(speedOut, `${fmt.number(Number(speed.value), 1)}×`));
  const progress = h('progress', { max: '1', value: '0', hidden: true, 'data-testid': 'tts-progress', 'aria-label': t('tts.progress') });
  const status = statusLine({ 'data-testid': 'tts-status' });
  const err = errorBox({ 'data-testid': 'tts-error' });
  const result = h('div', { class: 'card', hidden: true, 'data-testid': 'tts-result' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'tts-submit' }, t('tts.create'));

  const form = h(
    'form',
    {
      class: 'card',
      onsubmit: async (e) => {
        e.preventDefault();
        err.clear();
        result.hidden = true;
        submit.disabled = true;
        progress.hidden = false;
        progress.value = 0;
        try {
          const body = { text: text.value.normalize('NFC').trim(), title: title.value.normalize('NFC').trim() };
          if (engine.value) body.engine = engine.value;
          if (voice.value) body.voice = voice.value;
          if (speed.value !== '1') body.speed = Number(speed.value);
          fill(status, t('tts.working', { p: '0%' }));
          const { job } = await api.post('/api/tts', body);
          const asset = await api.waitJob(job, (p) => {
            progress.value = p;
            fill(status, t('tts.working', { p: fmt.percent(p) }));
          });
          fill(status, t('tts.done', { title: asset.title, d: fmt.duration(asset.durationMs) }));
          showResult(asset);
        } catch (x) {
          fill(status);
          err.show(errorText(x));
        } finally {
          submit.disabled = false;
        }
      },
    },
    field(t('tts.text'), text, t('tts.textHint')),
    count,
    field(t('tts.title'), title),
    h('div', { class: 'row' }, field(t('tts.engine'), engine), field(t('tts.voice'), voice), h('div', { class: 'field' }, h('label', { for: 'tts-speed' }, t('tts.speed'), ' ', speedOut), speed)),
    h('div', { class: 'actions' }, submit),
    progress,
    status,
    err.el,
  );
  speed.id = 'tts-speed';

  function showResult(a) {
    result.hidden = false;
    fill(
      result,
      h('h2', {}, t('tts.result')),
      h('p', {}, h('strong', {}, a.title), ` · ${fmt.duration(a.durationMs)}`, a.loudness ? ` · ${t('library.lufs', { i: fmt.number(a.loudness.I, 1), tp: fmt.number(a.loudness.TP, 1) })}` : ''),
      h('audio', { controls: true, preload: 'metadata', src: `/api/library/${a.sha256}/audio`, 'data-testid': 'tts-player', 'data-sha256': a.sha256, class: 'player' }),
      h('p', {}, h('a', { href: '#programmes' }, t('tts.schedule'))),
    );
  }

  return { el: h('div', { class: 'view tts' }, h('h1', {}, t('nav.tts')), h('p', { class: 'muted' }, t('tts.intro')), form, result) };
}
