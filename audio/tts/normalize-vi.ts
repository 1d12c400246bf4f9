import { ABBREVIATIONS, CONTEXT_RULES, DOTTED_PREFIXES, WORD_CHAR, wordsPattern } from './vi-abbreviations.js';
import { NORTHERN, WEEKDAYS, readDecimal, readDigits, readInteger, readMonth, readOrdinal, type NumberReading } from './vi-numbers.js';

// Vietnamese text rewritten into the words a listener of the commune
// loudspeaker expects, before a TTS engine reads it: Unicode NFC, then phone
// numbers, dates, times, weekdays and ordinals, numbers with their units and
// ranges, and abbreviations. Pure: a string in, a string out. Everything no
// rule matches is kept exactly as written (spaces, punctuation, case).
//
// The passes run in a fixed order because each one needs what the previous
// ones left: context abbreviations ("TT 39", "QL1A") look at digits, phone
// numbers must be claimed before their digit groups look like numbers,
// dates and times before their parts look like ranges and fractions. The
// choices and ambiguities are documented in audio/tts/README.md.

export interface NormalizeOptions {
  /** Number readings; default northern ("linh", "nghìn"). */
  reading?: Partial<NumberReading>;
  /** Extra abbreviations (or overrides): { "BQLDA": "Ban quản lý dự án" }. */
  abbreviations?: Readonly<Record<string, string>>;
}

const WORD = new RegExp(`[${WORD_CHAR}]`, 'u');
const isWord = (c: string | undefined): boolean => c !== undefined && WORD.test(c);

type Rewrite = string | { words: string; consume: number } | null;

/**
 * Replaces every match of `re` (global) by what `fn` returns (null keeps
 * it). Words never stick to a neighbouring letter or digit: a space is put
 * between ("QL1A" → "quốc lộ một A"). `consume` also replaces that many
 * characters after the match.
 */
function rewrite(text: string, re: RegExp, fn: (m: RegExpExecArray, at: number) => Rewrite): string {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index < last) continue;
    const r = fn(m as RegExpExecArray, m.index);
    if (r === null) continue;
    const { words, consume } = typeof r === 'string' ? { words: r, consume: 0 } : r;
    const stop = m.index + m[0].length + consume;
    out += text.slice(last, m.index);
    const pre = isWord(out.at(-1)) && words !== '' && !/^\s/.test(words) ? ' ' : '';
    const post = isWord(text[stop]) && words !== '' && !/\s$/.test(words) ? ' ' : '';
    out += pre + words + post;
    last = stop;
  }
  return out + text.slice(last);
}

/** Up to 40 characters before position `at`: enough to see the word before. */
const before = (text: string, at: number): string => text.slice(Math.max(0, at - 40), at);

// ------------------------------------------------------------------ phones

// Vietnamese numbers: mobiles have 10 digits (0 + 9), landlines 11 (02xx +
// 7); written in groups separated by spaces, dots or hyphens, or in one run.
const PHONE = /(?<![\p{L}\p{N}+.,])(\+84[ .-]?|\(0\d{2,3}\)[ .-]?|0)(\d+(?:[ .-]\d+)*)(?![\p{L}\p{N}]|[.,]\d)/gu;
const HOTLINE = /(?<![\p{L}\p{N}.,])(1[89]00)([ .]?)(\d{3,4}(?:[ .]\d{2,4})?)(?![\p{L}\p{N}]|[.,]\d)/gu;
// Short numbers (113, 115, 1022) are read digit by digit only after a word
// that says they are to be dialled: "115" alone may count households.
const DIAL = /(?<![\p{L}\p{N}])(gọi|Gọi|điện thoại|Điện thoại|SĐT|đường dây nóng|Đường dây nóng|hotline|Hotline|tổng đài|Tổng đài)(\s*(?:(?:ngay|số|tới|đến|về)\s+)?(?:số\s*)?:?\s*)(\d{3,5}(?:\s*(?:,|hoặc|và)\s*\d{3,5})*)(?![\p{L}\p{N}]|[.,]\d)/gu;

/** Groups of digits read one by one, a comma (a short pause) between groups. */
const readGroups = (groups: string[]): string => groups.filter(Boolean).map(readDigits).join(', ');

