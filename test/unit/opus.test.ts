import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OPUS_FRAME_MS, OPUS_FRAME_SAMPLES, OpusDecoder, OpusEncoder, opusMemoryBytes } from '../../audio/opus.js';
import { sine } from '../../audio/tones.js';
import { isLoaError } from '../../protocol/errors.js';
import { samplesOf, toneLevel } from '../helpers/audio.js';
import { thrownCode } from '../helpers/errors.js';

// The live codec through libopus' wasm exports: a tone survives 24 kbit/s,
// a lost frame is concealed or rebuilt from the next packet's FEC, bad input
// is a coded error, and closed codecs give their wasm memory back.

const N = OPUS_FRAME_SAMPLES;
const db = (ratio: number): number => 20 * Math.log10(ratio);
/** 1 s of a sine at half scale, as samples. */
const tone = (hz: number): Int16Array => samplesOf(sine(hz, 1000, 0.5));
const frameOf = (x: Int16Array, f: number): Int16Array => x.subarray(f * N, (f + 1) * N);
const levelOf = (x: Int16Array, hz: number): number => toneLevel(x, 0, x.length, hz);
/** The frames of `x` encoded one by one (50 for 1 s). */
function encodeAll(x: Int16Array, enc: OpusEncoder): Buffer[] {
  const out: Buffer[] = [];
  for (let f = 0; f * N < x.length; f++) out.push(enc.encode(frameOf(x, f)));
  return out;
}

test('frames are 20 ms of 48 kHz mono', () => {
  assert.is(OPUS_FRAME_MS, 20);
  assert.is(OPUS_FRAME_SAMPLES, 960);
});

for (const hz of [1000, 440]) {
  test(`a ${hz} Hz tone at 24 kbit/s: small packets, the same tone out at the same level after the start-up`, () => {
    const x = tone(hz);
    const enc = new OpusEncoder();
    const dec = new OpusDecoder();
    const packets = encodeAll(x, enc);
    assert.is(packets.length, 50);
    for (const p of packets) assert.ok(p.length > 0 && p.length < 200, `packet of ${p.length} bytes`);
    const frames = packets.map((p) => dec.decode(p));
    // The fade-in and libopus' start-up make the first frame quieter; from the third on the level holds.
    for (let f = 2; f < 49; f++) {
      assert.is(frames[f]!.length, N);
      const err = db(levelOf(frames[f]!, hz) / levelOf(frameOf(x, f), hz));
      assert.ok(Math.abs(err) < 1.5, `frame ${f}: level off by ${err.toFixed(2)} dB`);
    }
    // Over 0.9 s (1.1 Hz resolution) nothing else comes near: other pitches at least 20 dB down.
    const y = new Int16Array(frames.slice(2, 47).flatMap((f) => [...f]));
    for (const other of [hz / 2, hz * 0.8, hz * 1.25, hz * 2, 3000]) {
      assert.ok(levelOf(y, hz) > 10 * levelOf(y, other), `${other} Hz (${levelOf(y, other).toFixed(4)}) not 20 dB below ${hz} Hz (${levelOf(y, hz).toFixed(4)})`);
    }
    enc.close();
    dec.close();
  });
}

test('a packet longer than 20 ms decodes to all its samples (three frames in one code-3 packet: 60 ms)', () => {
  const enc = new OpusEncoder();
  const packets = encodeAll(tone(440), enc).slice(10, 13);
  enc.close();
  const toc = packets[0]![0]!;
  assert.ok(packets.every((p) => p[0] === toc && p.length - 1 < 252), 'three frames of one configuration, each length one byte');
  // RFC 6716 3.2.5: TOC with c=3, then VBR flag + count, the lengths of all frames but the last, the frames.
  const joined = Buffer.concat([Buffer.from([(toc & 0xfc) | 3, 0x80 | 3, packets[0]!.length - 1, packets[1]!.length - 1]), ...packets.map((p) => p.subarray(1))]);
  const [one, three] = [new OpusDecoder(), new OpusDecoder()];
  const y = three.decode(joined);
  assert.is(y.length, 3 * N);
  assert.equal(y, new Int16Array(packets.flatMap((p) => [...one.decode(p)])), 'the same samples as the three packets one by one');
  one.close();
  three.close();
});

