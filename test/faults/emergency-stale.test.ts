import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { ALERT_HZ } from '../../audio/tones.js';
import { emergency, useFaultWorld, FakeClock, sleep, type FaultAgent } from './world.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

// Finding 3: expired emergencies were played. (a) An agent stopped (SIGSTOP)
// across an emergency with a short expiry rejected the first copy, then a
// stale time beacon stepped its clock back and the redelivered copy played.
// (b) An agent restarted after such an emergency played it with its clock
// untrusted ("expiry not checked"), a store-wiped one 15 minutes late.
//
// Nothing lost, nothing wrong, means here: no expired command sounds (the
// alert tone never reaches the horn), each is reported rejected as expired,
// and a valid one sent to an agent whose clock is wrong still sounds.

const w = useFaultWorld(test);

type Ack = { emergency: string; status: string; code?: string; reason?: string };
const acks = (device: string, id: string) => w.records(device, 'emergency-ack').map((r) => r.data as Ack).filter((a) => a.emergency === id);
const trusted = (a: FaultAgent) => a.waitLog((l) => l.msg === 'the province answered with the time', 'the clock set by the province');

/** (a) SIGSTOP for 35 s across an emergency valid for 20 s: beacons pile up in its socket, the broker redelivers the command. */
async function stoppedAcrossExpiry() {
  const a = await w.agent('t3a');
  await a.start();
  await trusted(a);
  const pid = a.current!.proc.child.pid!;
  process.kill(pid, 'SIGSTOP');
  const cmd = emergency({ scope: { zones: [], devices: ['t3a'] }, expiresAt: new Date(Date.now() + 20_000).toISOString() });
  await w.publishEmergency(cmd);
  await sleep(35_000);
  process.kill(pid, 'SIGCONT');
  await waitFor(() => acks('t3a', cmd.id).some((x) => x.status === 'rejected'), { timeoutMs: 30_000, what: 'the expired command reported' });
  await sleep(12_000); // the redelivered copy, and a beacon or two, arrive meanwhile
  assert.ok(a.alive, 'the agent runs');
  const got = acks('t3a', cmd.id);
  assert.ok(got.every((x) => x.status === 'rejected'), JSON.stringify(got));
  assert.ok(got.some((x) => x.code === 'LOA_E_EMERGENCY_EXPIRED'), JSON.stringify(got));
  assert.is(a.soundedSeconds(ALERT_HZ[0]), 0, 'the horn stayed silent');
}

/** (a') The link goes silent for 35 s (TCP hangs; nothing is lost, it all comes late) across an emergency valid for 20 s. */
async function linkSilentAcrossExpiry() {
  const a = await w.agent('l1a');
  await a.start();
  await trusted(a);
  a.proxy.blackhole(true);
  const cmd = emergency({ scope: { zones: [], devices: ['l1a'] }, expiresAt: new Date(Date.now() + 20_000).toISOString() });
  await w.publishEmergency(cmd);
  await sleep(35_000);
  a.proxy.blackhole(false);
  await waitFor(() => acks('l1a', cmd.id).length, { timeoutMs: 40_000, what: 'l1a: the expired command reported' });
  await sleep(8000);
  const got = acks('l1a', cmd.id);
  assert.ok(got.every((x) => x.status === 'rejected') && got.some((x) => x.code === 'LOA_E_EMERGENCY_EXPIRED'), JSON.stringify(got));
  assert.is(a.soundedSeconds(ALERT_HZ[0]), 0, 'l1a: the horn stayed silent');
  await a.kill('SIGTERM');
}

/** (b) Down while an emergency valid for 15 s was sent; back 25 s later with its wall clock 3 h behind — once with its store, once wiped. */
async function restartedAfterExpiry(id: 't3b' | 't4a', wipe: boolean) {
  const a = await w.agent(id);
  await a.start();
  await trusted(a);
  await a.kill('SIGTERM');
  const cmd = emergency({ scope: { zones: [], devices: [id] }, issuedAt: new Date(Date.now() - 1000).toISOString(), expiresAt: new Date(Date.now() + 15_000).toISOString() });
  await w.publishEmergency(cmd);
  await sleep(25_000);
  if (wipe) rmSync(a.data, { recursive: true, force: true });
  await a.start({ clock: new FakeClock(tempDir(), '-3h') });
  await waitFor(() => acks(id, cmd.id).length, { timeoutMs: 30_000, what: `${id}: the stale command reported` });
  await sleep(3000);
  const got = acks(id, cmd.id);
  assert.equal(
    got.map((x) => [x.status, x.code]),
    [['rejected', 'LOA_E_EMERGENCY_EXPIRED']],
    `${id}${wipe ? ' (store wiped)' : ''}: ${JSON.stringify(got)}`,
  );
  assert.is(a.soundedSeconds(ALERT_HZ[0]), 0, `${id}: the horn stayed silent`);
  return a;
}

test('an expired emergency never sounds: not after SIGSTOP or a silent link with stale beacons, not after a restart with the clock 3 h off, not with a wiped store', async () => {
  await Promise.all([stoppedAcrossExpiry(), linkSilentAcrossExpiry(), restartedAfterExpiry('t3b', false), restartedAfterExpiry('t4a', true)]);
});

test('a valid emergency reaches an agent whose wall clock says 1970: it waits for the time, then sounds', async () => {
  const a = await w.agent('l1a');
  const clock = new FakeClock(tempDir(), '@1970-01-01 00:00:05');
  await a.start({ clock });
  await trusted(a);
  const cmd = emergency({ scope: { zones: ['qn/son-tay'], devices: [] } });
  await w.publishEmergency(cmd);
  await waitFor(() => acks('l1a', cmd.id).some((x) => x.status === 'finished'), { timeoutMs: 40_000, what: 'the emergency played to the end' });
  const got = acks('l1a', cmd.id);
  assert.equal(got.map((x) => x.status), ['received', 'playing', 'finished']);
  assert.is(got[0]!.reason, undefined, 'its time was checked against the province\'s');
  assert.ok(a.soundedSeconds(ALERT_HZ[0]) >= 2, 'heard in the village');
});

test.run();