/** Splits an unseparated 10/11-digit number the way it is said: 4-3-3 (mobile) or 4-4-3 (landline). */
function splitRun(d: string): string[] {
  if (d.length === 10) return [d.slice(0, 4), d.slice(4, 7), d.slice(7)];
  if (d.length === 11) return [d.slice(0, 4), d.slice(4, 8), d.slice(8)];
  return d.match(/.{1,3}/g) ?? [];
}

function phones(text: string): string {
  text = rewrite(text, PHONE, (m) => {
    const lead = m[1]!;
    const groups = m[2]!.split(/[ .-]/);
    const intl = lead.startsWith('+84');
    const area = /^\((0\d+)\)/.exec(lead)?.[1];
    // Take groups from the left while they make a phone number; what follows
    // (a count after the number) is left to the other passes.
    const first = area ?? (intl ? '' : '0');
    let digits = first;
    let taken = 0;
    let best = -1;
    for (const g of groups) {
      digits += g;
      taken++;
      const n = intl ? digits.replace(/^0/, '').length + 1 : digits.length;
      if (n === 10 || n === 11) best = taken;
      if (n > 11) break;
    }
    if (best < 0) return null;
    const used = groups.slice(0, best);
    const rest = m[2]!.slice(used.join(' ').length);
    let parts: string[];
    if (area) parts = [area, ...used];
    else if (intl) parts = used.length === 1 ? (used[0]!.match(/.{1,3}/g) ?? []) : used;
    else parts = used.length === 1 ? splitRun(`0${used[0]}`) : [`0${used[0]}`, ...used.slice(1)];
    const words = (intl ? `cộng ${readDigits('84')}, ` : '') + readGroups(parts);
    return { words: words + rest, consume: 0 };
  });
  text = rewrite(text, HOTLINE, (m) => readGroups([m[1]!, ...m[3]!.split(/[ .]/)]));
  return rewrite(text, DIAL, (m) => m[1]! + m[2]! + m[3]!.replace(/\d+/g, (d) => readDigits(d)));
}

// ------------------------------------------------------------------- dates

const inRange = (v: string | undefined, lo: number, hi: number): boolean => v !== undefined && Number(v) >= lo && Number(v) <= hi;
/** "ngày" is said before a date unless the text already says it or a part of the day does ("đêm 25/11"). */
const dayWord = (text: string, at: number): string => (/(?<![\p{L}])(ngày|mồng|mùng|sáng|trưa|chiều|tối|đêm|hôm)\s*$/iu.test(before(text, at)) ? '' : 'ngày ');
// House numbers and alleys use the same slash: "số 12/3", "hẻm 45/7".
const ADDRESS_BEFORE = /(?<![\p{L}])(số|hẻm|ngõ|ngách|kiệt|nhà|tổ)\s*$/iu;
// A share of something is a fraction, not a date: "3/4 số hộ", "1/2 diện tích".
const FRACTION_AFTER = /^\s*(số|diện tích|dân số|tổng|lượng)(?![\p{L}])/u;

const MONTH = /(?<![\p{L}\p{N}])([Tt]háng)\s+(\d{1,2})(?:\s*[-–]\s*(\d{1,2}))?(?:[/.-](\d{4}))?(?![\p{L}\p{N}/]|[.,]\d)/gu;
const DATE = /(?<![\p{N}/.,])(?:(\d{1,2})\s*[-–]\s*)?(\d{1,2})([/.-])(\d{1,2})(?:\3(\d{4}))?(?:\s*[-–]\s*(\d{1,2})([/.-])(\d{1,2})(?:\7(\d{4}))?)?(?![\p{N}/]|[.,]\d)/gu;

/** Day and month (and year) in words; null when they are not a calendar date. */
function dayMonth(d: string | undefined, sep: string | undefined, mo: string | undefined, y: string | undefined): string | null {
  if (!inRange(d, 1, 31) || !inRange(mo, 1, 12)) return null;
  // "26-11" is a range and "3.5" a decimal: without a year only the slash makes a date.
  if (sep !== '/' && y === undefined) return null;
  return `${readInteger(d!)} tháng ${readMonth(mo!)}${y ? ` năm ${readInteger(y)}` : ''}`;
}

