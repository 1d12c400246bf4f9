import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { AssetLibrary } from '../../provisioning/library.js';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

// The loudness promise (−16 LUFS integrated, −1.5 dBTP true peak) held by the
// file the library STORES, as a device decodes it (Opus at 48 kHz), measured
// here by ffmpeg's ebur128 with its own regexes — not by the ingest's own
// figures and not before the encoder, whose overshoot on impulsive speech
// is what the promise used to miss (−0.5 to −0.9 dBTP stored).

const dir = tempDir('loa-loud-');
const at = (name: string) => join(dir, name);
function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.is(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout + r.stderr;
}
const ffmpeg = (args: string[]) => run('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args]);

/** Integrated loudness and true peak of a file decoded at 48 kHz. */
function meter(file: string): { I: number; TP: number } {
  const out = run('ffmpeg', ['-nostdin', '-hide_banner', '-nostats', '-i', file, '-ar', '48000', '-af', 'ebur128=peak=true', '-f', 'null', '-']);
  const summary = out.slice(out.lastIndexOf('Summary:'));
  const num = (re: RegExp) => Number(re.exec(summary)?.[1]);
  return { I: num(/I:\s+(-?[\d.]+) LUFS/), TP: num(/Peak:\s+(-?[\d.]+) dBFS/) };
}

// A loud recording that would clip: espeak-ng's Vietnamese speech (peaks
// near full scale, a glottal pulse every period) 5 dB up, kept in float so
// each format clips or not as it would for an operator's hot recording.
run('espeak-ng', ['-v', 'vi', '-w', at('tts.wav'), 'Thông báo của Ủy ban nhân dân xã. Sáng mai, bà con thôn ba họp tại nhà văn hóa.']);
ffmpeg(['-i', at('tts.wav'), '-af', 'volume=5dB', '-ar', '44100', '-ac', '2', '-c:a', 'pcm_f32le', at('loud.wav')]);
const UPLOADS: [file: string, codec: string[]][] = [
  ['loud.mp3', ['-c:a', 'libmp3lame', '-b:a', '128k']],
  ['loud.ogg', ['-c:a', 'libvorbis']],
  ['loud.m4a', ['-c:a', 'aac', '-b:a', '96k']],
  ['loud.flac', ['-c:a', 'flac']],
  ['loud-ulaw.wav', ['-ar', '8000', '-ac', '1', '-c:a', 'pcm_mulaw']],
];
for (const [file, codec] of UPLOADS) ffmpeg(['-i', at('loud.wav'), ...codec, at(file)]);

let p: TestProvince;
let library: AssetLibrary;
test.before(async () => {
  p = await makeProvince({ devices: [], accounts: [] });
  library = new AssetLibrary(p.registry);
});
test.after(() => {
  p.registry.close();
  cleanupTempDirs();
});

test('the loud source is loud: over full scale, and over the ceiling once at -16 LUFS', () => {
  const m = meter(at('loud.wav'));
  assert.ok(m.TP > 0, `source true peak ${m.TP} dBTP`);
  assert.ok(m.TP - (m.I + 16) > -1.5, 'one gain to -16 LUFS would leave peaks over -1.5 dBTP');
});

for (const [file] of UPLOADS) {
  test(`${file}: the stored file decodes at −16 ±1 LUFS with a true peak at or under −1.5 dBTP`, async () => {
    const asset = await library.importAudio(at(file), { title: file, actor: 'test' });
    const m = meter(library.path(asset.sha256));
    assert.ok(m.TP <= -1.5, `${file}: stored true peak ${m.TP} dBTP`);
    assert.ok(Math.abs(m.I + 16) <= 1, `${file}: stored integrated loudness ${m.I} LUFS`);
  });
}

test.run();
