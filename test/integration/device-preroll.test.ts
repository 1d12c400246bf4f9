import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PlaybackEngine } from '../../device/playback.js';
import { RelayController } from '../../device/relay-controller.js';
import { flush, VirtualTime } from '../helpers/virtual-time.js';
import { FakeRelay } from '../fakes/relay.js';
import type { PlayRequest } from '../../device/arbiter.js';
import { volumeToGain } from '../../audio/gain.js';
import { pcmBytes, type AudioSink, type PlayOptions } from '../../audio/types.js';
import { silentLogger } from '../../lib/log.js';
import { WavFileSink } from '../../audio/wav-sink.js';
import { onsetOf, readWav, samplesOf, toneLevel } from '../helpers/audio.js';
import { cleanupTempDirs, sleep, tempDir, waitFor } from '../helpers/tmp.js';

// The player's pre-roll with real ffmpeg: a scheduled item's decoder is
// started ahead and the amplifier warmed ahead, so when the arbiter plays it
// the first PCM is there at once; a pre-roll that is not played is dropped
// and lets the amplifier go. The amplifier's timers run in virtual time, so
// "warmed up" is a step of the test, not a wait.

test.after(() => cleanupTempDirs());



interface Played {
  id: string;
  chunks: Buffer[];
  ended: boolean;
}

/** A sink that takes each stream as fast as it comes and keeps its bytes. */
class CaptureSink extends EventEmitter implements AudioSink {
  readonly kind = 'null' as const;
  readonly plays: Played[] = [];
  #cur: { p: Played; pcm: Readable } | null = null;
  get current(): string | null {
    return this.#cur?.p.id ?? null;
  }
  async start(): Promise<void> {}
  play(pcm: Readable, opts: PlayOptions): void {
    this.#end('preempted');
    const p: Played = { id: opts.id, chunks: [], ended: false };
    this.plays.push(p);
    this.#cur = { p, pcm };
    pcm.on('data', (b: Buffer) => {
      if (!p.chunks.length) this.emit('started', p.id, Date.now());
      p.chunks.push(b);
    });
    pcm.on('end', () => {
      if (this.#cur?.p !== p) return;
      this.#cur = null;
      p.ended = true;
      this.emit('ended', p.id, Date.now(), 'finished', 0);
    });
    pcm.on('error', () => {});
  }
  #end(reason: 'preempted' | 'stopped'): void {
    const c = this.#cur;
    if (!c) return;
    this.#cur = null;
    c.pcm.destroy();
    this.emit('ended', c.p.id, Date.now(), reason, 0);
  }
  stop(): void {
    this.#end('stopped');
  }
  async close(): Promise<void> {
    this.stop();
  }
}

