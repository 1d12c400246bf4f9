import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pcmStream, sine } from '../../audio/tones.js';
import { PCM, pcmBytes } from '../../audio/types.js';
import { WavFileSink } from '../../audio/wav-sink.js';
import { onsetOf, peak, readWav, recordEvents, toneLevel } from '../helpers/audio.js';
import { cleanupTempDirs, sleep, tempDir } from '../helpers/tmp.js';

// The WAV sink is the loudspeaker tests listen to: the file must say what
// sounded when, and agree with the sink's own timeline.

test.after(() => cleanupTempDirs());

const FPMS = PCM.sampleRate / 1000;
const TOL_MS = 30;
/** The longest stall of a loaded CI machine this test puts up with between play() and a stream's first data. */
const STALL_MS = 250;

test('a preempting stream replaces the first in the file exactly where the timeline and the clock say', async () => {
  const file = join(tempDir('loa-wav-'), 'out.wav');
  const sink = new WavFileSink({ file });
  const rec = recordEvents(sink);
  await sink.start();
  let tA = 0;
  let tB = 0;
  try {
    await sleep(150);
    tA = Date.now();
    sink.play(pcmStream(sine(440, 2000)), { id: 'a' });
    await sleep(400);
    tB = Date.now();
    sink.play(pcmStream(sine(1000, 500)), { id: 'b' });
    await rec.wait('ended', 'b');
    await sleep(100);
  } finally {
    await sink.close();
  }
  const [a, b] = sink.timeline;
  assert.is(a!.reason, 'preempted');
  assert.is(b!.reason, 'finished');
  assert.equal(JSON.parse(JSON.stringify(sink.timeline)), sink.timeline, 'the timeline is JSON-able');

  const x = readWav(file).samples;
  const onA = onsetOf(x, 440);
  const onB = onsetOf(x, 1000);
  const ms = (frames: number) => (frames / FPMS).toFixed(1);
  assert.ok(onA > 0 && onB > onA, `onsets ${onA}, ${onB}`);
  // The file against the timeline…
  assert.ok(Math.abs(onA - a!.startFrame!) < TOL_MS * FPMS, `440 Hz heard at ${ms(onA)} ms, timeline says ${ms(a!.startFrame!)} ms`);
  assert.ok(Math.abs(onB - b!.startFrame!) < TOL_MS * FPMS, `1 kHz heard at ${ms(onB)} ms, timeline says ${ms(b!.startFrame!)} ms`);
  // Gapless when b's first data was there within a period of play(); later (a stall on a loaded machine) silence fills the wait, as on a card.
  const gap = b!.startFrame! - a!.endFrame!;
  assert.ok(gap >= 0 && gap < STALL_MS * FPMS, `the second stream takes over ${ms(gap)} ms after the first was cut`);
  if (gap > 0) assert.ok(peak(x, a!.endFrame!, b!.startFrame!) < 200, 'silence in between, not either stream');
  else assert.is(a!.endFrame, b!.startFrame, 'the second stream takes over at the very frame the first was cut');
  // …and against the wall clock: frame ↔ time since startedAt. A stream sounds from play(), or later
  // by as long as its first data took to exist (an event-loop stall on a loaded machine: a sound card
  // would have played silence meanwhile), never before; the 'started' event says where.
  for (const [id, on, t] of [['a', onA, tA], ['b', onB, tB]] as const) {
    const started = rec.events.find((e) => e.type === 'started' && e.id === id)!;
    assert.ok(Math.abs(sink.frameToMs(on) - started.atMs!) < TOL_MS, `${id} heard at ${ms(on)} ms, 'started' says ${started.atMs! - sink.startedAt} ms`);
    assert.ok(on >= sink.msToFrame(t) - TOL_MS * FPMS, `${id} heard at ${ms(on)} ms, not before play() at ${t - sink.startedAt} ms`);
    assert.ok(on - sink.msToFrame(t) < STALL_MS * FPMS, `${id} heard at ${ms(on)} ms, within ${STALL_MS} ms of play() at ${t - sink.startedAt} ms`);
  }
  // The cut is clean: no 440 Hz once the 1 kHz tone plays, silence after it ends and before the first.
  assert.ok(toneLevel(x, onB + 10 * FPMS, 200 * FPMS, 440) < 0.01, 'the first tone is gone');
  assert.ok(toneLevel(x, b!.endFrame! + FPMS, 80 * FPMS, 1000) < 0.01, 'silence after the second');
  assert.ok(x.subarray(0, a!.startFrame!).every((v) => v === 0), 'silence before the first');
  // 500 ms of the second stream, sample-accurately.
  assert.is(b!.endFrame! - b!.startFrame!, 500 * FPMS);
  const file_ms = x.length / FPMS;
  assert.ok(file_ms > 1000 && file_ms < 1400, `file is ${file_ms} ms long`);
});