function dates(text: string): string {
  text = rewrite(text, MONTH, (m) => {
    if (!inRange(m[2], 1, 12) || (m[3] !== undefined && !inRange(m[3], 1, 12))) return null;
    return `${m[1]} ${readMonth(m[2]!)}${m[3] ? ` đến tháng ${readMonth(m[3])}` : ''}${m[4] ? ` năm ${readInteger(m[4])}` : ''}`;
  });
  return rewrite(text, DATE, (m, at) => {
    const [, fromDay, d, sep, mo, y, d2, sep2, mo2, y2] = m;
    if (sep === '/' && y === undefined && fromDay === undefined && d2 === undefined) {
      if (ADDRESS_BEFORE.test(before(text, at))) return null;
      if (FRACTION_AFTER.test(text.slice(at + m[0].length, at + m[0].length + 20))) return `${readInteger(d!)} phần ${readMonth(mo!)}`;
    }
    const first = dayMonth(d, sep, mo, y);
    if (first === null) return null;
    if (fromDay !== undefined) {
      if (!inRange(fromDay, 1, 31) || d2 !== undefined) return null;
      return `${dayWord(text, at)}${readInteger(fromDay)} đến ${first}`;
    }
    if (d2 === undefined) return `${dayWord(text, at)}${first}`;
    const second = dayMonth(d2, sep2, mo2, y2);
    if (second === null) return null;
    return `${dayWord(text, at)}${first} đến ngày ${second}`;
  });
}

// ------------------------------------------------------------------- times

// 7h30, 7h30', 7g30 (southern), 7H30p · 7:30, 07:30:15 · 7 giờ 30 (phút) · 14h, 48h
const T_HM = String.raw`\d{1,2}[hHg]\d{2}(?:\s?(?:phút|ph|p)(?![\p{L}])|'|m(?![\p{L}]))?`;
const T_COLON = String.raw`\d{1,2}:\d{2}(?::\d{2})?(?!\d)`;
const T_GIO = String.raw`\d{1,3}\s+giờ(?:\s+\d{2}(?:\s*(?:phút|ph|p)(?![\p{L}]))?|\s+\d{1,2}\s*(?:phút|ph|p)(?![\p{L}]))?`;
const T_H = String.raw`\d{1,3}[hH](?![\p{L}\p{N}])`;
const TIME_SRC = `(?:${T_HM}|${T_COLON}|${T_GIO}|${T_H})`;
const TIME = new RegExp(`(?<![\\p{L}\\p{N}.,:])(${TIME_SRC})(?:\\s*[-–]\\s*(${TIME_SRC}))?`, 'gu');
// "7-9h": a range of hours with the unit once.
const HOUR_RANGE = /(?<![\p{L}\p{N}.,:/])(\d{1,2})\s*[-–]\s*(\d{1,2})[hH](?![\p{L}\p{N}])/gu;

function readTime(t: string): string | null {
  const [h = '', m, s] = t.match(/\d+/g) ?? [];
  const clock = m !== undefined;
  if (clock && (!inRange(h, 0, 24) || !inRange(m, 0, 59) || (s !== undefined && !inRange(s, 0, 59)))) return null;
  let out = `${readInteger(h)} giờ`;
  if (m !== undefined && Number(m) > 0) out += ` ${readInteger(m)} phút`;
  if (s !== undefined && Number(s) > 0) out += ` ${readInteger(s)} giây`;
  return out;
}

function times(text: string): string {
  text = rewrite(text, HOUR_RANGE, (m) => (inRange(m[1], 0, 24) && inRange(m[2], 0, 24) ? `${readInteger(m[1]!)} đến ${readInteger(m[2]!)} giờ` : null));
  return rewrite(text, TIME, (m) => {
    const a = readTime(m[1]!);
    if (a === null) return null;
    if (m[2] === undefined) return a;
    const b = readTime(m[2]);
    return b === null ? null : `${a} đến ${b}`;
  });
}

// ------------------------------------------------------- weekdays, ordinals

