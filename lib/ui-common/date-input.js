import { h } from './dom.js';
import { t, fmt } from './i18n.js';

// Dates and times typed as Việt Nam writes them, whatever the browser's
// locale: a native <input type=date> or <input type=time> shows mm/dd/yyyy
// and 07:31 PM in an en-US browser, so these are text inputs that read
// dd/mm/yyyy and 24-hour HH:mm (an ISO date 2026-11-27 is understood too).
// The element's `day` / `time` property is what the API takes
// ('YYYY-MM-DD', 'HH:MM'): '' when left empty, null when it cannot be read.
// A value that cannot be read marks the field invalid with the page's own
// words (the browser's bubble then says them, in the page's language).
// The page's dictionary needs 'input.date.invalid' and 'input.time.invalid'.

const pad = (n) => String(n).padStart(2, '0');

/** 27/11/2026, 27-11-2026, 27.11.2026, 2026-11-27 → '2026-11-27'; '' → ''; anything else (31/02/2026 too) → null. */
export function parseDay(s) {
  const v = String(s ?? '').trim();
  if (!v) return '';
  let m = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(v);
  let y, mo, d;
  if (m) [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  else if ((m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(v))) [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  else return null;
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
  return `${y}-${pad(mo)}-${pad(d)}`;
}

/** 6:30, 06:30, 6h30, 6.30, 0630 → '06:30'; '' → ''; anything else → null. 24-hour only. */
export function parseTime(s) {
  const v = String(s ?? '').trim().toLowerCase();
  if (!v) return '';
  const m = /^(\d{1,2})(?:[:h.]?(\d{2}))?h?$/.exec(v) ?? /^(\d{2})(\d{2})$/.exec(v);
  if (!m) return null;
  const hh = Number(m[1]);
  const mm = Number(m[2] ?? 0);
  if (hh > 23 || mm > 59) return null;
  return `${pad(hh)}:${pad(mm)}`;
}

function typed(kind, parse, show, value, attrs) {
  const el = h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false', placeholder: kind === 'date' ? t('input.date.placeholder') : t('input.time.placeholder'), class: kind === 'date' ? 'date' : 'time narrow', ...attrs });
  el.value = value ? show(value) : '';
  const check = () => el.setCustomValidity(parse(el.value) === null ? t(`input.${kind}.invalid`) : '');
  el.addEventListener('input', check);
  // Shown the way it was read, once the field is left: 6h30 becomes 06:30, 2026-11-27 becomes 27/11/2026.
  el.addEventListener('change', () => {
    const v = parse(el.value);
    if (v) el.value = show(v);
    check();
  });
  Object.defineProperty(el, kind === 'date' ? 'day' : 'time', {
    get: () => parse(el.value),
    set: (v) => {
      el.value = v ? show(v) : '';
      check();
    },
  });
  check();
  return el;
}

/** A date field (dd/mm/yyyy) holding `value` ('YYYY-MM-DD' or ''); read it with `.day`. */
export const dateInput = (value, attrs = {}) => typed('date', parseDay, fmt.day, value, attrs);

/** A 24-hour time field (HH:mm) holding `value` ('HH:MM' or ''); read it with `.time`. */
export const timeInput = (value, attrs = {}) => typed('time', parseTime, (v) => v, value, attrs);