test('the header stays valid while the file grows, and the length follows the wall clock', async () => {
  const file = join(tempDir('loa-wav-'), 'grow.wav');
  const sink = new WavFileSink({ file, headerEveryMs: 100 });
  await sink.start();
  try {
    sink.play(pcmStream(sine(440, 3000)), { id: 'long' });
    await sleep(300);
    const w1 = readWav(file);
    await sleep(300);
    const w2 = readWav(file);
    assert.equal([w1.sampleRate, w1.channels, w1.bitDepth], [48_000, 1, 16]);
    assert.ok(w1.dataBytes > 0 && w1.dataBytes <= w1.fileBytes - 44);
    const grew = (w2.samples.length - w1.samples.length) / FPMS;
    assert.ok(grew > 200 && grew < 420, `grew by ${grew} ms in 300 ms`);
    const elapsed = Date.now() - sink.startedAt;
    assert.ok(Math.abs(elapsed - w2.samples.length / FPMS) < 150, `${w2.samples.length / FPMS} ms of audio after ${elapsed} ms`);
    assert.ok(toneLevel(w2.samples, w2.samples.length - 100 * FPMS, 100 * FPMS, 440) > 0.3, 'the tone is in the growing file');
  } finally {
    await sink.close();
  }
  const w = readWav(file);
  assert.is(w.dataBytes, w.fileBytes - 44, 'sizes final at close');
});

test('event times come from the injected clock, mapped from frame positions', async () => {
  const epoch = Date.UTC(2025, 2, 1, 23, 0, 0); // 06:00 in Vietnam
  const t0 = performance.now();
  const sink = new WavFileSink({ file: join(tempDir('loa-wav-'), 'clock.wav'), now: () => epoch + (performance.now() - t0) });
  const rec = recordEvents(sink);
  await sink.start();
  try {
    assert.ok(Math.abs(sink.startedAt - epoch) < 50);
    sink.play(pcmStream(sine(440, 200)), { id: 'x' });
    const ended = await rec.wait('ended', 'x');
    const e = sink.timeline[0]!;
    assert.is(rec.find('started', 'x')!.atMs, sink.frameToMs(e.startFrame!));
    assert.is(ended.atMs, sink.frameToMs(e.endFrame!));
    assert.ok(ended.atMs! - epoch > 150 && ended.atMs! - epoch < 500);
    assert.is(sink.msToFrame(sink.frameToMs(12_345)), 12_345);
  } finally {
    await sink.close();
  }
});

test('a stream whose first data comes after an event-loop stall starts where its data came, not back at play()', async () => {
  const file = join(tempDir('loa-wav-'), 'stall.wav');
  const sink = new WavFileSink({ file });
  const rec = recordEvents(sink);
  await sink.start();
  const tone = sine(440, 300);
  let at = 0;
  let dataAt = 0;
  // The producer blocks the event loop for 80 ms before its first samples, as a tone computed synchronously does.
  const src = new Readable({
    read() {
      if (at === 0) {
        const until = performance.now() + 80;
        while (performance.now() < until);
        dataAt = Date.now();
      }
      if (at >= tone.length) return void this.push(null);
      this.push(tone.subarray(at, at + pcmBytes(20)));
      at += pcmBytes(20);
    },
  });
  let tPlay = 0;
  try {
    await sleep(100);
    tPlay = Date.now();
    sink.play(src, { id: 'late' });
    await rec.wait('ended', 'late');
  } finally {
    await sink.close();
  }
  const e = sink.timeline[0]!;
  const started = rec.find('started', 'late')!;
  assert.is(started.atMs, sink.frameToMs(e.startFrame!));
  assert.ok(e.startFrame! - e.requestedFrame >= 75 * FPMS, `started ${(e.startFrame! - e.requestedFrame) / FPMS} ms after play(), the data came 80 ms or more after it`);
  assert.ok(started.atMs! >= dataAt - 2, `started at ${started.atMs! - tPlay} ms, data at ${dataAt - tPlay} ms after play()`);
  const x = readWav(file).samples;
  assert.ok(x.subarray(e.requestedFrame, e.startFrame!).every((v) => v === 0), 'silence while there was nothing to play');
  assert.ok(Math.abs(onsetOf(x, 440) - e.startFrame!) < 10 * FPMS, 'the file has the tone where the timeline says');
  assert.is(e.endFrame! - e.startFrame!, 300 * FPMS, 'all of it, nothing skipped');
});

test.run();
