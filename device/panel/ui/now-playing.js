import { h, fill, field, confirmDialog } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t } from '/ui/common/i18n.js';
import { errorCode, errorText, levelText, sourceText, when } from './words.js';
import { card, levelBadge, messageLine } from './parts.js';

// What plays now, with Stop. An emergency can be stopped only where the
// zone's rule profiles allow it (`stoppable`), and then only with a reason
// that goes to the province (`needsReason`); otherwise the button stays
// disabled and says who can stop it. Anything else asks for a confirmation.

const MIN_REASON = 3;

export function nowPlayingCard(ctx) {
  const info = h('div', { class: 'info' });
  const controls = h('div', { class: 'controls' });
  const msg = messageLine('stop-message');
  const el = card('playing', t('playing.title'), { 'data-testid': 'now-playing', 'data-state': 'idle' }, info, controls, msg.el);
  let shown = null; // the playing item the controls were built for
  let busy = false;

  function drawInfo(p, now) {
    if (!p) return fill(info, h('p', { class: 'idle' }, t('playing.none')));
    const src = sourceText(p.source);
    fill(
      info,
      h('p', { class: 'what' }, levelBadge(p.level, levelText(p.level)), src !== levelText(p.level) ? h('span', { class: 'source', 'data-testid': 'playing-source' }, src) : null),
      h('p', { class: 'title', 'data-testid': 'playing-title' }, p.title ?? t('playing.untitled')),
      h('p', { class: 'since muted' }, t('playing.since', { when: when(p.since, now) }), Number.isFinite(p.volume) ? ` · ${t('playing.volume', { v: p.volume })}` : ''),
    );
  }

  function drawControls(p) {
    if (!p) return fill(controls);
    const button = h('button', { type: 'button', class: ['stop', 'big', p.level === 'emergency' ? 'danger-fill' : 'danger'], 'data-testid': 'stop-button', disabled: !p.stoppable }, t('playing.stop'));
    if (!p.stoppable) {
      const why = h('p', { class: 'explain', id: 'stop-why', 'data-testid': 'stop-why' }, t('playing.notStoppable'));
      button.setAttribute('aria-describedby', why.id);
      return fill(controls, button, why);
    }
    const reason = p.needsReason ? h('textarea', { rows: '2', maxlength: '300', required: true, 'data-testid': 'stop-reason' }) : null;
    button.addEventListener('click', () => stop(p, reason, button));
    fill(controls, reason ? field(t('playing.reason'), reason) : null, button);
  }

  async function stop(p, reasonInput, button) {
    if (busy) return;
    msg.clear();
    let body = {};
    if (p.needsReason) {
      const reason = reasonInput.value.normalize('NFC').trim();
      if (reason.length < MIN_REASON) {
        msg.fail(t('playing.reasonMissing'));
        reasonInput.focus();
        return;
      }
      body = { reason };
    } else {
      const ok = await confirmDialog({ title: t('playing.confirmTitle'), body: t('playing.confirmBody', { title: p.title ?? t('playing.untitled') }), confirmLabel: t('playing.stop'), cancelLabel: t('playing.cancel'), className: 'danger-fill', testid: 'stop-confirm' });
      if (!ok) return;
    }
    busy = true;
    button.disabled = true;
    try {
      const { stopped } = await ctx.call(() => api.post('/api/stop', body));
      msg.ok(t('playing.stopped', { title: stopped?.title ?? p.title ?? t('playing.untitled') }));
      if (reasonInput) reasonInput.value = '';
    } catch (e) {
      msg.fail(errorText(e));
      if (errorCode(e) === 'LOA_E_REASON_REQUIRED') reasonInput?.focus();
    } finally {
      busy = false;
      button.disabled = !p.stoppable;
      ctx.changed();
    }
  }

  return {
    el,
    update(s) {
      const p = s.playing ?? null;
      el.dataset.state = p ? 'playing' : 'idle';
      el.dataset.level = p?.level ?? '';
      drawInfo(p, ctx.now());
      // The controls are rebuilt only when something else plays (or its rights change), so a reason being typed survives the polls.
      const key = p ? JSON.stringify([p.id, p.stoppable, p.needsReason]) : null;
      if (key !== shown) {
        // Something else plays: the outcome of stopping the previous one is old news.
        if (p && !busy) msg.clear();
        shown = key;
        drawControls(p);
      }
    },
  };
}
