import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fillTemplate, parseTemplate, templateVariables } from '../../audio/tts/phrases.js';
import { isLoaError } from '../../protocol/errors.js';

// Phrase-bank templates as data: what a template file may say, and filling
// in its variables.

const SO_TAN = {
  id: 'so-tan',
  title: 'Thông báo sơ tán',
  parts: [{ tts: 'Thông báo khẩn: bà con {village} sơ tán đến {place} ngay.' }, { phrase: 'bahnar/evacuate-now' }, { phrase: 'xodang/evacuate-now' }, { tts: 'Nhắc lại: {village}.' }],
};

function refused(fn: () => unknown, words: RegExp) {
  try {
    fn();
  } catch (e) {
    assert.ok(isLoaError(e, 'LOA_E_CONFIG_INVALID'), String(e));
    assert.match((e as Error).message, words);
    return;
  }
  assert.unreachable('should be refused');
}

test('the evacuation template, its variables in order, filled in', () => {
  const t = parseTemplate(SO_TAN, 'so-tan');
  assert.equal(templateVariables(t), ['village', 'place']);
  // Values are NFC (this one arrives decomposed) and inserted once, not expanded again.
  const parts = fillTemplate(t, { village: 'thôn Kon Rơ'.normalize('NFD'), place: 'trường {village}', unused: 'x' });
  assert.equal(parts, [
    { tts: 'Thông báo khẩn: bà con thôn Kon Rơ sơ tán đến trường {village} ngay.' },
    { phrase: 'bahnar/evacuate-now' },
    { phrase: 'xodang/evacuate-now' },
    { tts: 'Nhắc lại: thôn Kon Rơ.' },
  ]);
});

test('every missing or empty variable is named', () => {
  const t = parseTemplate(SO_TAN, 'so-tan');
  refused(() => fillTemplate(t, {}), /no value for \{village\}, \{place\}/);
  refused(() => fillTemplate(t, { village: 'thôn 3', place: '  ' }), /no value for \{place\}/);
  refused(() => fillTemplate(t, { village: 'thôn 3', place: 7 }), /no value for \{place\}/);
});

test('a malformed template is refused with every problem', () => {
  refused(() => parseTemplate({ ...SO_TAN, id: 'other' }, 'so-tan'), /"id" must be "so-tan"/);
  refused(() => parseTemplate({ id: 'x', title: '', parts: [] }, 'x'), /"title".*"parts" must be a non-empty array/);
  refused(() => parseTemplate({ id: 'x', title: 't', parts: [{ phrase: '../etc/passwd' }] }, 'x'), /parts\[0\]/);
  refused(() => parseTemplate({ id: 'x', title: 't', parts: [{ phrase: 'bahnar/Evacuate' }] }, 'x'), /parts\[0\]/);
  refused(() => parseTemplate({ id: 'x', title: 't', parts: [{ tts: 'a', phrase: 'b/c' }] }, 'x'), /parts\[0\]/);
  refused(() => parseTemplate({ id: 'x', title: 't', parts: [{ tts: 'a' }], extra: 1 }, 'x'), /unknown field "extra"/);
  refused(() => parseTemplate([], 'x'), /JSON object/);
});

test.run();
