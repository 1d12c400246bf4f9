import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { decode } from '../../audio/decode.js';
import { sine } from '../../audio/tones.js';
import { PCM, pcmBytes } from '../../audio/types.js';
import { wavHeader } from '../../audio/wav-sink.js';
import { samplesOf, toneLevel } from '../helpers/audio.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';

// The decoder with the real ffmpeg: formats an asset can arrive in, resuming
// from an offset, failures as stream errors, and kill().

const dir = tempDir('loa-decode-');
const FPMS = PCM.sampleRate / 1000;
// 1 s at 440 Hz then 1 s at 880 Hz: where a decode starts is audible.
const twoPart = Buffer.concat([sine(440, 1000), sine(880, 1000)]);
const wav = join(dir, 'two.wav');
writeFileSync(wav, Buffer.concat([wavHeader(twoPart.length), twoPart]));
function encode(out: string, args: string[]): string {
  const r = spawnSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', wav, ...args, out], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return out;
}
const ogg = encode(join(dir, 'two.ogg'), ['-c:a', 'libopus', '-b:a', '32k']);
const mp3 = encode(join(dir, 'two.mp3'), ['-c:a', 'libmp3lame', '-b:a', '64k']);

test.after(() => cleanupTempDirs());

function collect(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.on('error', reject);
  });
}

test('a 48 kHz WAV decodes to exactly its samples; from an offset, to exactly the rest', async () => {
  assert.ok((await collect(decode(wav).stream)).equals(twoPart));
  const rest = await collect(decode(wav, { offsetMs: 1250 }).stream);
  assert.ok(rest.equals(twoPart.subarray(pcmBytes(1250))), `${rest.length} bytes from 1250 ms`);
});

for (const [name, file] of [['Ogg/Opus', ogg], ['MP3', mp3]] as const) {
  test(`${name} decodes to 48 kHz mono PCM of the right length and pitch, and resumes at an offset`, async () => {
    const all = samplesOf(await collect(decode(file).stream));
    assert.ok(Math.abs(all.length / FPMS - 2000) < 60, `${all.length / FPMS} ms`);
    assert.ok(toneLevel(all, 300 * FPMS, 400 * FPMS, 440) > 0.3, '440 Hz in the first second');
    assert.ok(toneLevel(all, 1300 * FPMS, 400 * FPMS, 880) > 0.3, '880 Hz in the second');
    const from = samplesOf(await collect(decode(file, { offsetMs: 1200 }).stream));
    assert.ok(Math.abs(from.length / FPMS - 800) < 60, `${from.length / FPMS} ms from 1200 ms`);
    // (An MP3 decoder restarting mid-file mutes its first frames, ~50 ms: look just after.)
    assert.ok(toneLevel(from, 100 * FPMS, 100 * FPMS, 880) > 0.3, 'starts in the second part');
    assert.ok(toneLevel(from, 0, 200 * FPMS, 440) < 0.05, 'nothing of the first part');
  });
}

test('a missing file fails the stream with a clear LOA_E_AUDIO_INVALID error', async () => {
  const missing = join(dir, 'nope.ogg');
  const err = (await collect(decode(missing).stream).then(() => null, (e: unknown) => e)) as { code?: string; message: string } | null;
  assert.ok(err, 'the stream errored instead of ending');
  assert.is(err!.code, 'LOA_E_AUDIO_INVALID');
  assert.match(err!.message, `cannot decode ${missing}`);
  assert.match(err!.message, 'No such file or directory');
});

test('a corrupt file fails the stream; it never just ends short', async () => {
  const bad = join(dir, 'bad.ogg');
  writeFileSync(bad, Buffer.concat([Buffer.from('OggS'), Buffer.alloc(5000, 0x5a)]));
  const err = (await collect(decode(bad, { offsetMs: 500 }).stream).then(() => null, (e: unknown) => e)) as Error | null;
  assert.ok(err);
  assert.match(err!.message, `cannot decode ${bad} from 500 ms: `);
  assert.ok(err!.message.length > `cannot decode ${bad} from 500 ms: `.length + 3, 'ffmpeg\'s reason is included');
});

/** pids of running ffmpeg processes reading `file`. */
function ffmpegsReading(file: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('ffmpeg') && cmd.includes(file)) pids.push(Number(p));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

test('kill() stops ffmpeg at once and ends the stream without an error', async () => {
  const long = join(dir, 'long.wav');
  const pcm = Buffer.alloc(pcmBytes(60_000));
  writeFileSync(long, Buffer.concat([wavHeader(pcm.length), pcm]));
  const d = decode(long);
  let errored: unknown = null;
  d.stream.on('error', (e) => (errored = e));
  d.stream.pause();
  await waitFor(() => ffmpegsReading(long).length === 1, { what: 'ffmpeg running' });
  d.kill();
  d.kill(); // idempotent
  await waitFor(() => ffmpegsReading(long).length === 0, { timeoutMs: 1000, what: 'ffmpeg gone' });
  assert.ok(d.stream.destroyed);
  await new Promise((r) => setTimeout(r, 50));
  assert.is(errored, null);
});

test('destroying the stream (what a sink does on preemption) kills ffmpeg too', async () => {
  const long = join(dir, 'long2.wav');
  const pcm = Buffer.alloc(pcmBytes(60_000));
  writeFileSync(long, Buffer.concat([wavHeader(pcm.length), pcm]));
  const d = decode(long);
  d.stream.pause();
  await waitFor(() => ffmpegsReading(long).length === 1, { what: 'ffmpeg running' });
  d.stream.destroy();
  await waitFor(() => ffmpegsReading(long).length === 0, { timeoutMs: 1000, what: 'ffmpeg gone' });
});

test.run();
