import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { AlsaSink } from '../../audio/alsa-sink.js';
import { NullSink } from '../../audio/null-sink.js';
import { pcmStream, sine } from '../../audio/tones.js';
import type { AudioSink } from '../../audio/types.js';
import { pcmBytes } from '../../audio/types.js';
import { WavFileSink } from '../../audio/wav-sink.js';
import { silentLogger } from '../../lib/log.js';
import { alsaHome, recordEvents } from '../helpers/audio.js';
import { cleanupTempDirs, sleep, tempDir } from '../helpers/tmp.js';

// One behaviour suite for every AudioSink: the null sink, the WAV sink and
// ALSA through speaker in child processes (ALSA's file plugin stands in for
// the sound card this machine does not have). Bounds are loose on purpose:
// they tell a warm output (a few ms) from a cold one (a fresh child, ~70 ms
// or more) without turning the suite into a benchmark.

/** play() of a new stream to its first sample handed to the output. */
const START_BOUND_MS = 60;

function contract(name: string, make: () => AudioSink): void {
  const s = suite(`${name} sink`);
  let sink: AudioSink;

  s.before(async () => {
    sink = make();
    await sink.start();
  });
  s.after(async () => {
    await sink.close();
  });

  s('is idle after start: current is null', () => {
    assert.is(sink.current, null);
  });

  s('plays a stream: started, then ended "finished" after about its duration', async () => {
    const rec = recordEvents(sink);
    const t0 = performance.now();
    sink.play(pcmStream(sine(440, 400)), { id: 'one' });
    assert.is(sink.current, 'one');
    const started = await rec.wait('started', 'one');
    const ended = await rec.wait('ended', 'one');
    assert.is(ended.reason, 'finished');
    assert.ok(started.perf - t0 < START_BOUND_MS, `started ${(started.perf - t0).toFixed(1)} ms after play()`);
    const wall = ended.perf - started.perf;
    assert.ok(wall > 370 && wall < 520, `played for ${wall.toFixed(0)} ms of wall-clock time`);
    assert.ok(Math.abs(ended.playedMs! - 400) < 20, `playedMs ${ended.playedMs}`);
    assert.ok(Math.abs(ended.atMs! - started.atMs! - 400) < 120, `event times ${started.atMs} → ${ended.atMs}`);
    assert.is(sink.current, null);
  });

  s('a new play() preempts: the first ends "preempted" at once, the second starts within the bound', async () => {
    const rec = recordEvents(sink);
    sink.play(pcmStream(sine(440, 3000)), { id: 'long' });
    await rec.wait('started', 'long');
    await sleep(200);
    const t0 = performance.now();
    sink.play(pcmStream(sine(1000, 300)), { id: 'next' });
    const cut = rec.find('ended', 'long');
    assert.ok(cut, 'the first stream ended during play()');
    assert.is(cut!.reason, 'preempted');
    assert.ok(cut!.playedMs! > 150 && cut!.playedMs! < 400, `first played ${cut!.playedMs} ms`);
    assert.is(sink.current, 'next');
    const started = await rec.wait('started', 'next');
    assert.ok(started.perf - t0 < START_BOUND_MS, `second started ${(started.perf - t0).toFixed(1)} ms after play()`);
    const ended = await rec.wait('ended', 'next');
    assert.is(ended.reason, 'finished');
    assert.is(rec.events.filter((e) => e.type === 'ended' && e.id === 'long').length, 1, 'the first ended once');
    assert.is(sink.current, null);
  });

  s('stop() ends the stream "stopped" and nothing plays after it', async () => {
    const rec = recordEvents(sink);
    const pcm = pcmStream(sine(440, 3000));
    sink.play(pcm, { id: 'stopme' });
    await rec.wait('started', 'stopme');
    await sleep(100);
    sink.stop();
    const ended = rec.find('ended', 'stopme');
    assert.is(ended?.reason, 'stopped');
    assert.is(sink.current, null);
    assert.ok(pcm.destroyed, 'the sink destroyed the stream it was given');
    await sleep(150);
    assert.is(rec.events.length, 2, JSON.stringify(rec.events.map((e) => [e.type, e.id, e.reason])));
    sink.stop(); // idle: a no-op
    assert.is(rec.events.length, 2);
  });

  s('a source that fails mid-stream ends "failed"; the sink plays the next stream', async () => {
    const rec = recordEvents(sink);
    let sent = 0;
    const broken = new Readable({
      read() {
        if (sent++ < 5) this.push(Buffer.alloc(pcmBytes(20)));
        else this.destroy(new Error('decoder died'));
      },
    });
    sink.play(broken, { id: 'broken' });
    const ended = await rec.wait('ended', 'broken');
    assert.is(ended.reason, 'failed');
    sink.play(pcmStream(sine(440, 200)), { id: 'after' });
    assert.is((await rec.wait('ended', 'after')).reason, 'finished');
  });

  s.run();
}

contract('null', () => new NullSink());
contract('wav', () => new WavFileSink({ file: join(tempDir('loa-wav-'), 'out.wav') }));
contract('alsa', () => new AlsaSink({ log: silentLogger(), env: alsaHome('file').env }));

const last = suite('cleanup');
last.after(() => cleanupTempDirs());
last('temporary files removed', () => {});
last.run();
