import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { syncFixture, type SyncFixture } from '../helpers/sync-fixture.js';
import { asDevice, connect, endAll } from '../helpers/mqtt.js';
import { readWav, toneLevel, onsetOf } from '../helpers/audio.js';
import { cleanupTempDirs, sleep, tempDir, waitFor } from '../helpers/tmp.js';
import { startProxy } from '../helpers/proxy.js';
import { Agent } from '../../device/agent.js';
import { ClockTrust } from '../../device/clock.js';
import { WavFileSink } from '../../audio/wav-sink.js';
import { OpusEncoder, OPUS_FRAME_SAMPLES } from '../../audio/opus.js';
import { PCM } from '../../audio/types.js';
import { silentLogger } from '../../lib/log.js';
import { LiveBroadcaster, type LiveSession } from '../../provisioning/live-broadcaster.js';
import { encodeFrameBatch, newSessionKey } from '../../protocol/live-frames.js';
import { encodeSigned } from '../../protocol/codec.js';
import { Signer, generateSigningKeyPair } from '../../protocol/signing.js';
import { topics } from '../../protocol/topics.js';
import type { EmergencyStart, LiveControl } from '../../protocol/payloads.js';

// Live sessions from the province's broadcaster to real agents through the
// real broker, heard in their WAV files: on time and together, cut by an
// emergency and back after it, never from frames or opens the province did
// not sign, and not in quiet hours unless the rules say so.

let f: SyncFixture;
let live: LiveBroadcaster;
const agents: Agent[] = [];
const ZONE = 'qn/dak-ha/thon-3';
const VOICE_HZ = 1000;

test.before(async () => {
  f = await syncFixture({ beacons: false });
  live = new LiveBroadcaster({ signer: new Signer(f.p.registry.readPrivateKey('console')), publish: (t, p, q) => f.services.publishLive(t, p, q), log: silentLogger() });
});
test.after(async () => {
  live.stopAll('test over');
  for (const a of agents.splice(0)) await a.stop().catch(() => {});
  await f.stop();
  cleanupTempDirs();
});

/** An agent on a trusted clock, its horn a WAV file. */
async function startAgent(id: string, url?: string) {
  const clock = new ClockTrust({ wall: () => Date.now(), mono: () => performance.now(), ntp: () => true, rtc: false, beaconTrustMs: 3600_000, correctAboveMs: 2000 });
  const sink = new WavFileSink({ file: join(tempDir(), `${id}.wav`), now: () => clock.now() });
  const agent = new Agent({ config: f.deviceConfig(id, { agent: { audio: { output: 'wav' }, live: { lossTimeoutMs: 2000 } }, ...(url ? { url } : {}) }), log: silentLogger(), clock, sink, relay: null });
  agents.push(agent);
  await agent.start();
  await waitFor(() => agent.link.connected, { what: `${id} connected` });
  return { agent, sink };
}

/** Speaks a tone into the session in real time, 100 ms at a time. */
async function speak(s: LiveSession, ms: number, hz = VOICE_HZ): Promise<void> {
  const chunk = PCM.sampleRate / 10;
  const t0 = Date.now();
  for (let i = 0; i * 100 < ms; i++) {
    const b = Buffer.alloc(chunk * 2);
    for (let k = 0; k < chunk; k++) b.writeInt16LE(Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * hz * (i * chunk + k)) / PCM.sampleRate)), k * 2);
    s.write(b);
    await sleep(Math.max(0, t0 + (i + 1) * 100 - Date.now()));
  }
}

/** Seconds of the WAV file where `hz` sounds (100 ms windows). */
function heard(file: string, hz: number, from = 0): number {
  const x = readWav(file).samples;
  let n = 0;
  for (let i = from; i + 4800 <= x.length; i += 4800) if (toneLevel(x, i, 4800, hz) > 0.05) n++;
  return n / 10;
}

test('a live session sounds on both clusters of a zone at the instant the province stamped, together, and ends when closed', async () => {
  const [a, b] = await Promise.all([startAgent('t3a'), startAgent('t3b')]);
  const s = live.open({ zones: [ZONE], title: 'Thông báo trực tiếp', by: 'editor', source: 'terminal' });
  await speak(s, 4000);
  s.end('hết giờ');
  const entry = (sink: WavFileSink) => sink.timeline.find((e) => e.id === s.id);
  await waitFor(() => entry(a.sink)?.endFrame != null && entry(b.sink)?.endFrame != null, { timeoutMs: 10_000, what: 'the session over on both' });
  const due = Date.parse(s.info().startedAt) + 400;
  const at = [a, b].map(({ sink }) => sink.frameToMs(onsetOf(readWav(sink.file).samples, VOICE_HZ, { level: 0.05 })));
  for (const t of at) assert.ok(Math.abs(t - due) <= 60, `first sound ${Math.round(t - due)} ms from the stamped instant`);
  assert.ok(Math.abs(at[0]! - at[1]!) <= 20, `skew between the two clusters ${Math.abs(at[0]! - at[1]!).toFixed(1)} ms`);
  for (const { sink } of [a, b]) {
    const h = heard(sink.file, VOICE_HZ);
    assert.ok(h >= 3.6 && h <= 4.3, `heard ${h} s of 4 s`);
    assert.is(entry(sink)!.reason, 'finished', 'ended by the close, not cut');
  }
  await waitFor(() => f.reports.records('t3a', 'play').some((r) => (r.data as { source: string }).source === 'live'), { timeoutMs: 10_000, what: 'the session in the play log' });
  const rec = f.reports.records('t3a', 'play').map((r) => r.data as { source: string; outcome: string; title?: string }).find((d) => d.source === 'live')!;
  assert.is(rec.outcome, 'played');
  assert.is(rec.title, 'Thông báo trực tiếp');
  for (const x of agents.splice(0)) await x.stop();
});

