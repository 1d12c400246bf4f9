// Vietnamese first, for every Loa page (the province console, the village
// panel): each page has one dictionary per language (its lang/vi.js and
// lang/en.js, same keys) and hands them over once with initI18n(); English
// is fetched only when chosen, and the choice is remembered in this browser.
// Dates and times are always shown in Việt Nam's time (Asia/Ho_Chi_Minh),
// whatever the phone or laptop says.

export const TZ = 'Asia/Ho_Chi_Minh';
let storeKey = 'loa.lang';
let lang = 'vi';
let vi = {};
let dict = vi;
let loadEn = async () => vi;

/**
 * Sets the page's dictionaries: `vi` (the first language, loaded with the
 * page) and `loadEn`, a function resolving to the English dictionary (e.g.
 * `() => import('./lang/en.js')`, a module whose default export is it).
 * Call once, before anything is shown.
 */
export function initI18n(opts) {
  vi = opts.vi;
  dict = vi;
  lang = 'vi';
  loadEn = async () => {
    const m = await opts.loadEn();
    return m?.default ?? m;
  };
  if (opts.storeKey) storeKey = opts.storeKey;
}

export const currentLang = () => lang;
const locale = () => (lang === 'vi' ? 'vi-VN' : 'en-GB');

export function storedLang() {
  try {
    return localStorage.getItem(storeKey) === 'en' ? 'en' : 'vi';
  } catch {
    return 'vi';
  }
}

export async function setLang(l) {
  dict = l === 'en' ? await loadEn() : vi;
  lang = l === 'en' ? 'en' : 'vi';
  document.documentElement.lang = lang;
  try {
    localStorage.setItem(storeKey, lang);
  } catch {
    // Private browsing: the choice lasts for this page only.
  }
}

/** Whether the page's dictionary has `key` (in its language or in Vietnamese). */
export const hasKey = (key) => dict[key] !== undefined || vi[key] !== undefined;

/** The string for `key`, with {name} placeholders filled from `vars`. */
export function t(key, vars) {
  const s = dict[key] ?? vi[key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] !== undefined ? String(vars[k]) : m)) : s;
}

const cache = new Map();
function dtf(opts) {
  const k = locale() + JSON.stringify(opts);
  if (!cache.has(k)) cache.set(k, new Intl.DateTimeFormat(locale(), { timeZone: TZ, ...opts }));
  return cache.get(k);
}
const toDate = (v) => (v instanceof Date ? v : new Date(v));

export const fmt = {
  /** 14:05 27/11/2026 */
  dateTime: (v) => (v === null || v === undefined ? '—' : dtf({ day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(toDate(v))),
  /** 14:05 */
  time: (v) => dtf({ hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(toDate(v)),
  /** 14:05:09 */
  seconds: (v) => dtf({ hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(toDate(v)),
  /** A local date 'YYYY-MM-DD' as 27/11/2026 (it is a calendar day, not an instant). */
  day: (d) => {
    const [y, m, dd] = d.split('-');
    return `${dd}/${m}/${y}`;
  },
  /** "3 giờ trước" */
  ago: (v, now = Date.now()) => {
    if (v === null || v === undefined) return '—';
    const s = Math.round((toDate(v).getTime() - now) / 1000);
    const rtf = new Intl.RelativeTimeFormat(locale(), { numeric: 'auto' });
    const a = Math.abs(s);
    if (a < 60) return rtf.format(s, 'second');
    if (a < 3600) return rtf.format(Math.round(s / 60), 'minute');
    if (a < 86400 * 2) return rtf.format(Math.round(s / 3600), 'hour');
    return rtf.format(Math.round(s / 86400), 'day');
  },
  /** 3:07 or 1:02:03 */
  duration: (ms) => {
    if (!Number.isFinite(ms)) return '—';
    const s = Math.round(ms / 1000);
    const hh = Math.floor(s / 3600);
    const mm = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, '0');
    return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
  },
  /**
   * When something plays and for how long: "06:30 (0:20)". A start and an end
   * would read "06:30–06:30" for anything under a minute; without an end, or
   * with none after the start (a refusal), the start alone.
   */
  span: (start, end) => {
    const ms = end ? toDate(end).getTime() - toDate(start).getTime() : NaN;
    return ms >= 1000 ? `${fmt.time(start)} (${fmt.duration(ms)})` : fmt.time(start);
  },
  number: (n, digits = 0) => new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(n),
  bytes: (n) => {
    if (!Number.isFinite(n)) return '—';
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
    return `${fmt.number(n, i && n < 10 ? 1 : 0)} ${units[i]}`;
  },
  percent: (f) => `${Math.round(f * 100)}%`,
  /** A wait in words: "2 phút 5 giây" / "2 minutes 5 seconds" (a login back-off's Retry-After). */
  wait: (seconds) => {
    const s = Math.max(1, Math.ceil(Number(seconds) || 0));
    const unit = (n, u) => new Intl.NumberFormat(locale(), { style: 'unit', unit: u, unitDisplay: 'long' }).format(n);
    const parts = [];
    if (s >= 3600) parts.push(unit(Math.floor(s / 3600), 'hour'));
    if (s % 3600 >= 60) parts.push(unit(Math.floor((s % 3600) / 60), 'minute'));
    if (s % 60) parts.push(unit(s % 60, 'second'));
    return parts.join(' ');
  },
};

/** Today in Việt Nam as 'YYYY-MM-DD'. */
export function today(now = Date.now()) {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(new Date(now)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}`;
}

/** 'YYYY-MM-DD' plus n days (calendar arithmetic, no time zone involved). */
export function addDays(date, n) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** The Monday of the week holding `date`. */
export function mondayOf(date) {
  const wd = new Date(`${date}T00:00:00Z`).getUTCDay(); // 0 = Sunday
  return addDays(date, wd === 0 ? -6 : 1 - wd);
}

/** A translated error: a known code in the page's language, the server's own words after it. */
export function errorText(e) {
  const code = e?.code ?? 'LOA_E_INTERNAL';
  const base = hasKey(`err.${code}`) ? t(`err.${code}`, { s: e.retryAfter ?? '?' }) : t('err.generic');
  return e?.message && e.message !== base ? `${base} (${e.message})` : base;
}
