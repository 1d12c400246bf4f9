// Numbers read out in Vietnamese words, as a listener of the commune
// loudspeaker expects them. Pure string arithmetic on digit strings (no
// Number precision limits up to 18 digits).
//
// The readings (northern standard by default, the one VOV and the
// provincial stations use; the southern variants are options):
//
// - "mười" is ten and the tens of the teens (10 mười, 11 mười một, 15 mười
//   lăm); "mươi" follows a tens digit from 2 up (20 hai mươi, 90 chín mươi).
// - A unit 1 after a tens digit from 2 up is "mốt" (21 hai mươi mốt), but
//   "một" after "mười" (11 mười một) and after "linh" (101 một trăm linh một).
// - A unit 4 after a tens digit from 2 up is "tư" (24 hai mươi tư); after
//   "mười" and "linh" it stays "bốn" (14 mười bốn, 104 một trăm linh bốn).
// - A unit 5 after any tens digit is "lăm" (15 mười lăm, 25 hai mươi lăm);
//   after "linh" it stays "năm" (105 một trăm linh năm).
// - A zero tens digit between a hundreds digit and a unit is "linh"
//   (northern; southern "lẻ"): 105 một trăm linh năm.
// - A group after the first one is read with its hundreds, "không trăm"
//   included: 2026 hai nghìn không trăm hai mươi sáu, 1.005 một nghìn không
//   trăm linh năm. Groups of zeros are skipped: 1.000.500 một triệu năm trăm.
// - Group names: nghìn (northern; southern "ngàn"), triệu, tỷ; above a
//   thousand billions the billions count is itself read as a number
//   (10^12 một nghìn tỷ).

export interface NumberReading {
  /** The word for a zero tens digit between hundreds and units: 'linh' (northern, default) or 'lẻ' (southern). */
  zeroTens: 'linh' | 'lẻ';
  /** The word for a thousand: 'nghìn' (northern, default) or 'ngàn' (southern). */
  thousand: 'nghìn' | 'ngàn';
}

export const NORTHERN: NumberReading = Object.freeze({ zeroTens: 'linh', thousand: 'nghìn' });

/** Digit names, as read one by one (phone numbers, digit strings). */
export const DIGITS = ['không', 'một', 'hai', 'ba', 'bốn', 'năm', 'sáu', 'bảy', 'tám', 'chín'] as const;

const digit = (c: string): string => DIGITS[c.charCodeAt(0) - 48] ?? c;

/** Reads 0–99 as it ends a number after a tens digit (units rules above); `d` are two digits. */
function tensAndUnits(d: string, r: NumberReading, afterHundreds: boolean): string {
  const t = d.charCodeAt(0) - 48;
  const u = d.charCodeAt(1) - 48;
  if (t === 0) {
    if (u === 0) return '';
    return afterHundreds ? `${r.zeroTens} ${DIGITS[u]}` : DIGITS[u]!;
  }
  const head = t === 1 ? 'mười' : `${DIGITS[t]} mươi`;
  if (u === 0) return head;
  let unit: string = DIGITS[u]!;
  if (u === 5) unit = 'lăm';
  else if (t >= 2 && u === 1) unit = 'mốt';
  else if (t >= 2 && u === 4) unit = 'tư';
  return `${head} ${unit}`;
}

/** Reads a group of exactly three digits; `full` reads "không trăm" for a zero hundreds digit. */
function group3(d: string, r: NumberReading, full: boolean): string {
  const h = d.charCodeAt(0) - 48;
  const rest = d.slice(1);
  if (h === 0 && !full) return tensAndUnits(rest, r, false);
  if (rest === '00') return `${DIGITS[h]} trăm`;
  return `${DIGITS[h]} trăm ${tensAndUnits(rest, r, true)}`;
}

const GROUP_NAMES = (r: NumberReading) => ['', r.thousand, 'triệu'] as const;