test('an emergency cuts a live session and the session comes back after it, where it is then', async () => {
  const a = await startAgent('t3a');
  const dispatch = await connect(f.broker.url, { clientId: 'dispatch:live', username: 'dispatch', password: f.p.accounts.dispatch!.secret });
  const s = live.open({ zones: [ZONE], title: 'Họp dân', by: 'editor', source: 'studio' });
  const speaking = speak(s, 14_000);
  await sleep(2000);
  const now = Date.now();
  const e: EmergencyStart = { type: 'start', id: randomUUID(), issuedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 600_000).toISOString(), scope: { zones: ['qn/dak-ha'], devices: [] }, level: 4, mode: 'actual', content: { kind: 'standard', clip: 'chime' }, repeat: 1, title: 'Lũ quét' };
  await dispatch.publishAsync(topics.zoneEmergency('qn/dak-ha'), JSON.stringify(new Signer(f.p.registry.readPrivateKey('dispatch')).sign('emergency', e)), { qos: 1 });
  await speaking;
  s.end('xong');
  await endAll(dispatch);
  const tl = a.sink.timeline;
  await waitFor(() => tl.filter((x) => x.id === s.id).length >= 2 && tl.filter((x) => x.id === s.id).every((x) => x.endFrame !== null), { timeoutMs: 10_000, what: `live cut and resumed: ${JSON.stringify(tl)}` });
  const [first, again] = tl.filter((x) => x.id === s.id);
  const alert = tl.find((x) => x.id === e.id)!;
  assert.is(first!.reason, 'preempted');
  assert.ok(alert.startFrame! >= first!.endFrame! && again!.startFrame! >= alert.endFrame!, 'live, the alert, live again');
  const x = readWav(a.sink.file).samples;
  assert.ok(toneLevel(x, alert.startFrame!, alert.endFrame! - alert.startFrame!, VOICE_HZ) < 0.02, 'no live voice under the alert');
  assert.ok(heard(a.sink.file, VOICE_HZ, again!.startFrame!) >= 2, 'the voice after the alert');
  await a.agent.stop();
  agents.splice(0);
});

test('frames not signed by the session key, frames of a session nobody opened, and opens not signed by the province never sound', async () => {
  const a = await startAgent('t3a');
  const enc = new OpusEncoder();
  const frames = (hz: number) =>
    Array.from({ length: 5 }, (_, j) => {
      const pcm = new Int16Array(OPUS_FRAME_SAMPLES);
      for (let k = 0; k < pcm.length; k++) pcm[k] = Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * hz * (j * OPUS_FRAME_SAMPLES + k)) / PCM.sampleRate));
      return enc.encode(pcm);
    });
  const forger = await connect(f.broker.url, { clientId: 'console:forger', username: 'console', password: f.p.accounts.console!.secret });
  const now = Date.now();
  // An open signed by a key the province never issued, with frames signed by its own session key.
  const key = newSessionKey();
  const open: LiveControl = { type: 'open', id: randomUUID(), issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + 15_000).toISOString(), zone: ZONE, title: 'Giả mạo', by: 'x', source: 'studio', key: key.publicKey, codec: { name: 'opus', sampleRate: 48000, frameMs: 20 }, startedAt: new Date(now).toISOString(), endBy: new Date(now + 60_000).toISOString() };
  await forger.publishAsync(topics.zoneLive(ZONE), encodeSigned('zone-live', new Signer(generateSigningKeyPair().privateKey).sign('live', open)), { qos: 1 });
  // A real session, and frames for it signed by another key (someone who saw the open on the broker).
  const s = live.open({ zones: [ZONE], title: 'Thật', by: 'editor', source: 'terminal' });
  const speaking = speak(s, 3000, 600);
  for (let i = 0; i < 40; i++) {
    const playAt = Date.now() + 300;
    await forger.publishAsync(topics.zoneLive(ZONE), encodeFrameBatch({ session: open.id, seq: i * 5, playAt, frames: frames(1500) }, key.privateKey), { qos: 0 });
    await forger.publishAsync(topics.zoneLive(ZONE), encodeFrameBatch({ session: s.id, seq: 1000 + i * 5, playAt, frames: frames(1500) }, newSessionKey().privateKey), { qos: 0 });
    await sleep(50);
  }
  // A device that tries to open a session: the broker's ACL refuses it (devices only read live topics).
  const device = await asDevice(f.broker.url, 't4a', f.p.devices.t4a!.secret);
  device.publish(topics.zoneLive(ZONE), encodeSigned('zone-live', new Signer(generateSigningKeyPair().privateKey).sign('live', { ...open, id: randomUUID() })), { qos: 0 });
  await speaking;
  s.end('xong');
  await waitFor(() => a.sink.timeline.some((e) => e.id === s.id && e.endFrame !== null), { timeoutMs: 10_000, what: 'the real session played' });
  enc.close();
  await endAll(forger, device);
  assert.is(heard(a.sink.file, 1500), 0, 'no forged frame sounded');
  assert.ok(heard(a.sink.file, 600) >= 2.5, 'the real session did');
  assert.not.ok(a.sink.timeline.some((e) => e.id === open.id), 'the forged open never reached the player');
  await a.agent.stop();
  agents.splice(0);
});