const dir = tempDir('loa-preroll-');
function tone(hz: number, seconds: number): string {
  const file = join(dir, `tone-${hz}.ogg`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${seconds}`, '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '64k', file]);
  return file;
}
const FILES: Record<string, string> = { a440: tone(440, 1), b880: tone(880, 1) };

const request = (id: string, sha: string, volume = 100): PlayRequest => ({
  id,
  level: 'normal',
  source: 'programme',
  segments: [{ kind: 'asset', sha256: sha, durationMs: 1000 }],
  volume,
  resumable: false,
  notAfter: null,
  endBy: null,
  requiresTrustedClock: true,
});

function setup(opts: { trusted?: boolean } = {}) {
  const clock = new VirtualTime();
  const relay = new FakeRelay(() => clock.now());
  const amp = new RelayController({ relay, clock, log: silentLogger(), timing: { warmUpMs: 1500, idleOffMs: 30_000 } });
  const sink = new CaptureSink();
  const engine = new PlaybackEngine({ sink, relay: amp, assetPath: (sha) => FILES[sha] ?? null, log: silentLogger(), now: () => Date.now(), clockTrusted: () => opts.trusted ?? true, record: () => {} });
  engine.start();
  return { clock, relay, amp, sink, engine };
}

test('a pre-rolled item sounds at once when it is played: its PCM is buffered and the amplifier warmed ahead', async () => {
  const { clock, relay, amp, sink, engine } = setup();
  try {
    assert.is(engine.leadMs, 2000, 'the lead covers the amplifier warm-up and switching it');
    const at = Date.now() + 2000;
    engine.preroll(request('sang@1', 'a440'), at);
    await flush();
    assert.is(relay.state, 'on', 'the amplifier is switched on ahead');
    assert.is(amp.state, 'warming');
    assert.equal(sink.plays, [], 'nothing is played before the arbiter says so');
    await waitFor(() => engine.prerolled?.ready, { timeoutMs: 20_000, what: 'the first PCM of the pre-roll' });
    await clock.advance(1500);
    assert.is(amp.state, 'on', 'warm by the instant');
    // The item comes due; the operator's volume (50) applies, not the one it was pre-rolled with.
    engine.dispatch({ type: 'request', req: request('sang@1', 'a440', 50), at: Date.now() });
    await flush();
    assert.is(sink.plays.length, 1);
    assert.ok(sink.plays[0]!.chunks.length > 0, 'PCM reached the sink in the same turn of the event loop: no decoder start-up, no warm-up wait');
    await waitFor(() => sink.plays[0]!.ended, { timeoutMs: 20_000, what: 'the item to finish' });
    const x = samplesOf(Buffer.concat(sink.plays[0]!.chunks));
    assert.ok(Math.abs(x.length * 2 - pcmBytes(1000)) <= pcmBytes(30), `the whole second was played (${x.length} samples)`);
    const level = toneLevel(x, 4800, 38_400, 440);
    const expected = 0.125 * volumeToGain(50); // lavfi's sine is at 1/8 of full scale
    assert.ok(level > expected * 0.6 && level < expected * 1.4, `440 Hz at ${level.toFixed(4)}, expected about ${expected.toFixed(4)}`);
    assert.is(engine.prerolled, null);
    // One hold on the amplifier, released when the item ended: it goes off after the idle delay.
    await clock.advance(30_000);
    assert.is(relay.state, 'off');
  } finally {
    await engine.stop();
    await amp.close();
  }
});

test('a pre-roll of other content under the same id is not used: what plays is what the arbiter asked for', async () => {
  const { clock, relay, amp, sink, engine } = setup();
  try {
    engine.preroll(request('trua@1', 'a440'), Date.now() + 2000);
    await waitFor(() => engine.prerolled?.ready, { timeoutMs: 20_000, what: 'the first PCM of the pre-roll' });
    await clock.advance(1500);
    // A new target changed the item's playlist between the pre-roll and its instant.
    engine.dispatch({ type: 'request', req: request('trua@1', 'b880'), at: Date.now() });
    await waitFor(() => sink.plays[0]?.ended, { timeoutMs: 20_000, what: 'the item to finish' });
    const x = samplesOf(Buffer.concat(sink.plays[0]!.chunks));
    assert.ok(toneLevel(x, 4800, 38_400, 880) > 0.06, '880 Hz, the new content, is heard');
    assert.ok(toneLevel(x, 4800, 38_400, 440) < 0.01, 'nothing of the stale pre-roll');
    assert.is(engine.prerolled, null);
    await clock.advance(30_000);
    assert.is(relay.state, 'off', 'the stale pre-roll let the amplifier go');
  } finally {
    await engine.stop();
    await amp.close();
  }
});

test('a pre-roll that is not played is dropped a few seconds after its instant, and the amplifier goes off after its idle delay', async () => {
  const { clock, relay, amp, engine } = setup();
  try {
    // Its instant was 2.9 s ago (an emergency played instead, say): the engine's next 250 ms tick drops it.
    engine.preroll(request('chieu@1', 'a440'), Date.now() - 2900);
    await flush();
    assert.ok(engine.prerolled);
    assert.is(relay.state, 'on');
    await waitFor(() => engine.prerolled === null, { timeoutMs: 5000, what: 'the pre-roll dropped' });
    await clock.advance(30_000);
    assert.is(relay.state, 'off');
  } finally {
    await engine.stop();
    await amp.close();
  }
});

test('no pre-roll of a programme while the clock is not trusted: the arbiter would refuse it, the amplifier stays off', async () => {
  const { relay, amp, engine } = setup({ trusted: false });
  try {
    engine.preroll(request('toi@1', 'a440'), Date.now() + 2000);
    await flush();
    await sleep(50);
    assert.is(engine.prerolled, null);
    assert.is(relay.state, 'off');
  } finally {
    await engine.stop();
    await amp.close();
  }
});

/** The engine with a real sink that can arm() (the WAV sink; ALSA's arm is in the sink contract), no amplifier. */
async function armedSetup() {
  const file = join(dir, `armed-${Math.random().toString(36).slice(2)}.wav`);
  const sink = new WavFileSink({ file });
  await sink.start();
  const engine = new PlaybackEngine({ sink, relay: null, assetPath: (sha) => FILES[sha] ?? null, log: silentLogger(), now: () => Date.now(), clockTrusted: () => true, record: () => {} });
  engine.start();
  return { file, sink, engine };
}

test('with a sink that arms, the pre-roll is armed in it: no sound until the arbiter plays it, then it starts on play()\'s frame', async () => {
  const { file, sink, engine } = await armedSetup();
  try {
    engine.preroll(request('sang@1', 'a440', 50), Date.now() + 300);
    await waitFor(() => engine.prerolled?.ready, { timeoutMs: 20_000, what: 'the first PCM of the pre-roll' });
    await sleep(100);
    assert.is(sink.current, null);
    assert.equal(sink.timeline, [], 'arming plays nothing');
    engine.dispatch({ type: 'request', req: request('sang@1', 'a440', 50), at: Date.now() });
    await waitFor(() => sink.timeline[0]?.reason, { timeoutMs: 20_000, what: 'the item to finish' });
    const e = sink.timeline[0]!;
    assert.is(e.reason, 'finished');
    assert.is(e.startFrame, e.requestedFrame, 'its first sample on the frame of play(): the PCM was in the sink already');
    const x = readWav(file).samples;
    assert.ok(toneLevel(x, e.startFrame! + 4800, 38_400, 440) > 0.125 * volumeToGain(50) * 0.6, '440 Hz at the volume it was played with');
    assert.ok(onsetOf(x, 440, { level: 0.005 }) >= e.startFrame! - 240, 'nothing of it before (within the 5 ms window of onsetOf)');
    assert.is(engine.prerolled, null);
  } finally {
    await engine.stop();
    await sink.close();
  }
});

test('an armed pre-roll at another volume than the one played is not used: the item plays at the new volume from its first sample', async () => {
  const { file, sink, engine } = await armedSetup();
  try {
    engine.preroll(request('trua@1', 'a440', 100), Date.now() + 300);
    await waitFor(() => engine.prerolled?.ready, { timeoutMs: 20_000, what: 'the first PCM of the pre-roll' });
    await sleep(100);
    engine.dispatch({ type: 'request', req: request('trua@1', 'a440', 50), at: Date.now() });
    await waitFor(() => sink.timeline.at(-1)?.reason, { timeoutMs: 20_000, what: 'the item to finish' });
    const e = sink.timeline.at(-1)!;
    assert.is(e.id, 'trua@1');
    assert.is(sink.timeline.length, 1, 'the armed stream was never played');
    const x = readWav(file).samples;
    const level = toneLevel(x, e.startFrame! + 480, 4800, 440); // its first 100 ms
    const expected = 0.125 * volumeToGain(50);
    assert.ok(level > expected * 0.6 && level < expected * 1.4, `440 Hz at ${level.toFixed(4)} from the start, expected about ${expected.toFixed(4)}`);
  } finally {
    await engine.stop();
    await sink.close();
  }
});

test('an emergency before the instant wins over an armed pre-roll: the armed stream is dropped unheard, the item is decoded again if it plays later', async () => {
  const { file, sink, engine } = await armedSetup();
  try {
    engine.preroll(request('sang@1', 'a440'), Date.now() + 500);
    await waitFor(() => engine.prerolled?.ready, { timeoutMs: 20_000, what: 'the first PCM of the pre-roll' });
    const alert: PlayRequest = { ...request('em-1', 'b880'), level: 'emergency', source: 'emergency', emergency: 'em-1', requiresTrustedClock: false };
    engine.dispatch({ type: 'request', req: alert, at: Date.now() });
    await waitFor(() => sink.timeline[0]?.startFrame != null, { timeoutMs: 20_000, what: 'the emergency to sound' });
    await sleep(700);
    // The scheduled item comes due while the emergency plays: the arbiter decides, as without arming.
    engine.dispatch({ type: 'request', req: request('sang@1', 'a440'), at: Date.now() });
    await waitFor(() => sink.timeline[0]?.reason, { timeoutMs: 20_000, what: 'the emergency to end' });
    const em = sink.timeline[0]!;
    assert.is(em.id, 'em-1');
    assert.is(em.reason, 'finished', 'the emergency played to its end');
    await waitFor(() => sink.current === null && engine.state.playing === null, { timeoutMs: 20_000, what: 'the player to be idle' });
    const x = readWav(file).samples;
    const first440 = onsetOf(x, 440);
    assert.ok(first440 === -1 || first440 >= em.endFrame! - 48, `440 Hz not before the emergency ended (${first440} vs ${em.endFrame})`);
    for (const t of sink.timeline.slice(1)) assert.ok(t.requestedFrame >= em.endFrame!, 'nothing else during the emergency');
  } finally {
    await engine.stop();
    await sink.close();
  }
});

test.run();
