import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectedCode } from '../helpers/errors.js';
import { EspeakEngine, textToSpeech } from '../../audio/tts/engine.js';
import { parseWav } from '../../audio/tts/wav.js';

// espeak-ng's Vietnamese voice, for real: the offline default engine.

const engine = new EspeakEngine();
const SHORT = 'Thông báo của Ủy ban nhân dân xã.';
const LONG =
  'Thông báo của UBND xã Đắk Hà. Do ảnh hưởng của bão số 5, từ đêm 25/11 đến hết ngày 27/11/2026 có mưa to, lượng mưa phổ biến 200-300mm. ' +
  'Đề nghị bà con thôn 3 và thôn 5 không đi qua các ngầm tràn, không vào rừng, chằng chống nhà cửa và theo dõi thông tin trên loa truyền thanh của xã.';

/** RMS of 16-bit mono samples, 0–1. */
function rms(wav: Buffer): number {
  const info = parseWav(wav);
  let sum = 0;
  const n = info.dataBytes / 2;
  for (let i = 0; i < n; i++) sum += (wav.readInt16LE(info.dataOffset + i * 2) / 32768) ** 2;
  return Math.sqrt(sum / n);
}

test('a Vietnamese sentence becomes a WAV of speech of a plausible length', async () => {
  const wav = await textToSpeech(SHORT, { engine });
  const info = parseWav(wav);
  assert.is(info.format, 1);
  assert.is(info.channels, 1);
  assert.is(info.sampleRate, 22050);
  // The sizes are written out (espeak-ng leaves placeholders on a pipe).
  assert.is(info.streamed, false);
  assert.is(wav.readUInt32LE(4), wav.length - 8);
  // Eight syllables at 150 words (syllables) per minute: 3.2 s; espeak-ng is quicker but not by half.
  assert.ok(info.durationMs > 1500 && info.durationMs < 5000, `${info.durationMs} ms`);
  assert.ok(rms(wav) > 0.02, `rms ${rms(wav)}: speech, not silence`);
});

test('longer text, longer audio; a faster speed, shorter audio', async () => {
  const short = parseWav(await textToSpeech(SHORT, { engine })).durationMs;
  const long = parseWav(await textToSpeech(LONG, { engine })).durationMs;
  // About 90 syllables once numbers and dates are words, against 8.
  assert.ok(long > 6 * short, `${long} ms vs ${short} ms`);
  assert.ok(long > 15_000 && long < 60_000, `${long} ms`);
  const fast = parseWav(await textToSpeech(LONG, { engine, speed: 2 })).durationMs;
  assert.ok(fast < 0.7 * long, `${fast} ms at speed 2 vs ${long} ms`);
});

test('the numbers are spoken as normalised words, not by espeak-ng itself', async () => {
  // If espeak-ng saw "26/11/2026" it would read digits its own way: the audio
  // equals that of the words normalizeVietnamese makes of them.
  const viaDigits = await textToSpeech('ngày 26/11/2026', { engine });
  const viaWords = await textToSpeech('ngày hai mươi sáu tháng mười một năm hai nghìn không trăm hai mươi sáu', { engine, normalize: false });
  assert.ok(viaDigits.equals(viaWords));
});

test('text is data: a text that looks like options is spoken, not obeyed', async () => {
  const wav = await textToSpeech('--version -w /tmp/loa-tts-injected.wav', { engine });
  assert.ok(parseWav(wav).durationMs > 1000);
});

async function rejects(p: Promise<unknown>, words: RegExp, reason: string): Promise<void> {
  const e = await rejectedCode(p, 'LOA_E_TTS_FAILED');
  assert.match(e.message, words);
  assert.is(e.context.reason, reason);
}

test('an unknown voice and a missing program fail with the reason', async () => {
  await rejects(textToSpeech(SHORT, { engine, voice: 'qqq' }), /espeak-ng exited with status 1: .*voice does not exist/, 'exit');
  await rejects(new EspeakEngine({ binary: '/nonexistent/espeak-ng' }).synthesize('xin chào'), /cannot run \/nonexistent\/espeak-ng: .*ENOENT/, 'spawn');
});

test.run();