/** Reads below a billion (up to 9 digits, no leading-zero trimming); `full` pads the leading group. */
function belowBillion(d: string, r: NumberReading, full: boolean): string {
  const padded = d.padStart(Math.ceil(d.length / 3) * 3, '0');
  const groups: string[] = [];
  for (let i = 0; i < padded.length; i += 3) groups.push(padded.slice(i, i + 3));
  const names = GROUP_NAMES(r);
  const words: string[] = [];
  let first = !full;
  groups.forEach((g, i) => {
    if (g === '000') return;
    const name = names[groups.length - 1 - i] ?? '';
    words.push(group3(g, r, !first), ...(name ? [name] : []));
    first = false;
  });
  return words.join(' ');
}

/** Longest digit string read as a number; longer ones are read digit by digit. */
export const MAX_NUMBER_DIGITS = 18;

/**
 * A non-negative integer given as a digit string, in words: "21" → "hai mươi
 * mốt", "1250000" → "một triệu hai trăm năm mươi nghìn". Leading zeros are
 * ignored ("07" → "bảy"); all zeros read "không". Longer than
 * MAX_NUMBER_DIGITS: digit by digit.
 */
export function readInteger(digits: string, r: NumberReading = NORTHERN): string {
  if (!/^\d+$/.test(digits)) throw new TypeError(`not a digit string: ${digits}`);
  const d = digits.replace(/^0+/, '');
  if (d === '') return DIGITS[0];
  if (d.length > MAX_NUMBER_DIGITS) return readDigits(d);
  return readTrimmed(d, r, false);
}

function readTrimmed(d: string, r: NumberReading, full: boolean): string {
  if (d.length <= 9) return belowBillion(d, r, full);
  const hi = d.slice(0, -9).replace(/^0+/, '');
  const lo = d.slice(-9);
  const head = hi === '' ? '' : `${readTrimmed(hi, r, full)} tỷ`;
  if (/^0+$/.test(lo)) return head;
  return `${head} ${belowBillion(lo, r, true)}`.trim();
}

/** Digits one by one: "115" → "một một năm". */
export function readDigits(digits: string): string {
  return [...digits].map(digit).join(' ');
}

/**
 * A decimal with its fractional digits: "3", "5" → "ba phẩy năm". The
 * fractional part is read as a number when it has at most three digits
 * ("3,25" → "ba phẩy hai mươi lăm"), its leading zeros one by one ("3,05" →
 * "ba phẩy không năm"), and digit by digit when longer.
 */
export function readDecimal(intDigits: string, fracDigits: string, r: NumberReading = NORTHERN): string {
  const zeros = /^0*/.exec(fracDigits)![0];
  const rest = fracDigits.slice(zeros.length);
  let frac: string;
  if (fracDigits.length > 3) frac = readDigits(fracDigits);
  else frac = [...[...zeros].map((): string => DIGITS[0]), ...(rest ? [readInteger(rest, r)] : [])].join(' ');
  return `${readInteger(intDigits, r)} phẩy ${frac}`;
}

/** A month number in words: 4 → "tư" ("tháng tư"), otherwise the cardinal. */
export function readMonth(digits: string, r: NumberReading = NORTHERN): string {
  return Number(digits) === 4 ? 'tư' : readInteger(digits, r);
}

/** An ordinal after "thứ": 1 → "nhất", 4 → "tư", otherwise the cardinal ("thứ hai mươi mốt"). */
export function readOrdinal(digits: string, r: NumberReading = NORTHERN): string {
  const n = Number(digits);
  if (n === 1) return 'nhất';
  if (n === 4) return 'tư';
  return readInteger(digits, r);
}

/** Weekday names after "thứ", capitalised as the orthography wants them ("thứ Hai"). */
export const WEEKDAYS: Readonly<Record<number, string>> = Object.freeze({ 2: 'Hai', 3: 'Ba', 4: 'Tư', 5: 'Năm', 6: 'Sáu', 7: 'Bảy' });