test('conceal(): exactly one frame that goes on with the tone after a voiced frame, then fades over repeats', () => {
  const x = tone(1000);
  const enc = new OpusEncoder();
  const dec = new OpusDecoder();
  for (const p of encodeAll(x, enc).slice(0, 20)) dec.decode(p);
  const levels: number[] = [];
  for (let k = 0; k < 6; k++) {
    const y = dec.conceal();
    assert.is(y.length, N);
    levels.push(levelOf(y, 1000));
  }
  assert.ok(levels[0]! > 0.1, `first concealed frame at ${levels[0]} of full scale (the tone is 0.5): not a continuation`);
  for (let k = 1; k < levels.length; k++) assert.ok(levels[k]! <= levels[k - 1]!, `concealment ${k} louder than ${k - 1}: ${levels.join(', ')}`);
  assert.ok(levels[5]! < levels[0]! / 10, `no fade over six concealments: ${levels.join(', ')}`);
  enc.close();
  dec.close();
});

/** Mean |level error| (dB, against the source) over the frames lost (every 5th), each replaced by `fill`. */
function lossError(hz: number, encOpts: ConstructorParameters<typeof OpusEncoder>[0], fill: 'conceal' | 'recover'): { errDb: number; lost: Int16Array[] } {
  const x = tone(hz);
  const enc = new OpusEncoder(encOpts);
  const packets = encodeAll(x, enc);
  enc.close();
  const dec = new OpusDecoder();
  const lost: Int16Array[] = [];
  let sum = 0;
  for (let f = 0; f < packets.length; f++) {
    if (f % 5 !== 4 || f + 1 >= packets.length) {
      dec.decode(packets[f]!);
      continue;
    }
    const y = fill === 'recover' ? dec.recover(packets[f + 1]!) : dec.conceal();
    assert.is(y.length, N, `${fill}() of frame ${f}`);
    lost.push(y);
    sum += Math.abs(db(Math.max(1e-6, levelOf(y, hz)) / levelOf(frameOf(x, f), hz)));
  }
  dec.close();
  return { errDb: sum / lost.length, lost };
}

for (const hz of [1000, 440]) {
  test(`FEC at 20 % expected loss, every 5th packet lost (${hz} Hz): recover(next) is closer to the source than conceal()`, () => {
    const opts = { fec: true, expectedLossPct: 20 };
    const fec = lossError(hz, opts, 'recover');
    const plc = lossError(hz, opts, 'conceal');
    assert.is(fec.lost.length, 9);
    assert.ok(fec.errDb <= plc.errDb, `FEC ${fec.errDb.toFixed(2)} dB vs PLC ${plc.errDb.toFixed(2)} dB`);
    assert.ok(fec.errDb < 1.5, `the rebuilt frames are ${fec.errDb.toFixed(2)} dB off: no LBRR used`);
  });
}

test('recover(next) without FEC in the next packet is the concealment, sample for sample', () => {
  const plc = lossError(1000, { fec: false }, 'conceal');
  const fec = lossError(1000, { fec: false }, 'recover');
  assert.equal(fec.lost, plc.lost);
});

test('setExpectedLoss() retunes FEC: at 0 % the next packets carry none, and recover() is the concealment', () => {
  const x = tone(1000);
  const enc = new OpusEncoder({ fec: true, expectedLossPct: 20 });
  const at20 = encodeAll(x, enc);
  enc.setExpectedLoss(0);
  const at0 = encodeAll(x, enc);
  enc.close();
  /** Frame `f` lost: what recover(next) and conceal() give from the same decoder state. */
  const fill = (packets: Buffer[], f: number): { recovered: Int16Array; concealed: Int16Array } => {
    const [a, b] = [new OpusDecoder(), new OpusDecoder()];
    for (const p of packets.slice(0, f)) a.decode(p), b.decode(p);
    const out = { recovered: a.recover(packets[f + 1]!), concealed: b.conceal() };
    a.close();
    b.close();
    return out;
  };
  const lossy = fill(at20, 20);
  assert.ok(Math.abs(db(levelOf(lossy.recovered, 1000) / 0.5)) < 1.5, 'LBRR at 20 %');
  assert.not.equal(lossy.recovered, lossy.concealed);
  const clean = fill(at0, 20);
  assert.equal(clean.recovered, clean.concealed, 'no LBRR at 0 %');
});

