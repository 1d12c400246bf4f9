import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Gain, RAMP_FRAMES, volumeToGain } from '../../audio/gain.js';
import { ALERT_HZ, alertTone, CHIME_NOTES, chime, pcmStream, sine, siren, SIREN } from '../../audio/tones.js';
import { PCM, pcmBytes } from '../../audio/types.js';
import { peak, samplesOf, toneLevel } from '../helpers/audio.js';

// Generated tones and the software volume: pure PCM arithmetic, no device.

const FPMS = PCM.sampleRate / 1000;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function through(gain: Gain, chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  gain.on('data', (d: Buffer) => out.push(d));
  const done = new Promise((r) => gain.on('end', r));
  Readable.from(chunks).pipe(gain);
  await done;
  return Buffer.concat(out);
}

test('the tones are the same bytes on every run (devices and tests compare them)', () => {
  // Pinned: a change to a tone must be deliberate, since every device plays it.
  assert.is(sha(chime()), 'fbee59ec7a7fd60e0db02114ccb96909618732a5023d92edab41e0aef20bbaa2');
  assert.is(sha(alertTone()), '5d5c2d9eea5a0cb84039aaf5b01c72b3bf22d272f2d81f14695dcec8f7deef87');
  assert.is(sha(siren(5000)), 'ac1a9758711b9c92a7dd731605b25bd9e54b6ae802eca799bf31073e4cd43060');
  assert.ok(siren(1234).equals(siren(1234)));
});

test('the chime: ~3 s, three notes in turn, no clipping', () => {
  const c = chime();
  assert.is(c.length, pcmBytes(3000));
  const x = samplesOf(c);
  assert.ok(peak(x) < 23_170, `peak ${peak(x)} is below −3 dBFS`);
  for (const [i, n] of CHIME_NOTES.entries()) {
    const at = (n.atMs + 30) * FPMS;
    assert.ok(toneLevel(x, at, 100 * FPMS, n.hz) > 0.1, `note ${i} (${n.hz} Hz) sounds at ${n.atMs} ms`);
    const next = CHIME_NOTES[i + 1];
    if (next) assert.ok(toneLevel(x, 30 * FPMS + n.atMs * FPMS, 100 * FPMS, next.hz) < 0.02, `note ${i + 1} not before its time`);
  }
  assert.ok(peak(x, x.length - 10) < 100, 'fades out to silence');
});

test('the alert tone: ~3 s of 853 + 960 Hz together', () => {
  const x = samplesOf(alertTone());
  assert.is(x.length, 3000 * FPMS);
  for (const hz of ALERT_HZ) assert.ok(toneLevel(x, 500 * FPMS, 500 * FPMS, hz) > 0.3, `${hz} Hz`);
  assert.ok(toneLevel(x, 500 * FPMS, 500 * FPMS, 440) < 0.01);
  assert.ok(peak(x) < 32_767 * 0.71);
  assert.is(x[0], 0);
});

test('the siren rises and falls between its low and high pitch, for the length asked', () => {
  const x = samplesOf(siren(4000));
  assert.is(x.length, 4000 * FPMS);
  const win = 20 * FPMS;
  const at = (ms: number, hz: number) => toneLevel(x, ms * FPMS - win / 2, win, hz);
  assert.ok(at(100, SIREN.lowHz) > 0.3, 'low at the start');
  assert.ok(at(SIREN.cycleMs / 2, SIREN.highHz) > 0.3, 'high at half a cycle');
  assert.ok(at(SIREN.cycleMs / 2, SIREN.lowHz) < 0.05);
  assert.ok(at(SIREN.cycleMs - 100, SIREN.lowHz) > 0.3, 'low again after a cycle');
});

test('volume curve: cubic, 0 is silence, 100 is unity, monotonic, clamped', () => {
  assert.is(volumeToGain(0), 0);
  assert.is(volumeToGain(100), 1);
  assert.is(volumeToGain(50), 0.125);
  assert.is(volumeToGain(-5), 0);
  assert.is(volumeToGain(250), 1);
  assert.is(volumeToGain(Number.NaN), 0);
  for (let v = 1; v <= 100; v++) assert.ok(volumeToGain(v) > volumeToGain(v - 1));
  // Roughly dB-linear over the useful range: 50 ≈ −18 dB.
  assert.ok(Math.abs(20 * Math.log10(volumeToGain(50)) + 18) < 0.1);
});

test('gain at 100 passes bytes unchanged; at 0 gives silence; at 50 scales by 1/8', async () => {
  const tone = sine(440, 200, 0.9);
  assert.ok((await through(new Gain(100), [tone])).equals(tone));
  const zero = await through(new Gain(0), [tone]);
  assert.is(zero.length, tone.length);
  assert.ok(zero.every((b) => b === 0));
  const half = samplesOf(await through(new Gain(50), [tone]));
  const src = samplesOf(tone);
  for (let i = 0; i < src.length; i += 97) assert.ok(Math.abs(half[i]! - src[i]! / 8) <= 0.5, `sample ${i}`);
});

test('gain never wraps full-scale samples and does not alter its input buffer', async () => {
  const fs = Buffer.alloc(8);
  fs.writeInt16LE(32767, 0);
  fs.writeInt16LE(-32768, 2);
  fs.writeInt16LE(32767, 4);
  fs.writeInt16LE(-32768, 6);
  const copy = Buffer.from(fs);
  const g = new Gain(99);
  const out = samplesOf(await through(g, [fs]));
  assert.ok(out[0]! > 0 && out[1]! < 0 && out[0]! <= 32767 && out[1]! >= -32768);
  assert.ok(fs.equals(copy), 'input untouched');
});

test('samples split across chunk boundaries (odd byte counts) come out as if whole', async () => {
  const tone = sine(440, 100, 0.8);
  const whole = await through(new Gain(70), [tone]);
  const pieces = [tone.subarray(0, 333), tone.subarray(333, 1001), tone.subarray(1001, 1002), tone.subarray(1002)];
  assert.ok((await through(new Gain(70), pieces)).equals(whole));
});

test('setVolume while playing ramps to the new gain over 10 ms, without a jump', async () => {
  const g = new Gain(100);
  const dc = Buffer.alloc(pcmBytes(100));
  for (let i = 0; i < dc.length; i += 2) dc.writeInt16LE(16000, i);
  const out: Buffer[] = [];
  g.on('data', (d: Buffer) => out.push(d));
  g.write(dc.subarray(0, pcmBytes(50)));
  g.setVolume(50);
  assert.is(g.volume, 50);
  g.end(dc.subarray(pcmBytes(50)));
  await new Promise((r) => g.on('end', r));
  const x = samplesOf(Buffer.concat(out));
  const cut = 50 * FPMS;
  assert.is(x[cut - 1], 16000, 'unity before the change');
  assert.is(x[cut + RAMP_FRAMES + 5], 2000, 'the new gain after the ramp');
  let maxStep = 0;
  for (let i = cut; i < cut + RAMP_FRAMES; i++) maxStep = Math.max(maxStep, Math.abs(x[i + 1]! - x[i]!));
  assert.ok(maxStep < 100, `largest step ${maxStep} during the ramp`);
});

test('pcmStream hands a buffer over in 20 ms chunks, all of it', async () => {
  const tone = chime();
  const parts: Buffer[] = [];
  for await (const c of pcmStream(tone)) parts.push(c as Buffer);
  assert.is(parts[0]!.length, pcmBytes(20));
  assert.ok(Buffer.concat(parts).equals(tone));
});

test.run();
