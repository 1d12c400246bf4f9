import { h, fill, field, statusLine, errorBox } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, errorText } from '/ui/common/i18n.js';

// Library: upload a recording (bytes sent, then the server's ingest —
// loudness normalisation and Opus — as a job), the assets with their length
// and measured loudness, and one preview player.

export function render(ctx) {
  const list = h('div', { class: 'table-wrap' });
  const err = errorBox();
  const player = h('audio', { controls: true, preload: 'none', 'data-testid': 'preview-player', class: 'player' });
  const playing = h('p', { class: 'muted', 'data-testid': 'preview-title' }, t('library.previewNone'));

  async function load() {
    err.clear();
    try {
      const { assets } = await api.get('/api/library');
      drawList(assets);
    } catch (e) {
      err.show(errorText(e));
    }
  }

  function preview(a) {
    player.src = `/api/library/${a.sha256}/audio`;
    fill(playing, t('library.previewing', { title: a.title }));
    player.play().catch(() => {});
  }

  function drawList(assets) {
    if (!assets.length) return fill(list, h('p', { class: 'muted' }, t('library.empty')));
    const rows = [...assets].sort((a, b) => b.addedAt.localeCompare(a.addedAt));
    fill(
      list,
      h(
        'table',
        { class: 'stack', 'data-testid': 'asset-list' },
        h('caption', { class: 'sr-only' }, t('library.listCaption')),
        h('thead', {}, h('tr', {}, [t('library.col.title'), t('library.col.duration'), t('library.col.loudness'), t('library.col.added'), t('library.col.size'), t('library.col.preview')].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          {},
          rows.map((a) =>
            h(
              'tr',
              { 'data-testid': `asset-${a.sha256}`, 'data-title': a.title },
              h('td', { 'data-label': t('library.col.title') }, a.title),
              h('td', { 'data-label': t('library.col.duration'), 'data-testid': 'duration' }, fmt.duration(a.durationMs)),
              h('td', { 'data-label': t('library.col.loudness'), 'data-testid': 'loudness' }, a.loudness ? t('library.lufs', { i: fmt.number(a.loudness.I, 1), tp: fmt.number(a.loudness.TP, 1) }) : '—'),
              h('td', { 'data-label': t('library.col.added') }, fmt.dateTime(a.addedAt)),
              h('td', { 'data-label': t('library.col.size') }, fmt.bytes(a.size)),
              h('td', { 'data-label': t('library.col.preview') }, h('button', { type: 'button', 'data-testid': 'preview', onclick: () => preview(a) }, t('library.preview'))),
            ),
          ),
        ),
      ),
    );
  }

  const el = h(
    'div',
    { class: 'view library' },
    h('h1', {}, t('nav.library')),
    ctx.me.can.edit ? uploadForm(load) : null,
    h('section', { class: 'card' }, h('h2', {}, t('library.preview')), playing, player),
    h('section', {}, h('h2', {}, t('library.assets')), err.el, list),
  );
  load();
  return { el, stop: () => player.pause() };
}

function uploadForm(onAdded) {
  const title = h('input', { type: 'text', maxlength: '200', 'data-testid': 'upload-title' });
  const file = h('input', { type: 'file', accept: 'audio/*,video/*,.mp3,.wav,.ogg,.opus,.m4a,.aac,.flac', required: true, 'data-testid': 'upload-file' });
  const sent = h('progress', { max: '1', value: '0', 'data-testid': 'upload-progress', 'aria-label': t('library.sent') });
  const ingest = h('progress', { max: '1', value: '0', 'data-testid': 'ingest-progress', 'aria-label': t('library.ingest') });
  const status = statusLine({ 'data-testid': 'upload-status' });
  const err = errorBox({ 'data-testid': 'upload-error' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'upload-submit' }, t('library.upload'));
  const bars = h('div', { class: 'bars', hidden: true }, h('label', {}, t('library.sent'), ' ', sent), h('label', {}, t('library.ingest'), ' ', ingest));
  const form = h(
    'form',
    {
      class: 'card',
      'data-testid': 'upload-form',
      onsubmit: async (e) => {
        e.preventDefault();
        const f = file.files?.[0];
        if (!f) return;
        err.clear();
        submit.disabled = true;
        bars.hidden = false;
        sent.value = 0;
        ingest.value = 0;
        const data = new FormData();
        data.append('title', title.value.normalize('NFC').trim());
        data.append('file', f, f.name);
        try {
          fill(status, t('library.sending', { p: '0%' }));
          const { job } = await api.upload('/api/library', data, (p) => {
            sent.value = p;
            fill(status, t('library.sending', { p: fmt.percent(p) }));
          });
          sent.value = 1;
          const asset = await api.waitJob(job, (p) => {
            ingest.value = p;
            fill(status, t('library.ingesting', { p: fmt.percent(p) }));
          });
          fill(status, t('library.added', { title: asset.title, d: fmt.duration(asset.durationMs) }));
          form.reset();
          onAdded();
        } catch (x) {
          fill(status);
          err.show(errorText(x));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('h2', {}, t('library.uploadTitle')),
    field(t('library.file'), file, t('library.fileHint')),
    field(t('library.title'), title, t('library.titleHint')),
    h('div', { class: 'actions' }, submit),
    bars,
    status,
    err.el,
  );
  return form;
}
