import { h, fill } from '/ui/common/dom.js';

// Small pieces the panel's cards share.

/**
 * One line telling the outcome of the operator's last action: good news
 * (class "status") or a refusal (class "error"), read out by screen readers
 * either way. One element, so a test or a person looks in one place.
 */
export function messageLine(testid) {
  const el = h('p', { class: 'message', role: 'status', 'aria-live': 'polite', 'data-testid': testid, hidden: true });
  const set = (kind, text) => {
    el.className = `message ${kind}`;
    el.dataset.kind = kind;
    fill(el, text);
    el.hidden = !text;
  };
  return {
    el,
    ok: (text) => set('ok', text),
    info: (text) => set('info', text),
    fail: (text) => set('error', text),
    clear: () => set('info', ''),
  };
}

/** A card: <section class="card NAME" aria-labelledby> with its heading. */
export function card(name, title, attrs = {}, ...children) {
  const id = `card-${name}`;
  return h('section', { class: ['card', name], 'aria-labelledby': id, ...attrs }, h('h2', { id }, title), ...children);
}

/** A badge for a level (colour and word together). */
export const levelBadge = (level, text) => h('span', { class: ['badge', `level-${level}`], 'data-level': level }, text);