test('bad packets are LOA_E_OPUS with libopus\' reason, never a crash; the decoder goes on', () => {
  const dec = new OpusDecoder();
  const bad = [
    [0xfb, 0x00], // code 3 with a frame count of 0
    [0x49, 1, 2, 3], // code 1 (two equal frames) over an odd number of bytes
    [0x4a, 200, 1, 2, 3], // code 2 whose first frame claims 200 bytes of 3
  ];
  for (const b of bad) {
    const e = thrownCode(() => dec.decode(Buffer.from(b)), 'LOA_E_OPUS');
    assert.match(e.message, /opus_decode failed: corrupted stream/);
    assert.is(e.context.reason, 'corrupted stream');
  }
  assert.match(thrownCode(() => dec.decode(Buffer.alloc(0)), 'LOA_E_OPUS').message, /0 bytes/);
  assert.match(thrownCode(() => dec.decode(Buffer.alloc(5000)), 'LOA_E_OPUS').message, /5000 bytes/);
  let refused = 0;
  for (let i = 0; i < 2000; i++) {
    try {
      const y = dec.decode(randomBytes(1 + (i % 400)));
      assert.ok(y.length % 120 === 0 && y.length <= 6 * N, `${y.length} samples from random bytes`);
    } catch (e) {
      assert.ok(isLoaError(e, 'LOA_E_OPUS'), `random bytes: ${String(e)}`);
      refused++;
    }
  }
  assert.ok(refused > 100, `only ${refused} of 2000 random packets refused`);
  const enc = new OpusEncoder();
  assert.is(dec.decode(enc.encode(frameOf(tone(440), 5))).length, N);
  enc.close();
  dec.close();
});

test('encode() takes exactly 960 samples; options out of range are refused', () => {
  const enc = new OpusEncoder();
  for (const n of [0, 959, 961, 1920]) {
    const e = thrownCode(() => enc.encode(new Int16Array(n)), 'LOA_E_OPUS');
    assert.is(e.context.reason, 'pcm-length');
    assert.match(e.message, new RegExp(`exactly 960 samples.*got ${n}$`));
  }
  assert.ok(enc.encode(new Int16Array(N)).length > 0);
  for (const pct of [-1, 101, 2.5]) thrownCode(() => enc.setExpectedLoss(pct), 'LOA_E_OPUS');
  enc.close();
  for (const bad of [{ bitrate: 0 }, { bitrate: 1e9 }, { expectedLossPct: 200 }]) thrownCode(() => new OpusEncoder(bad), 'LOA_E_OPUS');
});

test('after close() every call throws LOA_E_OPUS; close() again is a no-op', () => {
  const enc = new OpusEncoder();
  const dec = new OpusDecoder();
  const p = enc.encode(new Int16Array(N));
  enc.close();
  dec.close();
  enc.close();
  dec.close();
  const calls: Array<() => unknown> = [() => enc.encode(new Int16Array(N)), () => enc.setExpectedLoss(5), () => dec.decode(p), () => dec.conceal(), () => dec.recover(p)];
  for (const call of calls) assert.match(thrownCode(call, 'LOA_E_OPUS').message, /is closed/);
});

test('closed codecs give their memory back: 1000 frames, then 800 codecs made and closed, and the wasm memory has not grown', () => {
  const x = tone(440);
  const enc = new OpusEncoder({ fec: true, expectedLossPct: 10 });
  const dec = new OpusDecoder();
  for (let f = 0; f < 1000; f++) dec.decode(enc.encode(frameOf(x, f % 50)));
  enc.close();
  dec.close();
  const before = opusMemoryBytes();
  assert.ok(before > 0);
  // The memory starts at 16 MiB; codecs never closed filled its free part after 138 pairs (measured), so a leak shows well within 400.
  for (let i = 0; i < 400; i++) {
    const e = new OpusEncoder({ fec: true, expectedLossPct: 10 });
    const d = new OpusDecoder();
    d.decode(e.encode(frameOf(x, i % 50)));
    d.conceal();
    e.close();
    d.close();
  }
  assert.is(opusMemoryBytes(), before, `wasm memory grew from ${before} to ${opusMemoryBytes()} bytes`);
});

test('the wasm memory grows under 300 open codec pairs and every codec, old or new, still works (views re-made)', () => {
  const x = tone(440);
  const before = opusMemoryBytes();
  const pairs: Array<[OpusEncoder, OpusDecoder]> = [];
  for (let i = 0; i < 300; i++) pairs.push([new OpusEncoder(), new OpusDecoder()]);
  assert.ok(opusMemoryBytes() > before, 'the memory did not grow: this test proves nothing');
  for (const [enc, dec] of [pairs[0]!, pairs[299]!]) {
    const frames = encodeAll(x, enc).map((p) => dec.decode(p));
    assert.ok(Math.abs(db(levelOf(frames[20]!, 440) / levelOf(frameOf(x, 20), 440))) < 1.5);
  }
  for (const [enc, dec] of pairs) enc.close(), dec.close();
});

test.run();