test('a live session in quiet hours is refused and logged, unless the rules let live through', async () => {
  const a = await startAgent('t4a');
  // Allowed only in a window that is not now (an hour from now, for one minute).
  const later = new Date(Date.now() + 3600_000 + 7 * 3600_000);
  const hhmm = `${String(later.getUTCHours()).padStart(2, '0')}:${String(later.getUTCMinutes()).padStart(2, '0')}`;
  const end = new Date(later.getTime() + 60_000);
  const hhmm2 = `${String(end.getUTCHours()).padStart(2, '0')}:${String(end.getUTCMinutes()).padStart(2, '0')}`;
  const window = { days: [1, 2, 3, 4, 5, 6, 7], start: hhmm, end: hhmm2, volumeCap: 70 };
  let v = f.setTarget('t4a', { rules: [{ zone: 'qn', windows: [window], defaultVolume: 60, blackoutDates: [] }] });
  await waitFor(() => a.agent.store.target()?.version === v, { timeoutMs: 10_000, what: 'the quiet-hours rules applied' });
  const s = live.open({ zones: ['qn/dak-ha/thon-4'], title: 'Ngoài giờ', by: 'editor', source: 'terminal' });
  await speak(s, 1500);
  s.end('xong');
  await waitFor(() => f.reports.records('t4a', 'play').some((r) => (r.data as { outcome: string }).outcome === 'refused'), { timeoutMs: 10_000, what: 'the refusal reported' });
  const refused = f.reports.records('t4a', 'play').map((r) => r.data as { outcome: string; rule?: string; source: string }).find((d) => d.outcome === 'refused')!;
  assert.is(refused.source, 'live');
  assert.is(refused.rule, 'quiet-hours');
  assert.is(heard(a.sink.file, VOICE_HZ), 0, 'silent in quiet hours');
  v = f.setTarget('t4a', { rules: [{ zone: 'qn', windows: [window], defaultVolume: 60, blackoutDates: [], liveAnyTime: true, liveVolume: 80 }] });
  await waitFor(() => a.agent.store.target()?.version === v, { timeoutMs: 10_000, what: 'the rules letting live through applied' });
  const s2 = live.open({ zones: ['qn/dak-ha/thon-4'], title: 'Khẩn', by: 'editor', source: 'terminal' });
  await speak(s2, 2000);
  s2.end('xong');
  await waitFor(() => a.sink.timeline.some((e) => e.id === s2.id && e.endFrame !== null), { timeoutMs: 10_000, what: 'the allowed session played' });
  assert.ok(heard(a.sink.file, VOICE_HZ) >= 1.5, 'heard when the rules allow live at any time');
  await a.agent.stop();
  agents.splice(0);
});

test('a cluster whose link drops in the middle of a session goes quiet, then joins the session again when the link is back', async () => {
  const proxy = await startProxy(f.broker.port);
  const a = await startAgent('l1a', proxy.url);
  const s = live.open({ zones: ['qn/son-tay'], title: 'Tiếp sóng', by: 'editor', source: 'terminal' });
  const speaking = speak(s, 16_000);
  await sleep(3000);
  proxy.refuse(true); // the 3G link gone: no frames, no reconnect
  await sleep(5000);
  const cut = a.sink.timeline.filter((e) => e.id === s.id);
  assert.is(cut.length, 1);
  assert.ok(cut[0]!.endFrame !== null, 'the session ended on the cluster while its link was down');
  proxy.refuse(false);
  await speaking;
  s.end('xong');
  await waitFor(() => a.sink.timeline.filter((e) => e.id === s.id).length === 2 && a.sink.timeline.every((e) => e.endFrame !== null), { timeoutMs: 10_000, what: `joined again: ${JSON.stringify(a.sink.timeline)}` });
  const again = a.sink.timeline.filter((e) => e.id === s.id)[1]!;
  assert.ok(heard(a.sink.file, VOICE_HZ, again.startFrame!) >= 2, 'the voice after the link came back');
  await a.agent.stop();
  agents.splice(0);
  await proxy.close();
});

test.run();
