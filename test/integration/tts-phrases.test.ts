import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectedCode } from '../helpers/errors.js';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EspeakEngine, textToSpeech, type TtsEngine } from '../../audio/tts/engine.js';
import { assembleTemplate } from '../../audio/tts/phrases.js';
import { parseWav } from '../../audio/tts/wav.js';
import { PCM } from '../../audio/types.js';
import type { ErrorCode } from '../../protocol/errors.js';
import { peak, samplesOf, toneLevel } from '../helpers/audio.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

// A phrase bank built in a temporary directory, assembled with espeak-ng and
// the real ffmpeg. No recordings of Ba Na or Xơ Đăng speakers ship with the
// tests, so the "recorded" phrases are stand-ins: Ba Na is a 600 Hz tone of
// 1.5 s in Ogg/Opus (easy to find in the output), Xơ Đăng is espeak-ng's
// Indonesian voice saying a sentence, as MP3.

const bank = tempDir('loa-phrases-');
const FPMS = PCM.sampleRate / 1000;
function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
}
mkdirSync(join(bank, 'bahnar'));
mkdirSync(join(bank, 'xodang'));
mkdirSync(join(bank, 'templates'));
ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=600:duration=1.5', '-c:a', 'libopus', '-b:a', '32k', join(bank, 'bahnar', 'evacuate-now.ogg')]);
const idWav = join(bank, 'id.wav');
assert.is(spawnSync('espeak-ng', ['-v', 'id', '-w', idWav, 'Semua warga harus pergi sekarang juga'], { encoding: 'utf8' }).status, 0);
ffmpeg(['-i', idWav, '-c:a', 'libmp3lame', '-b:a', '64k', join(bank, 'xodang', 'evacuate-now.mp3')]);
const SO_TAN = {
  id: 'so-tan',
  title: 'Thông báo sơ tán',
  parts: [{ tts: 'Thông báo khẩn: bà con {village} sơ tán đến {place} ngay.' }, { phrase: 'bahnar/evacuate-now' }, { phrase: 'xodang/evacuate-now' }],
};
writeFileSync(join(bank, 'templates', 'so-tan.json'), JSON.stringify(SO_TAN));
writeFileSync(join(bank, 'templates', 'gia-rai.json'), JSON.stringify({ id: 'gia-rai', title: 'Sơ tán (Gia Rai)', parts: [{ tts: 'Thông báo khẩn.' }, { phrase: 'giarai/evacuate-now' }, { phrase: 'bahnar/lu-quet' }] }));
writeFileSync(join(bank, 'bahnar', 'broken.wav'), 'RIFF but not really');
writeFileSync(join(bank, 'templates', 'broken.json'), JSON.stringify({ id: 'broken', title: 'x', parts: [{ phrase: 'bahnar/broken' }] }));
test.after(() => cleanupTempDirs());

/** Milliseconds of audio in a file, as decoded to Loa's PCM. */
function decodedMs(file: string): number {
  const r = spawnSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-i', file, '-ac', '1', '-ar', '48000', '-f', 's16le', 'pipe:1'], { maxBuffer: 1 << 28 });
  return r.stdout.length / 2 / FPMS;
}

const espeak = new EspeakEngine();
const vars = { village: 'thôn Kon Rơ', place: 'trường tiểu học' };

test('the evacuation template: Vietnamese TTS, then the Ba Na and Xơ Đăng recordings, 400 ms apart', async () => {
  const wav = await assembleTemplate(bank, 'so-tan', vars, espeak);
  const info = parseWav(wav);
  assert.equal([info.sampleRate, info.channels, info.bitsPerSample, info.streamed], [48000, 1, 16, false]);

  const ttsMs = parseWav(await textToSpeech('Thông báo khẩn: bà con thôn Kon Rơ sơ tán đến trường tiểu học ngay.', { engine: espeak })).durationMs;
  const banaMs = decodedMs(join(bank, 'bahnar', 'evacuate-now.ogg'));
  const xodangMs = decodedMs(join(bank, 'xodang', 'evacuate-now.mp3'));
  const want = ttsMs + banaMs + xodangMs + 2 * 400;
  assert.ok(Math.abs(info.durationMs - want) < 5, `${info.durationMs} ms, want ${want} (tts ${ttsMs} + ${banaMs} + ${xodangMs} + 800)`);

  // Each part where it belongs: silence in the gaps, the tone (lavfi's sine: amplitude 1/8) after the first gap.
  const x = samplesOf(wav.subarray(info.dataOffset));
  const gap1 = Math.round(ttsMs * FPMS);
  assert.ok(peak(x, gap1 + 10 * FPMS, gap1 + 390 * FPMS) < 50, 'the first gap is silent');
  const tone = gap1 + 400 * FPMS;
  assert.ok(toneLevel(x, tone + 200 * FPMS, 500 * FPMS, 600) > 0.1, 'the Ba Na phrase follows the gap');
  assert.ok(toneLevel(x, 0, Math.round(ttsMs * FPMS), 600) < 0.02, 'not inside the speech');
  const gap2 = tone + Math.round(banaMs * FPMS);
  assert.ok(peak(x, gap2 + 20 * FPMS, gap2 + 380 * FPMS) < 50, 'the second gap is silent');
  assert.ok(peak(x, gap2 + 400 * FPMS, x.length) > 3000, 'the Xơ Đăng phrase is there');
});

async function rejects(p: Promise<unknown>, code: ErrorCode, words: RegExp): Promise<Record<string, unknown>> {
  const e = await rejectedCode(p, code);
  assert.match(e.message, words);
  return e.context;
}

test('missing recordings are named by language and phrase, before anything is synthesised', async () => {
  let calls = 0;
  const counting: TtsEngine = { name: 'counting', synthesize: (t, o) => (calls++, espeak.synthesize(t, o)) };
  const ctx = await rejects(assembleTemplate(bank, 'gia-rai', {}, counting), 'LOA_E_AUDIO_INVALID', /no recording of "evacuate-now" in language giarai, "lu-quet" in language bahnar/);
  assert.equal(ctx.missing, [{ lang: 'giarai', phrase: 'evacuate-now' }, { lang: 'bahnar', phrase: 'lu-quet' }]);
  assert.is(calls, 0);
});

test('a recording ffmpeg cannot read is named', async () => {
  await rejects(assembleTemplate(bank, 'broken', {}, espeak), 'LOA_E_AUDIO_INVALID', /recording of "broken" in language bahnar .*cannot be decoded/);
});

test('missing variables, unknown and unsafe template ids', async () => {
  await rejects(assembleTemplate(bank, 'so-tan', { village: 'thôn 3' }, espeak), 'LOA_E_CONFIG_INVALID', /no value for \{place\}/);
  await rejects(assembleTemplate(bank, 'lu-quet', vars, espeak), 'LOA_E_CONFIG_INVALID', /template lu-quet: cannot read .*lu-quet\.json/);
  await rejects(assembleTemplate(bank, '../templates/so-tan', vars, espeak), 'LOA_E_CONFIG_INVALID', /lower-case ASCII slug/);
});

test.run();
