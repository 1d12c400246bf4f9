// Small DOM helpers: elements are built with h(), never from HTML strings, so
// nothing a user typed (titles, zone names, server messages) can become
// markup, and the page keeps to its CSP (no inline script or style).

/**
 * h('button', { class: 'primary', onclick: fn, 'data-testid': 'x' }, 'Text', child, [more])
 * Attributes: on* → listeners; class; for; boolean props (disabled, checked,
 * hidden, required, selected, open, multiple); value; everything else is set
 * as an attribute. Children: strings, nodes, arrays; null/false/undefined skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'for') el.htmlFor = v;
    else if (k === 'value') el.value = v;
    else if (['disabled', 'checked', 'hidden', 'required', 'selected', 'open', 'multiple', 'readOnly'].includes(k)) el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let nextId = 0;
/** A labelled field: <div class="field"><label for=id>text</label><control id=id></div>. */
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++nextId}`;
  const hintEl = hint ? h('small', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

/** A checkbox with its label after it. */
export function check(label, attrs = {}) {
  const input = h('input', { type: 'checkbox', ...attrs });
  return { input, el: h('label', { class: 'check' }, input, ' ', label) };
}

/** <select> from [value, label] pairs. */
export function select(options, attrs = {}, selected) {
  return h('select', attrs, options.map(([v, l]) => h('option', { value: v, selected: v === selected }, l)));
}

/** A status line read out by screen readers when it changes. */
export function statusLine(attrs = {}) {
  return h('p', { class: 'status', role: 'status', 'aria-live': 'polite', ...attrs });
}

/** An error box (role=alert) showing nothing until set. */
export function errorBox(attrs = {}) {
  const el = h('div', { class: 'error', role: 'alert', hidden: true, ...attrs });
  return {
    el,
    show(text) {
      fill(el, text);
      el.hidden = !text;
    },
    clear() {
      fill(el);
      el.hidden = true;
    },
  };
}

/**
 * A modal confirmation (<dialog>: focus is trapped, Esc cancels). Resolves
 * true when confirmed. `mustType`: the confirm button stays disabled until
 * that word is typed (the actual-emergency confirmation).
 */
export function confirmDialog({ title, body, confirmLabel, cancelLabel, className, mustType, typeLabel, testid }) {
  return new Promise((resolve) => {
    const dlgId = `d${++nextId}`;
    const typed = mustType ? h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'confirm-word' }) : null;
    const ok = h('button', { type: 'submit', class: ['primary', className], disabled: !!mustType, 'data-testid': 'confirm-ok' }, confirmLabel);
    const cancel = h('button', { type: 'button', 'data-testid': 'confirm-cancel' }, cancelLabel);
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', { id: `${dlgId}-title` }, title),
      (Array.isArray(body) ? body : [body]).map((p) => h('p', {}, p)),
      typed ? field(typeLabel, typed) : null,
      h('div', { class: 'actions' }, cancel, ok),
    );
    const dlg = h('dialog', { class: ['confirm', className], 'data-testid': testid ?? 'confirm-dialog', 'aria-labelledby': `${dlgId}-title` }, form);
    if (typed) typed.addEventListener('input', () => (ok.disabled = typed.value.normalize('NFC').trim().toLocaleUpperCase('vi') !== mustType));
    let result = false;
    form.addEventListener('submit', (e) => {
      if (ok.disabled) {
        e.preventDefault();
        return;
      }
      result = true;
    });
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve(result);
    });
    document.body.append(dlg);
    dlg.showModal();
    (typed ?? cancel).focus();
  });
}

/**
 * The button that switches the page between Vietnamese and English;
 * `i18n` is the page's i18n module, `redraw` runs after the switch.
 */
export function langSwitch(i18n, redraw) {
  const other = i18n.currentLang() === 'vi' ? 'en' : 'vi';
  return h(
    'button',
    {
      type: 'button',
      class: 'lang',
      lang: other,
      'data-testid': 'lang-switch',
      onclick: async () => {
        await i18n.setLang(other);
        redraw();
      },
    },
    i18n.t('lang.switch'),
  );
}
