import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../cli/loa.js';
import { parseWav } from '../../audio/tts/wav.js';
import { useProvinceBroker } from '../helpers/broker.js';
import { tempDir } from '../helpers/tmp.js';

// `loa doctor` against a real broker (good credentials, wrong ones, none
// listening) and `loa tts` into WAV and Opus files that ffprobe decodes.

const fx = useProvinceBroker(test);

async function loa(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The device's bundle with this broker and password, and a data directory of its own. */
function bundle(over: { url?: string; password?: string } = {}): string {
  const b = fx.p.devices.t3a!.bundle;
  const file = join(tempDir('loa-doctor-'), 'bundle.json');
  writeFileSync(file, JSON.stringify({ ...b, broker: { ...b.broker, urls: [over.url ?? fx.b.url], password: over.password ?? b.broker.password }, data: join(tempDir('loa-doctor-data-'), 't3a'), agent: { audio: { output: 'null' }, relay: { driver: 'noop' } } }));
  return file;
}

const line = (out: string, name: RegExp) => out.split('\n').find((l) => name.test(l)) ?? '';

test('doctor: the device credentials accepted by the real broker print ok for the broker', async () => {
  const r = await loa('doctor', '--config', bundle());
  assert.match(line(r.out, /Máy chủ MQTT tỉnh/), /^ok\s+Máy chủ MQTT tỉnh: mqtt:\/\/127\.0\.0\.1:\d+: kết nối được/);
  assert.match(line(r.out, /Ổ đĩa/), /^ok/);
  // The sound goes nowhere and no relay is set: warnings with the fix, not failures.
  assert.match(line(r.out, /Âm thanh/), /^warn/);
  assert.match(r.out, /Cách sửa: đặt agent\.audio\.output = "alsa"/);
  assert.ok(r.out === r.out.normalize('NFC'));
  const en = await loa('doctor', '--config', bundle(), '--lang', 'en');
  assert.match(line(en.out, /Province broker/), /^ok\s+Province broker: .*reachable, the device's credentials accepted/);
  assert.not.match(en.out, /Máy chủ/);
});

test('doctor: a wrong password is a fail saying to rotate the bundle; exit code 1', async () => {
  const r = await loa('doctor', '--config', bundle({ password: 'a-wrong-secret-of-32-characters!' }));
  assert.is(r.code, 1, r.out);
  assert.match(line(r.out, /Máy chủ MQTT tỉnh/), /^FAIL\s+Máy chủ MQTT tỉnh: .*từ chối tài khoản của cụm loa \(mã 4\)/);
  assert.match(r.out, /Cách sửa: .*loa provision device rotate ID --out FILE/);
});

test('doctor: no broker listening is a fail naming the address and the link to check; exit code 1', async () => {
  const r = await loa('doctor', '--config', bundle({ url: 'mqtt://127.0.0.1:1' }), '--timeout', '3', '--lang', 'en');
  assert.is(r.code, 1, r.out);
  assert.match(line(r.out, /Province broker/), /^FAIL\s+Province broker: mqtt:\/\/127\.0\.0\.1:1: unreachable \(.*ECONNREFUSED/);
  assert.match(r.out, /Fix: check the 3G\/4G link and the broker address/);
});

const probeSeconds = (file: string) => Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim());

test('tts: text into a WAV and an Opus file that decode, a longer text lasting longer', async () => {
  const dir = tempDir('loa-tts-cli-');
  const short = join(dir, 'ngan.wav');
  const long = join(dir, 'dai.ogg');
  const a = await loa('tts', 'Xin chào bà con.', '--out', short);
  assert.is(a.code, 0, a.err);
  const wav = parseWav(readFileSync(short));
  assert.ok(wav.durationMs > 400 && wav.durationMs < 5000, `${wav.durationMs} ms for four words`);
  const b = await loa('tts', 'Sáng mai lúc 7 giờ 30, ngày 26/11/2026, họp thôn tại nhà văn hoá để bàn việc phòng chống lũ; bà con nhớ đến đúng giờ.', '--out', long);
  assert.is(b.code, 0, b.err);
  assert.match(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', long], { encoding: 'utf8' }), /opus/);
  const longS = probeSeconds(long);
  assert.ok(longS > wav.durationMs / 1000 * 2 && longS < 30, `${longS} s for the long text against ${wav.durationMs} ms for the short one`);
  // Numbers and dates are read out: the spoken form is longer than the digits.
  const digits = join(dir, 'so.wav');
  assert.is((await loa('tts', '26/11/2026', '--out', digits)).code, 0);
  assert.ok(parseWav(readFileSync(digits)).durationMs > 1500, 'the date read as words');
});

test('tts: a file type it cannot write is refused with the ones it can', async () => {
  const r = await loa('tts', 'Xin chào', '--out', join(tempDir(), 'x.mp3'));
  assert.is(r.code, 2);
  assert.match(r.err, /--out must end in \.wav, \.ogg or \.opus/);
});

test.run();
