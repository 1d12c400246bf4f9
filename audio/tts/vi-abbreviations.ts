// Abbreviations of Vietnamese administrative and bulletin writing, and the
// words a listener expects for them. The table is plain data: add a row to
// extend it (or pass `abbreviations` to normalizeVietnamese for a local
// addition). Matching is case-sensitive and on whole words: "UBND" is
// expanded, "Ubnd" and "UBNDX" are not. A trailing dot that belongs to the
// abbreviation ("TP. Kon Tum", "TP.HCM") is consumed with it.
//
// Abbreviations whose reading depends on what follows are not in the table
// but in CONTEXT_RULES below ("TT", "ĐT", "CN", "QL").

export const ABBREVIATIONS: Readonly<Record<string, string>> = Object.freeze({
  // organs of the state and of the Front
  UBND: 'Ủy ban nhân dân',
  HĐND: 'Hội đồng nhân dân',
  MTTQ: 'Mặt trận Tổ quốc',
  'MTTQVN': 'Mặt trận Tổ quốc Việt Nam',
  BCH: 'Ban chỉ huy',
  BCĐ: 'Ban chỉ đạo',
  BQL: 'Ban quản lý',
  BTV: 'Ban Thường vụ',
  TW: 'Trung ương',
  HTX: 'hợp tác xã',
  KDC: 'khu dân cư',
  // disasters and rescue
  PCTT: 'phòng chống thiên tai',
  TKCN: 'tìm kiếm cứu nạn',
  PCCC: 'phòng cháy chữa cháy',
  PCCR: 'phòng cháy chữa cháy rừng',
  KTTV: 'khí tượng thủy văn',
  // health, schools, police
  BHYT: 'bảo hiểm y tế',
  BHXH: 'bảo hiểm xã hội',
  TTYT: 'Trung tâm Y tế',
  TYT: 'Trạm Y tế',
  ATTP: 'an toàn thực phẩm',
  CSGT: 'cảnh sát giao thông',
  ATGT: 'an toàn giao thông',
  CAX: 'Công an xã',
  THPT: 'trung học phổ thông',
  THCS: 'trung học cơ sở',
  'COVID-19': 'Cô-vít mười chín',
  // places
  TP: 'thành phố',
  Tp: 'thành phố',
  TX: 'thị xã',
  HCM: 'Hồ Chí Minh',
  // a kilometre post: "Km 1.535"
  Km: 'ki-lô-mét',
  // ministries and departments
  'NN&PTNT': 'Nông nghiệp và Phát triển nông thôn',
  BTTTT: 'Bộ Thông tin và Truyền thông',
  'NĐ-CP': 'Nghị định Chính phủ',
  // everyday
  SĐT: 'số điện thoại',
  VNĐ: 'Việt Nam đồng',
  VND: 'Việt Nam đồng',
  'v.v.': 'vân vân',
});

/** A word character of Vietnamese text (letters with their marks, digits). */
export const WORD_CHAR = '\\p{L}\\p{M}\\p{N}';

/** Abbreviations written before a name with a dot ("TP. Kon Tum", "TP.HCM"): the dot goes with them. */
export const DOTTED_PREFIXES: ReadonlySet<string> = new Set(['TP', 'Tp', 'TX']);

/** What a context rule decided: the words, and how many characters after the abbreviation they replace. */
export interface ContextReading {
  words: string;
  consume: number;
}

export interface ContextRule {
  readonly abbr: string;
  /** Documentation: how the reading is decided. */
  readonly what: string;
  /** Decides from the text right after the abbreviation; null leaves it as written. */
  readonly decide: (after: string) => ContextReading | null;
}

/** Consumes a dot or spaces after a prefix and makes sure one space follows the words. */
function prefix(words: string, after: string): ContextReading {
  const m = /^\.?\s*/.exec(after)![0];
  return { words: `${words} `, consume: m.length };
}

// Context rules run on the text before numbers become words, so that "before
// a number" can be seen.
export const CONTEXT_RULES: readonly ContextRule[] = Object.freeze<ContextRule[]>([
  {
    abbr: 'TT',
    what: '"Thông tư" before a document number ("TT 39/2020", "TT số 39") or in a document code ("TT-BTTTT"); "Trung tâm" before "Y tế"; "thị trấn" before a capitalised name ("TT. Đắk Hà", "TT Plei Kần"); anywhere else left as written',
    decide: (after) => {
      if (/^-\p{Lu}/u.test(after)) return { words: 'Thông tư ', consume: 1 };
      if (/^\.?\s*(số\s*)?\d/u.test(after)) return prefix('Thông tư', after);
      if (/^\.?\s*Y tế/u.test(after)) return prefix('Trung tâm', after);
      if (/^(\.\s*|\s+)\p{Lu}/u.test(after)) return prefix('thị trấn', after);
      return null;
    },
  },
  {
    abbr: 'ĐT',
    what: '"điện thoại" before a phone number ("ĐT: 0912…", "ĐT +84…"); "đường tỉnh" before a 2–3 digit road number ("ĐT 605", "ĐT.605"); anywhere else left as written',
    decide: (after) => {
      const lead = /^\s*[.:]?\s*/.exec(after)![0];
      const rest = after.slice(lead.length);
      if (/^(\+84|\(?0\d)/.test(rest)) return { words: 'điện thoại', consume: 0 };
      if (/^\d{2,3}(?![\d.,/]\d|\d)/.test(rest)) return { words: 'đường tỉnh ', consume: lead.length };
      return null;
    },
  },
  {
    abbr: 'QL',
    what: '"quốc lộ" before a road number ("QL1A", "QL 14"); anywhere else left as written',
    decide: (after) => (/^\.?\s*\d/.test(after) ? prefix('quốc lộ', after) : null),
  },
  {
    abbr: 'CN',
    what: '"Chủ nhật" (Sunday) when standing alone ("Thứ 7 và CN")',
    decide: () => ({ words: 'Chủ nhật', consume: 0 }),
  },
]);

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The one regular expression that finds any of `keys` as a whole word,
 * longest first; group 1 is the key. A "&" or "-" joined to letters makes a
 * longer word ("PCTT&TKCN" is two entries, "KCN-2" is none).
 */
export function wordsPattern(keys: readonly string[], opts: { digitMayFollow?: boolean } = {}): RegExp | null {
  if (!keys.length) return null;
  const sorted = [...keys].sort((a, b) => b.length - a.length);
  const after = opts.digitMayFollow ? '\\p{L}\\p{M}' : WORD_CHAR;
  return new RegExp(`(?<![${WORD_CHAR}])(${sorted.map(escape).join('|')})(?![${after}])`, 'gu');
}
