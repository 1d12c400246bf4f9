import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AlsaSink } from '../../audio/alsa-sink.js';
import { alertTone, chime, pcmStream, siren } from '../../audio/tones.js';
import { pcmBytes } from '../../audio/types.js';
import { silentLogger } from '../../lib/log.js';
import { alsaHome, recordEvents } from '../helpers/audio.js';
import { captureLog } from '../helpers/logs.js';
import { cleanupTempDirs, sleep, waitFor } from '../helpers/tmp.js';

// ALSA through `speaker` in the sink's child processes, with ALSA's file
// plugin as the sound card: what the file plugin writes is exactly what
// speaker handed to ALSA.

const sinks: AlsaSink[] = [];
/** A sink closed after the test even when the test fails (its children and retry timers would keep the process alive). */
function alsaSink(opts: ConstructorParameters<typeof AlsaSink>[0]): AlsaSink {
  const s = new AlsaSink(opts);
  sinks.push(s);
  return s;
}
test.after.each(async () => {
  for (const s of sinks.splice(0)) await s.close();
});
test.after(() => cleanupTempDirs());

const isZero = (b: Buffer) => b.every((v) => v === 0);

/** `out` holds `tone` byte for byte, with at most `padMs` of zeros around it. */
function assertContains(out: Buffer, tone: Buffer, padMs = 600): void {
  const at = out.indexOf(tone);
  assert.ok(at >= 0, `tone (${tone.length} bytes) not found in output (${out.length} bytes)`);
  assert.ok(out.length - tone.length <= pcmBytes(padMs), `${out.length - tone.length} bytes besides the tone`);
  assert.ok(isZero(out.subarray(0, at)) && isZero(out.subarray(at + tone.length)), 'only silence around the tone');
}

test('the bytes speaker writes to ALSA in the child are the tone PCM, exactly', async () => {
  const home = alsaHome('file');
  const sink = alsaSink({ log: silentLogger(), env: home.env });
  const rec = recordEvents(sink);
  await sink.start();
  const tone = chime();
  sink.play(pcmStream(tone), { id: 'chime' });
  const ended = await rec.wait('ended', 'chime', 8000);
  assert.is(ended.reason, 'finished');
  await sink.close();
  const outs = home.outputs();
  assert.is(outs.length, 1, `one stream was written (${outs.map((b) => b.length).join(', ')})`);
  assertContains(outs[0]!, tone);
});

test('killing the playing child mid-play is survived and logged; the next play() is written', async () => {
  const home = alsaHome('file');
  const cap = captureLog('info');
  const sink = alsaSink({ log: cap.log, env: home.env });
  const rec = recordEvents(sink);
  await sink.start();
  const long = siren(4000);
  sink.play(pcmStream(long), { id: 'siren' });
  await rec.wait('started', 'siren');
  await sleep(300);
  const pid = sink.playingPid;
  assert.ok(pid && pid !== process.pid);
  process.kill(pid, 'SIGKILL');

  const ended = await rec.wait('ended', 'siren');
  assert.is(ended.reason, 'failed');
  const err = await rec.wait('error');
  assert.match(err.err!.message, `${pid}`);
  assert.match(err.err!.message, 'SIGKILL');
  const line = cap.find((l) => l.msg === 'audio output child died');
  assert.ok(line, 'the crash is logged');
  assert.is(line!.level, 50);
  assert.is(line!.childPid, pid);
  assert.is(sink.current, null);

  const tone = alertTone(800);
  sink.play(pcmStream(tone), { id: 'alert' });
  const started = await rec.wait('started', 'alert');
  assert.ok(started.perf - ended.perf < 1000);
  assert.is((await rec.wait('ended', 'alert', 8000)).reason, 'finished');
  await sink.close();

  const outs = home.outputs();
  assert.is(outs.length, 2, `two streams were written (${outs.map((b) => b.length).join(', ')})`);
  // The killed child got part of the siren out, as it was, and no more.
  const cut = outs[0]!;
  assert.ok(cut.length > pcmBytes(300) && cut.length < long.length, `${cut.length} bytes of the siren`);
  assert.ok(cut.equals(long.subarray(0, cut.length)), 'the siren prefix is intact');
  assertContains(outs[1]!, tone);
});

test('an ALSA default device that does not exist: the child aborts, the sink reports it and retries with backoff', async () => {
  const home = alsaHome('missing');
  const cap = captureLog('info');
  const sink = alsaSink({ log: cap.log, env: home.env, restart: { minMs: 40, maxMs: 400 } });
  const rec = recordEvents(sink);
  await sink.start(); // resolves after the first failure instead of hanging
  await waitFor(() => rec.events.filter((e) => e.type === 'error').length >= 4, { timeoutMs: 8000, what: 'four child failures' });
  const errors = rec.events.filter((e) => e.type === 'error');
  // speaker asserts on the NULL PCM handle: the child dies of SIGABRT.
  assert.match(errors[0]!.err!.message, /SIGABRT/);
  assert.match(errors[0]!.err!.message, /cannot open device default|snd_pcm/);
  // The backoff the sink chose, as it logs it (the time between failures also holds each child's start, which a loaded machine stretches).
  const delays = cap.lines.filter((l) => l.msg === 'restarting audio output child after backoff').map((l) => Number(l.delayMs));
  assert.ok(delays.length >= 3, `restarts logged: ${delays.join(', ')}`);
  assert.equal(delays.slice(0, 3), [40, 80, 160], 'backoff doubles from its minimum');
  const gaps = errors.slice(1).map((e, i) => e.perf - errors[i]!.perf);
  gaps.slice(0, 3).forEach((g, i) => assert.ok(g >= delays[i]! - 5, `failure ${i + 2} came ${g.toFixed(0)} ms after the one before, not before its backoff of ${delays[i]} ms`));
  assert.ok(cap.lines.filter((l) => l.msg === 'audio output child died').length >= 4);

  // Playing into the broken output fails that stream, not the process.
  sink.play(pcmStream(chime()), { id: 'lost' });
  assert.is((await rec.wait('ended', 'lost')).reason, 'failed');
  await sink.close();
  assert.ok(sink.stats.crashes >= 5);
});

test('a device name ALSA does not know: the child says it cannot open it and exits', async () => {
  const home = alsaHome('file');
  const sink = alsaSink({ log: silentLogger(), env: home.env, device: 'loa_no_such_pcm', restart: { minMs: 1000, maxMs: 1000 } });
  const rec = recordEvents(sink);
  await sink.start();
  const err = await rec.wait('error');
  assert.match(err.err!.message, 'cannot open ALSA device loa_no_such_pcm');
  assert.match(err.err!.message, 'exited with code 2');
  await sink.close();
});

test.run();
