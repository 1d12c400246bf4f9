import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { syncFixture, type SyncFixture } from '../helpers/sync-fixture.js';
import { connect, endAll } from '../helpers/mqtt.js';
import { readWav, toneLevel, onsetOf } from '../helpers/audio.js';
import { cleanupTempDirs, sleep, tempDir, waitFor } from '../helpers/tmp.js';
import { Agent } from '../../device/agent.js';
import { ClockTrust } from '../../device/clock.js';
import { WavFileSink } from '../../audio/wav-sink.js';
import { ALERT_HZ } from '../../audio/tones.js';
import { volumeToGain } from '../../audio/gain.js';
import { PCM } from '../../audio/types.js';
import { silentLogger } from '../../lib/log.js';
import { Signer, type Signed } from '../../protocol/signing.js';
import { topics } from '../../protocol/topics.js';
import type { EmergencyCommand, EmergencyStart, LogRecord } from '../../protocol/payloads.js';
import { localDate, localMinutes, localToEpoch } from '../../schedules/time.js';

// A village agent with a real broker, real ffmpeg decoding, generated tones
// and a WAV file as its horn, on a clock the test sets: what the village
// hears is read back from the WAV file.

let f: SyncFixture;
let dispatch: Awaited<ReturnType<typeof connect>>;
let signer: Signer;
const agents: Agent[] = [];

test.before(async () => {
  // These agents run on clocks the test sets; the province's time beacon would correct them.
  f = await syncFixture({ beacons: false });
  dispatch = await connect(f.broker.url, { clientId: 'dispatch', username: 'dispatch', password: f.p.accounts.dispatch!.secret });
  signer = new Signer(f.p.registry.readPrivateKey('dispatch'));
});
test.after(async () => {
  for (const a of agents) await a.stop().catch(() => {});
  await endAll(dispatch);
  await f.stop();
  cleanupTempDirs();
});

