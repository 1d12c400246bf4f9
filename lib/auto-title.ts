// A title made from typed text (a spoken announcement with no title of its
// own): what the play log, the panel and the province's reports show. The
// text's first words, cut at a word boundary, never mid-word, with "…" when
// cut; whitespace collapsed; quotes left without their partner and
// punctuation hanging at either end taken away.

/** Quote pairs: a title keeps a quote only with its partner. */
const PAIRS: [string, string][] = [
  ['“', '”'],
  ['«', '»'],
  ['‘', '’'],
];
const EDGE_START = /^[\s"'“”‘’«»\-–—,.;:!?…)\]}]+/u;
const EDGE_END = /[\s"'“”‘’«»\-–—,.;:…([{]+$/u;

function dropStrayQuotes(s: string): string {
  let out = s;
  if ((out.match(/"/g) ?? []).length % 2) out = out.replace(/"/g, '');
  for (const [open, close] of PAIRS) if (out.split(open).length !== out.split(close).length) out = out.split(open).join('').split(close).join('');
  return out;
}

const tidy = (s: string) => dropStrayQuotes(s.replace(EDGE_START, '').replace(EDGE_END, '')).replace(EDGE_START, '').replace(EDGE_END, '').replace(/\s+/g, ' ');

/**
 * At most `max` characters (code points, "…" included) of `text` as a title;
 * `fallback` when nothing readable is left.
 */
export function titleFromText(text: string, max = 60, fallback = 'Thông báo'): string {
  const flat = text.normalize('NFC').replace(/\s+/gu, ' ').trim();
  const chars = Array.from(flat);
  if (chars.length <= max) return tidy(flat) || fallback;
  // Room for the ellipsis; cut at the last space within it, unless that leaves less than half (one very long word).
  const head = chars.slice(0, max - 1).join('');
  const space = head.lastIndexOf(' ');
  const cut = chars[max - 1] === ' ' ? head : space >= head.length / 2 ? head.slice(0, space) : head;
  const t = tidy(cut);
  return t ? `${t}…` : fallback;
}
