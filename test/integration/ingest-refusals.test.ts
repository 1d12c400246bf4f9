import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ingest, type IngestOptions } from '../../audio/ingest.js';
import { defaultTools, runPass } from '../../audio/ingest-ffmpeg.js';
import { LoaError } from '../../protocol/errors.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

// What the ingest refuses, with the real ffmpeg: each file is refused with a
// specific message and reason, leaves nothing in outDir, and what ffprobe
// can tell is refused before anything is decoded.

const dir = tempDir('loa-ingest-bad-');
const at = (name: string) => join(dir, name);
function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.is(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}
const ffmpeg = (args: string[]) => run('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args]);
const head = (from: string, to: string, bytes: number) => writeFileSync(at(to), readFileSync(at(from)).subarray(0, bytes));
const half = (from: string, to: string) => head(from, to, Math.floor(readFileSync(at(from)).length / 2));

// An ffmpeg that logs how it was called, so a test can tell whether anything was decoded or encoded.
const calls = at('ffmpeg-calls.log');
const recordingFfmpeg = at('ffmpeg-recording.sh');
writeFileSync(recordingFfmpeg, `#!/bin/sh\necho "$*" >> '${calls}'\nexec ffmpeg "$@"\n`);
chmodSync(recordingFfmpeg, 0o755);
const ffmpegCalls = () => {
  try {
    return readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

run('espeak-ng', ['-v', 'vi', '-w', at('speech.wav'), 'Kính thưa bà con, đây là Đài truyền thanh xã. Hôm nay trời nắng, nhiệt độ ba mươi hai độ.']);
ffmpeg(['-i', at('speech.wav'), '-c:a', 'libmp3lame', '-b:a', '64k', at('speech.mp3')]);
ffmpeg(['-i', at('speech.wav'), '-c:a', 'flac', at('speech.flac')]);
ffmpeg(['-i', at('speech.wav'), '-c:a', 'aac', at('speech.m4a')]);
writeFileSync(at('empty.mp3'), Buffer.alloc(0));
// Cut in half: MP3 and FLAC still decode up to the cut, but they declare
// their full length (Xing header, STREAMINFO); an M4A written without
// faststart loses its index (moov), which comes last.
half('speech.mp3', 'half.mp3');
half('speech.flac', 'half.flac');
half('speech.m4a', 'cut.m4a');
head('speech.wav', 'header.wav', 44);
head('speech.mp3', 'header.mp3', 700);
// Bytes from a fixed xorshift sequence: noise, the same on every run.
const noise = Buffer.alloc(4096);
for (let i = 0, x = 0x9e3779b9; i < noise.length; i++) {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  noise[i] = x & 0xff;
}
writeFileSync(at('random.mp3'), noise);
writeFileSync(at('letter.mp3'), '%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
ffmpeg(['-f', 'lavfi', '-i', 'testsrc=s=64x64', '-frames:v', '1', '-f', 'image2', '-c:v', 'png', at('picture.mp3')]);
ffmpeg(['-f', 'lavfi', '-i', 'testsrc=s=64x64', '-frames:v', '1', '-f', 'image2', '-c:v', 'mjpeg', at('photo.mp3')]);
ffmpeg(['-f', 'lavfi', '-i', 'testsrc=s=160x120:r=10:d=2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', at('film.mp4')]);
ffmpeg(['-f', 'lavfi', '-i', 'anullsrc=r=44100:cl=stereo', '-t', '4', at('silence.wav')]);
ffmpeg(['-f', 'lavfi', '-i', 'sine=f=880:d=0.2', at('blip.wav')]);
mkdirSync(at('folder.mp3'));

test.after(() => cleanupTempDirs());

interface Case {
  file: string;
  reason: string;
  message: RegExp;
  /** Refused on what ffprobe says, before any decoding. */
  early?: boolean;
  opts?: Partial<IngestOptions>;
}

const CASES: Case[] = [
  { file: 'empty.mp3', reason: 'empty', message: /^the file is empty$/, early: true },
  { file: 'half.mp3', reason: 'truncated', message: /^the file is truncated or damaged: it declares 5\.\d s of audio but only 2\.\d s can be decoded/ },
  { file: 'half.flac', reason: 'truncated', message: /^the file is truncated or damaged: it declares 5\.\d s of audio but only 2\.\d s can be decoded \(ffmpeg: .+\)$/ },
  { file: 'cut.m4a', reason: 'damaged', message: /^the file is damaged or truncated: moov atom not found$/, early: true },
  { file: 'header.wav', reason: 'truncated', message: /^the file is truncated: it holds no audio that can be decoded/ },
  { file: 'header.mp3', reason: 'truncated', message: /^the file is truncated or damaged: it declares 5\.\d s of audio but only 0\.0 s can be decoded/ },
  { file: 'random.mp3', reason: 'not-audio', message: /^not an audio file: ffmpeg does not recognise its content \(.+\)$/, early: true },
  { file: 'letter.mp3', reason: 'not-audio', message: /^not an audio file: PDF document$/, early: true },
  { file: 'picture.mp3', reason: 'not-audio', message: /^not an audio file: PNG image$/, early: true },
  { file: 'photo.mp3', reason: 'not-audio', message: /^not an audio file: JPEG image$/, early: true },
  { file: 'film.mp4', reason: 'no-audio-stream', message: /^the file has no audio stream \(only video: h264\)$/, early: true },
  { file: 'silence.wav', reason: 'silent', message: /^the recording is silent \(integrated loudness: no sound at all; anything under -60 LUFS is taken as silence\)$/ },
  { file: 'blip.wav', reason: 'too-short', message: /^the recording is only 0\.2 s long/ },
  { file: 'speech.wav', reason: 'too-long', message: /^the recording is 5\.\d s long; the limit is 2\.0 s$/, early: true, opts: { maxDurationMs: 2000 } },
  { file: 'missing.mp3', reason: 'unreadable', message: /^cannot read the file: no such file$/, early: true },
  { file: 'folder.mp3', reason: 'unreadable', message: /^cannot read the file: not a regular file$/, early: true },
];

for (const c of CASES) {
  test(`${c.file}: refused (${c.reason}), nothing left in outDir`, async () => {
    const outDir = tempDir('loa-ingest-out-');
    writeFileSync(calls, '');
    const err = await ingest(at(c.file), { outDir, tools: { ffmpeg: recordingFfmpeg }, ...c.opts }).then(
      (r) => assert.unreachable(`accepted: ${JSON.stringify(r)}`),
      (e: unknown) => e,
    );
    assert.instance(err, LoaError);
    const e = err as LoaError;
    assert.is(e.code, 'LOA_E_AUDIO_INVALID');
    assert.is(e.context.reason, c.reason, e.message);
    assert.match(e.message, c.message);
    assert.is(e.context.file, at(c.file));
    assert.equal(readdirSync(outDir), []);
    if (c.early) assert.equal(ffmpegCalls(), [], 'ffmpeg never ran');
    else assert.not.ok(ffmpegCalls().some((a) => a.includes('libopus')), 'nothing was encoded');
  });
}

test('a failure while encoding removes the partly written asset', async () => {
  // An ffmpeg whose libopus fails: by then the output file exists.
  const broken = at('ffmpeg-no-opus.sh');
  writeFileSync(broken, `#!/bin/sh\ncase "$*" in *libopus*) cat > /dev/null; echo "[error] Unknown encoder 'libopus'" >&2; exit 1;; esac\nexec ffmpeg "$@"\n`);
  chmodSync(broken, 0o755);
  const outDir = tempDir('loa-ingest-out-');
  const err = (await ingest(at('speech.mp3'), { outDir, tools: { ffmpeg: broken } }).catch((e: unknown) => e)) as LoaError;
  assert.instance(err, LoaError);
  assert.is(err.context.reason, 'tool');
  assert.match(err.message, "libopus could not encode: Unknown encoder 'libopus'");
  assert.equal(readdirSync(outDir), []);
});

test('without ffmpeg the error says so', async () => {
  const outDir = tempDir('loa-ingest-out-');
  const err = (await ingest(at('speech.mp3'), { outDir, tools: { ffprobe: at('no-such-ffprobe') } }).catch((e: unknown) => e)) as LoaError;
  assert.is(err.code, 'LOA_E_AUDIO_INVALID');
  assert.is(err.context.reason, 'tool');
  assert.match(err.message, /cannot run .*no-such-ffprobe: spawn .* ENOENT \(is ffmpeg installed\?\)/);
  assert.equal(readdirSync(outDir), []);
});

test('an output directory that does not exist is a LOA_E_DATA_DIR error', async () => {
  const err = (await ingest(at('speech.mp3'), { outDir: at('nowhere') }).catch((e: unknown) => e)) as LoaError;
  assert.is(err.code, 'LOA_E_DATA_DIR');
});

test('a target loudnorm cannot take is a configuration error', async () => {
  const err = (await ingest(at('speech.mp3'), { outDir: tempDir('loa-ingest-out-'), targetTP: 2 }).catch((e: unknown) => e)) as LoaError;
  assert.is(err.code, 'LOA_E_CONFIG_INVALID');
});

test('a stream whose length nobody declares is stopped once it passes the limit', async () => {
  // The safety net behind the probe's length check: an endless source.
  const r = await runPass(defaultTools(), ['-f', 'lavfi', '-i', 'sine=f=440:r=48000', '-f', 'null', '-'], { totalUs: null, limitUs: 3_000_000 });
  assert.ok(r.stoppedAtLimit);
  assert.ok(r.outTimeUs > 3_000_000, `${r.outTimeUs} µs`);
});

test.run();