/** A 440 Hz tone of `seconds`, Opus in Ogg, from Debian's ffmpeg: the programme's audio. */
function toneAsset(seconds: number, hz = 440) {
  const file = join(tempDir(), `tone-${hz}.ogg`);
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${seconds}`, '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '64k', file]);
  return f.library.add(readFileSync(file), { title: `Âm thử ${hz} Hz`, mime: 'audio/ogg', durationMs: seconds * 1000, actor: 'test' });
}

/** An agent whose clock runs `offsetMs` ahead of this machine's, trusted or not, playing into a WAV file. */
async function startAgent(id: string, offsetMs: number, trusted: boolean | { v: boolean }, data?: string) {
  const ntp = typeof trusted === 'boolean' ? { v: trusted } : trusted;
  const clock = new ClockTrust({ wall: () => Date.now() + offsetMs, mono: () => performance.now(), ntp: () => ntp.v, rtc: false, beaconTrustMs: 3600_000, correctAboveMs: 2000 });
  const sink = new WavFileSink({ file: join(tempDir(), `${id}.wav`), now: () => clock.now() });
  const agent = new Agent({ config: f.deviceConfig(id, { agent: { audio: { output: 'wav' }, emergency: { holdMs: 1500 } }, ...(data ? { data } : {}) }), log: silentLogger(), clock, sink, relay: null });
  agents.push(agent);
  await agent.start();
  return { agent, sink, clock };
}

/** Epoch ms of the next whole local minute at least `leadMs` ahead of `now`. */
function nextMinute(now: number, leadMs: number): number {
  const m = Math.ceil((now + leadMs) / 60_000) * 60_000;
  return m;
}
const hhmm = (t: number) => {
  const m = localMinutes(t);
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
};

function emergency(o: Partial<EmergencyStart> = {}): EmergencyStart {
  const now = Date.now();
  return { type: 'start', id: randomUUID(), issuedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 600_000).toISOString(), scope: { zones: ['qn/dak-ha'], devices: [] }, level: 4, mode: 'actual', content: { kind: 'standard', clip: 'chime' }, repeat: 1, title: 'Lũ quét', ...o };
}
const send = (env: Signed<EmergencyCommand> | object, zone = 'qn/dak-ha') => dispatch.publishAsync(topics.zoneEmergency(zone), JSON.stringify(env), { qos: 1 });
const records = (device: string, kind: LogRecord['kind']) => f.reports.records(device, kind);

test('a programme plays at its time at the capped volume, and an emergency cuts it, then it resumes', async () => {
  const asset = toneAsset(8);
  // The agent's clock is set so that a whole minute is 3 s away; its programme is due then.
  const realNow = Date.now();
  const due = nextMinute(realNow, 3000);
  const offset = due - 3000 - realNow;
  const v = f.setTarget('t3a', {
    programmes: [{ id: 'ban-tin', title: 'Bản tin', level: 'normal', playlist: [asset.sha256], recurrence: { kind: 'daily', time: hhmm(due) }, resumable: true, zones: ['qn/dak-ha'] }],
    rules: [{ zone: 'qn', windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '00:00', volumeCap: 50 }], defaultVolume: 80, blackoutDates: [] }],
  });
  const { agent, sink } = await startAgent('t3a', offset, true);
  await waitFor(() => agent.store.target()?.version === v && agent.store.target()?.appliedAt, { timeoutMs: 15_000, what: 'target applied' });
  const agentNow = () => Date.now() + offset;
  assert.ok(agentNow() < due, 'synced before the programme is due');
  const prog = await waitFor(() => sink.timeline.find((e) => e.id.startsWith('ban-tin@') && e.startFrame !== null), { timeoutMs: due - agentNow() + 5000, what: 'the programme starting' });
  const startedAtMs = sink.frameToMs(prog.startFrame!);
  assert.ok(Math.abs(startedAtMs - due) < 1500, `started ${startedAtMs - due} ms from its time`);
  assert.is(localDate(due), localDate(startedAtMs));
  // Two seconds in, an actual emergency.
  await sleep(2000);
  const e = emergency({ issuedAt: new Date(agentNow() - 1000).toISOString(), expiresAt: new Date(agentNow() + 600_000).toISOString() });
  await send(signer.sign('emergency', e));
  const alert = await waitFor(() => sink.timeline.find((x) => x.id === e.id && x.startFrame !== null), { what: 'the alert starting' });
  const resumed = await waitFor(() => sink.timeline.find((x) => x.id === prog.id && x !== prog && x.startFrame !== null), { timeoutMs: 20_000, what: 'the programme resuming' });
  await waitFor(() => resumed.endFrame !== null, { timeoutMs: 15_000, what: 'the programme finishing' });
  assert.is(prog.reason, 'preempted');
  assert.ok(alert.startFrame! >= prog.endFrame!, 'the alert starts where the programme was cut');
  assert.ok(resumed.startFrame! >= alert.endFrame!, 'the programme resumes after the alert');
  // The WAV file shows it: 440 Hz at the capped volume, then the alert tone, then 440 Hz again.
  const wav = readWav(sink.file);
  const x = wav.samples;
  const mid = (a: number, b: number) => Math.floor((a + b) / 2);
  const level440 = toneLevel(x, mid(prog.startFrame!, prog.endFrame!), PCM.sampleRate / 10, 440);
  // ffmpeg's sine is at 1/8 of full scale; volume 50 → gain (0.5)³.
  const expected = 0.125 * volumeToGain(50);
  assert.ok(Math.abs(level440 - expected) < expected * 0.25, `440 Hz at ${level440.toFixed(4)}, expected about ${expected.toFixed(4)} (capped volume 50)`);
  assert.ok(onsetOf(x, ALERT_HZ[0], { from: prog.endFrame!, level: 0.05 }) >= prog.endFrame! - PCM.sampleRate / 50, 'the alert tone follows the cut');
  assert.ok(toneLevel(x, resumed.startFrame! + PCM.sampleRate / 10, PCM.sampleRate / 10, 440) > expected * 0.5, 'the programme is heard again');
  const playedFrames = prog.endFrame! - prog.startFrame! + (resumed.endFrame! - resumed.startFrame!);
  assert.ok(Math.abs(playedFrames / PCM.sampleRate - 8) < 0.6, `the programme played ${playedFrames / PCM.sampleRate} s of its 8 s in all: it resumed where it was cut`);
  // At the province: acks received → playing → finished, and the play log.
  await waitFor(() => records('t3a', 'emergency-ack').filter((r) => (r.data as { emergency: string }).emergency === e.id).length >= 3, { timeoutMs: 15_000, what: 'acks at the province' });
  const acks = records('t3a', 'emergency-ack').filter((r) => (r.data as { emergency: string }).emergency === e.id).map((r) => (r.data as { status: string }).status);
  assert.equal(acks, ['received', 'playing', 'finished']);
  await waitFor(() => records('t3a', 'play').some((r) => (r.data as { programme?: string; outcome: string }).programme === 'ban-tin' && (r.data as { outcome: string }).outcome === 'played'), { timeoutMs: 15_000, what: 'the programme in the play log' });
  const played = records('t3a', 'play').find((r) => (r.data as { programme?: string }).programme === 'ban-tin')!.data as { volume: number; outcome: string };
  assert.equal({ outcome: played.outcome, volume: played.volume }, { outcome: 'played', volume: 50 });
});

test('forged, expired, replayed (also after a restart) and out-of-scope commands change nothing and are reported', async () => {
  const data = join(tempDir(), 't3b-data');
  const { agent, sink } = await startAgent('t3b', 0, true, data);
  await waitFor(() => agent.link.connected, { what: 'connected' });
  await sleep(300);
  const good = emergency({ content: { kind: 'standard', clip: 'chime' } });
  await send(signer.sign('emergency', good));
  await waitFor(() => sink.timeline.some((x) => x.id === good.id && x.endFrame !== null), { timeoutMs: 15_000, what: 'the genuine alert played' });
  const before = sink.timeline.length;
  const forger = new Signer((await import('../../protocol/signing.js')).generateSigningKeyPair().privateKey);
  const forged = emergency();
  const expired = emergency({ issuedAt: new Date(Date.now() - 7200_000).toISOString(), expiresAt: new Date(Date.now() - 3600_000).toISOString() });
  const outOfScope = emergency({ scope: { zones: ['qn/son-tay'], devices: [] } });
  await send(forger.sign('emergency', forged));
  await send(signer.sign('emergency', expired));
  await send(signer.sign('emergency', good)); // replay
  await send(signer.sign('emergency', outOfScope), 'qn'); // delivered (province topic) but not for this village
  const codes = async () => {
    await waitFor(() => agent.store.outboxSize() === 0, { what: 'outbox drained' });
    return records('t3b', 'emergency-ack').filter((r) => (r.data as { status: string }).status === 'rejected').map((r) => (r.data as { code: string }).code);
  };
  await waitFor(async () => (await codes()).length >= 4, { timeoutMs: 15_000, what: 'four rejections at the province' });
  assert.equal((await codes()).sort(), ['LOA_E_EMERGENCY_EXPIRED', 'LOA_E_EMERGENCY_REPLAYED', 'LOA_E_EMERGENCY_SCOPE', 'LOA_E_KEY_UNKNOWN'].sort());
  // After a restart the seen id is still known.
  await agent.stop();
  const again = await startAgent('t3b', 0, true, data);
  await waitFor(() => again.agent.link.connected, { what: 'reconnected' });
  await sleep(300);
  await send(signer.sign('emergency', good));
  const replays = () => records('t3b', 'emergency-ack').filter((r) => (r.data as { code?: string }).code === 'LOA_E_EMERGENCY_REPLAYED').length;
  await waitFor(() => replays() >= 2, { timeoutMs: 15_000, what: 'the replay after the restart rejected too' });
  await sleep(500);
  assert.is(sink.timeline.length, before, 'no rejected command reached the horn');
  assert.not.ok(again.sink.timeline.some((x) => x.id === good.id), 'nor after the restart');
});

test('with the clock untrusted, a programme waits and an emergency plays after its hold; trust within the grace period plays the programme', async () => {
  const asset = toneAsset(3, 660);
  const realNow = Date.now();
  const due = nextMinute(realNow, 3000);
  const offset = due - 3000 - realNow;
  f.setTarget('l1a', {
    programmes: [{ id: 'tin-lang', title: 'Tin làng', level: 'normal', playlist: [asset.sha256], recurrence: { kind: 'daily', time: hhmm(due) }, resumable: false, zones: ['qn'] }],
    rules: [],
  });
  const ntp = { v: false };
  const { agent, sink } = await startAgent('l1a', offset, ntp);
  await waitFor(() => agent.store.target()?.appliedAt, { timeoutMs: 15_000, what: 'target applied' });
  await sleep(Math.max(0, due - (Date.now() + offset)) + 1500);
  assert.is(sink.timeline.length, 0, 'the programme did not play');
  assert.not.ok(records('l1a', 'play').length, 'and was not refused either: by an untrusted clock it is not known to be due');
  // Signed with times this machine knows; the agent cannot check them: it waits for the time, then plays it on what it knows.
  const e = emergency({ scope: { zones: ['qn/son-tay'], devices: [] } });
  const sent = Date.now();
  await send(signer.sign('emergency', e), 'qn/son-tay');
  await waitFor(() => sink.timeline.some((x) => x.id === e.id && x.startFrame !== null), { what: 'the emergency playing' });
  assert.ok(Date.now() - sent >= 1400, 'held for the time first');
  const ack = () => records('l1a', 'emergency-ack').find((r) => (r.data as { status: string }).status === 'received');
  await waitFor(ack, { what: 'received ack' });
  assert.match((ack()!.data as { reason?: string }).reason ?? '', /clock untrusted/);
  // NTP synchronises 7 s after the item's time: within its grace period it plays (after the emergency).
  ntp.v = true;
  await waitFor(() => sink.timeline.some((x) => x.id.startsWith('tin-lang@')), { timeoutMs: 20_000, what: 'the programme playing once the clock is trusted' });
  assert.ok(localToEpoch(localDate(due), hhmm(due)) === due);
});

test.run();
