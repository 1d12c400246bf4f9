import { h, fill, field } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt } from '/ui/common/i18n.js';
import { errorText } from './words.js';
import { card, messageLine } from './parts.js';

// A local announcement at priority level, three ways: a clip already on the
// cluster, an uploaded file (bytes sent shown from XMLHttpRequest, then the
// agent's ingest), or typed Vietnamese text when the cluster can speak it.
// The agent applies the zone's rules; a refusal says which rule.

export function announceCard(ctx) {
  const msg = messageLine('announce-message');
  const buttons = [];
  const busyButton = (attrs, label) => {
    const b = h('button', { type: 'submit', class: 'primary big', ...attrs }, label);
    buttons.push(b);
    return b;
  };
  let busy = false;

  async function announce(work, title) {
    if (busy) return;
    busy = true;
    for (const b of buttons) b.disabled = true;
    try {
      const r = await work();
      msg.ok(t(r?.status === 'queued' ? 'announce.queued' : 'announce.playing', { title: typeof title === 'function' ? title(r) : title }));
      return true;
    } catch (e) {
      msg.fail(errorText(e));
      return false;
    } finally {
      busy = false;
      for (const b of buttons) b.disabled = false;
      clipSubmit.disabled = !clips.length;
      ctx.changed();
    }
  }

  // A clip of the target state, already on the cluster.
  let clips = [];
  const clipSelect = h('select', { 'data-testid': 'announce-clip-select' });
  const clipSubmit = busyButton({ 'data-testid': 'announce-clip-submit', disabled: true }, t('announce.clip.submit'));
  const clipForm = h(
    'form',
    {
      onsubmit: (e) => {
        e.preventDefault();
        msg.clear();
        const c = clips.find((x) => x.sha256 === clipSelect.value);
        if (!c) return;
        announce(() => ctx.call(() => api.post('/api/announce', { clip: c.sha256 })), c.title);
      },
    },
    h('fieldset', {}, h('legend', {}, t('announce.clip.legend')), field(t('announce.clip.label'), clipSelect), h('div', { class: 'actions' }, clipSubmit)),
  );
  function drawClips(list) {
    const keep = clipSelect.value;
    clips = [...list].sort((a, b) => a.title.localeCompare(b.title, 'vi'));
    if (!clips.length) fill(clipSelect, h('option', { value: '' }, t('announce.clip.none')));
    else fill(clipSelect, clips.map((c) => h('option', { value: c.sha256, selected: c.sha256 === keep }, `${c.title} (${fmt.duration(c.durationMs)})`)));
    clipSelect.disabled = !clips.length;
    if (!busy) clipSubmit.disabled = !clips.length;
  }

  // A short file from the phone or laptop.
  // The browser's own file button speaks the browser's language; this one speaks the page's.
  const file = h('input', { type: 'file', id: 'announce-file', class: 'file-input', accept: 'audio/*,.mp3,.wav,.ogg,.opus,.m4a,.aac,.flac', 'data-testid': 'announce-file', 'aria-labelledby': 'announce-file-label', 'aria-describedby': 'announce-file-name announce-file-hint' });
  const fileName = h('span', { class: 'file-name', id: 'announce-file-name', 'data-testid': 'announce-file-name' }, t('announce.file.none'));
  file.addEventListener('change', () => fill(fileName, file.files?.[0] ? `${file.files[0].name} (${fmt.bytes(file.files[0].size)})` : t('announce.file.none')));
  const filePick = h(
    'div',
    { class: 'field' },
    h('span', { class: 'label', id: 'announce-file-label' }, t('announce.file.label')),
    h('div', { class: 'file-pick' }, file, h('label', { for: 'announce-file', class: 'button' }, t('announce.file.choose')), fileName),
    h('small', { class: 'hint', id: 'announce-file-hint' }, t('announce.file.hint')),
  );
  const fileTitle = h('input', { type: 'text', maxlength: '200', 'data-testid': 'announce-title' });
  const progress = h('progress', { max: '1', value: '0', hidden: true, 'data-testid': 'announce-progress', 'aria-label': t('announce.file.sent') });
  const uploadSubmit = busyButton({ 'data-testid': 'announce-upload-submit' }, t('announce.file.submit'));
  const uploadForm = h(
    'form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        msg.clear();
        const f = file.files?.[0];
        if (!f) {
          msg.fail(t('announce.file.missing'));
          file.focus();
          return;
        }
        const title = fileTitle.value.normalize('NFC').trim() || f.name.normalize('NFC').replace(/\.[^.]+$/, '');
        progress.value = 0;
        progress.hidden = false;
        const onProgress = (p) => {
          progress.value = p;
          msg.info(p < 1 ? t('announce.file.sending', { pct: fmt.percent(p) }) : t('announce.file.processing'));
        };
        const send = () => {
          // The title first: the server reads the fields that come before the file.
          const form = new FormData();
          form.append('title', title);
          form.append('file', f, f.name);
          return api.upload('/api/announce/upload', form, onProgress);
        };
        msg.info(t('announce.sending'));
        if (await announce(() => ctx.call(send), title)) {
          file.value = '';
          fileTitle.value = '';
          fill(fileName, t('announce.file.none'));
        }
        progress.hidden = true;
      },
    },
    h('fieldset', {}, h('legend', {}, t('announce.file.legend')), filePick, field(t('announce.file.title'), fileTitle), progress, h('div', { class: 'actions' }, uploadSubmit)),
  );

  // Typed text, spoken by the cluster (only when it has a voice).
  const text = h('textarea', { rows: '4', maxlength: '2000', lang: 'vi', 'data-testid': 'announce-text' });
  const textSubmit = busyButton({ 'data-testid': 'announce-text-submit' }, t('announce.text.submit'));
  const textFieldset = h('fieldset', { hidden: true }, h('legend', {}, t('announce.text.legend')), field(t('announce.text.label'), text), h('div', { class: 'actions' }, textSubmit));
  const noVoice = h('p', { class: 'muted', 'data-testid': 'announce-no-tts', hidden: true }, t('announce.text.none'));
  const textForm = h(
    'form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        msg.clear();
        const body = text.value.normalize('NFC').trim();
        if (!body) {
          msg.fail(t('announce.text.missing'));
          text.focus();
          return;
        }
        msg.info(t('announce.text.working'));
        // The cluster names it (its first words, cut at a word boundary): the message says the name it got.
        if (await announce(() => ctx.call(() => api.post('/api/announce', { text: body })), (r) => r?.title ?? t('announce.text.untitled'))) text.value = '';
      },
    },
    textFieldset,
    noVoice,
  );

  const el = card('announce', t('announce.title'), { 'data-testid': 'announce' }, h('p', { class: 'muted' }, t('announce.intro')), clipForm, uploadForm, textForm, msg.el);
  drawClips([]);

  return {
    el,
    update(s) {
      textFieldset.hidden = !s.tts;
      noVoice.hidden = !!s.tts;
    },
    async refresh() {
      const r = await api.get('/api/clips');
      drawClips(r.clips ?? []);
    },
  };
}
