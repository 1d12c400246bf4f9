import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { titleFromText } from '../../lib/auto-title.js';

test('a short text is its own title, trimmed, its whitespace collapsed, without punctuation hanging at the ends', () => {
  assert.is(titleFromText('  Họp dân lúc 7 giờ.  '), 'Họp dân lúc 7 giờ');
  assert.is(titleFromText('Thông báo:\n\n  mất điện   chiều nay!'), 'Thông báo: mất điện chiều nay!');
  assert.is(titleFromText('"Thông báo họp dân"'), 'Thông báo họp dân', 'quotes around the whole text are not part of a title');
  assert.is(titleFromText('Thông báo “khẩn”: mất điện'), 'Thông báo “khẩn”: mất điện', 'a pair of quotes inside stays');
  assert.is(titleFromText('  — “Loa phát thử  '), 'Loa phát thử', 'a quote without its partner goes');
});

test('a long text is cut at a word boundary, never mid-word, and ends with an ellipsis', () => {
  const text = 'UBND xã thông báo: ngày 15/12/2026 lúc 7h30 họp dân tại nhà văn hoá thôn 3, gọi 0905 123 456';
  const title = titleFromText(text);
  assert.is(title, 'UBND xã thông báo: ngày 15/12/2026 lúc 7h30 họp dân tại nhà…');
  assert.ok(Array.from(title).length <= 60);
  assert.ok(text.startsWith(title.slice(0, -1)), 'the words as typed');
});

test('the cut leaves no stray space, comma or quote before the ellipsis', () => {
  const text = 'Thông báo “khẩn” về việc phòng chống bão số 9, các hộ dân ven sông, “hãy chuẩn bị sơ tán ngay trong đêm nay';
  const title = titleFromText(text, 60);
  assert.is(title, 'Thông báo “khẩn” về việc phòng chống bão số 9, các hộ dân…');
  assert.is(titleFromText('Bão số 9,    sắp vào đất liền, đề nghị bà con chú ý theo dõi tin', 30), 'Bão số 9, sắp vào đất liền…');
  assert.is(titleFromText('Một hai ba bốn năm sáu bảy “tám chín mười', 35), 'Một hai ba bốn năm sáu bảy tám…');
});

test('one very long word is cut inside it rather than leaving almost nothing; nothing readable gives the fallback', () => {
  assert.is(titleFromText('a'.repeat(100), 10), `${'a'.repeat(9)}…`);
  assert.is(titleFromText(' … "" ', 60), 'Thông báo');
});

test.run();