const THU = /(?<![\p{L}\p{N}])([Tt]hứ)\s+(\d{1,2})(?![\p{N}]|[.,/]\d)/gu;
const WEEKDAY_BEFORE = /(sáng|trưa|chiều|tối|đêm|vào|ngày|hôm|các|từ|đến|tới|và|hoặc)\s*$/iu;
const WEEKDAY_AFTER = /^\s*(,|\(|–|-|ngày|tuần|hằng|hàng|này|tới|sau|\d{1,2}\/)/u;
const SENTENCE_END = /[.!?\n]\s*$/u;

const capitalise = (w: string): string => w.charAt(0).toUpperCase() + w.slice(1);

/** Nothing but spaces since the start of the text or the end of a sentence. */
function atSentenceStart(text: string, at: number): boolean {
  return SENTENCE_END.test(before(text, at)) || text.slice(0, at).trim() === '';
}

function weekdays(text: string): string {
  return rewrite(text, THU, (m, at) => {
    const n = Number(m[2]);
    const pre = before(text, at);
    const after = text.slice(at + m[0].length, at + m[0].length + 12);
    const weekday = n >= 2 && n <= 7 && (m[1] === 'Thứ' || WEEKDAY_BEFORE.test(pre) || WEEKDAY_AFTER.test(after));
    // The weekday is "thứ Hai" (orthography of the Ministry of Education);
    // "Thứ" keeps its capital only where a sentence starts.
    const thu = m[1] === 'Thứ' && atSentenceStart(text, at) ? 'Thứ' : 'thứ';
    return weekday ? `${thu} ${WEEKDAYS[n]}` : `${m[1]} ${readOrdinal(m[2]!)}`;
  });
}

// ---------------------------------------------------- numbers, units, ranges

/** Units after a number, longest first where one is the start of another. */
export const UNITS: Readonly<Record<string, string>> = Object.freeze({
  'km/h': 'ki-lô-mét trên giờ',
  'km/giờ': 'ki-lô-mét trên giờ',
  'm³/s': 'mét khối trên giây',
  'm3/s': 'mét khối trên giây',
  'm/s': 'mét trên giây',
  'km²': 'ki-lô-mét vuông',
  km2: 'ki-lô-mét vuông',
  'm²': 'mét vuông',
  m2: 'mét vuông',
  'm³': 'mét khối',
  m3: 'mét khối',
  km: 'ki-lô-mét',
  Km: 'ki-lô-mét',
  cm: 'xăng-ti-mét',
  mm: 'mi-li-mét',
  // "m" after a number is metres, always; minutes are "phút", "ph" or "p" ("15 ph", "7h30p").
  m: 'mét',
  ph: 'phút',
  p: 'phút',
  kg: 'ki-lô-gam',
  g: 'gam',
  ha: 'héc-ta',
  ml: 'mi-li-lít',
  kWh: 'ki-lô-oát giờ',
  kW: 'ki-lô-oát',
  '°C': 'độ C',
  'ºC': 'độ C',
  oC: 'độ C',
  '°': 'độ',
  '%': 'phần trăm',
  VNĐ: 'đồng',
  VND: 'đồng',
  đ: 'đồng',
  đồng: 'đồng',
  USD: 'đô la Mỹ',
});

const NUM = String.raw`\d{1,3}(?:\.\d{3})+(?:,\d+)?(?![.,]?\d)|\d+(?:[.,]\d+)?(?![.,]?\d)`;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const UNIT_SRC = Object.keys(UNITS)
  .sort((a, b) => b.length - a.length)
  .map((u) => esc(u) + (/[\p{L}\d]$/u.test(u) ? '(?![\\p{L}\\p{N}])' : ''))
  .join('|');
const NUMBER = new RegExp(`(?<![\\p{L}\\p{N}.,])(?:(?<=^|[\\s(])([-−]))?(${NUM})(?:\\s*[-–]\\s*(${NUM}))?(?:[ \\u00a0]?(${UNIT_SRC})(\\/(?=[\\p{L}\\d]))?)?`, 'gu');

/** One number as written: "1.250.000" (dots group thousands), "3,5" (comma is the decimal mark), "3.5" (a decimal point, as some writers use). */
export function readNumberToken(tok: string, r: NumberReading = NORTHERN): string {
  if (/^\d{1,3}(\.\d{3})+(,\d+)?$/.test(tok)) {
    const [int, frac] = tok.replace(/\./g, '').split(',');
    return frac === undefined ? readInteger(int!, r) : readDecimal(int!, frac, r);
  }
  const [int, frac] = tok.split(/[.,]/);
  if (frac !== undefined) return readDecimal(int!, frac, r);
  // A run with leading zeros longer than three digits is a code: digit by digit.
  if (/^0\d{3,}$/.test(int!)) return readDigits(int!);
  return readInteger(int!, r);
}

function numbers(text: string, r: NumberReading): string {
  // A height: "1m70" is one metre seventy.
  text = rewrite(text, /(?<![\p{L}\p{N}.,])(\d+)m(\d{2})(?![\p{L}\p{N}])/gu, (m) => `${readInteger(m[1]!, r)} mét ${readInteger(m[2]!, r)}`);
  text = rewrite(text, NUMBER, (m) => {
    const [, minus, a, b, unit, per] = m;
    let words = (minus ? 'âm ' : '') + readNumberToken(a!, r);
    if (b !== undefined) words += ` đến ${readNumberToken(b, r)}`;
    if (unit !== undefined) words += ` ${UNITS[unit]}`;
    // "1.250.000 đồng/hộ", "50 mm/24h": per something.
    if (per !== undefined) words += ' trên ';
    return words;
  });
  // Whatever digits are left (glued to letters: "H5N1") are read as numbers.
  return rewrite(text, /\d+/gu, (m) => readNumberToken(m[0], r));
}

// ------------------------------------------------------------ abbreviations

// A context abbreviation may have its number glued on ("QL1A").
const CONTEXT = wordsPattern(CONTEXT_RULES.map((c) => c.abbr), { digitMayFollow: true })!;

function contextAbbreviations(text: string): string {
  return rewrite(text, CONTEXT, (m, at) => {
    const rule = CONTEXT_RULES.find((c) => c.abbr === m[1])!;
    const r = rule.decide(text.slice(at + m[0].length, at + m[0].length + 40));
    return r && atSentenceStart(text, at) ? { ...r, words: capitalise(r.words) } : r;
  });
}

function abbreviations(text: string, table: Readonly<Record<string, string>>, keys: (k: string) => boolean): string {
  const re = wordsPattern(Object.keys(table).filter(keys));
  if (!re) return text;
  return rewrite(text, re, (m, at) => {
    const key = m[1]!;
    const words = table[key]!;
    const dot = DOTTED_PREFIXES.has(key) ? /^\.\s*(?=\p{L})/u.exec(text.slice(at + key.length, at + key.length + 8)) : null;
    // "CSGT huyện…" opening a sentence opens it with a capital: "Cảnh sát giao thông huyện…".
    const said = atSentenceStart(text, at) ? capitalise(words) : words;
    return dot ? { words: `${said} `, consume: dot[0].length } : said;
  });
}

/**
 * Rewrites Vietnamese text into words for a TTS engine: NFC, then phone
 * numbers, dates, times, weekdays, numbers with units and ranges, and
 * abbreviations, as a listener expects to hear them (audio/tts/README.md
 * lists the rules). Pure; what no rule matches is kept as written.
 */
export function normalizeVietnamese(text: string, opts: NormalizeOptions = {}): string {
  const r: NumberReading = { ...NORTHERN, ...opts.reading };
  const table = opts.abbreviations ? { ...ABBREVIATIONS, ...opts.abbreviations } : ABBREVIATIONS;
  let t = text.normalize('NFC');
  // Abbreviations with digits in them ("COVID-19") go before the digits are read.
  t = abbreviations(t, table, (k) => /\d/.test(k));
  t = contextAbbreviations(t);
  t = phones(t);
  t = dates(t);
  // A slash left between two numbers (an address, a ratio, "24/24 giờ", a
  // document number) is read "trên"; before times, so "24/24 giờ" is whole.
  t = t.replace(/(?<=\d)\s*\/\s*(?=\d)/g, ' trên ');
  t = times(t);
  t = weekdays(t);
  t = numbers(t, r);
  t = abbreviations(t, table, (k) => !/\d/.test(k));
  t = t.replace(/(?<=[\p{L}\p{M}])\s*&\s*(?=\p{L})/gu, ' và ');
  return t;
}

