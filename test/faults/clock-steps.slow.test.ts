import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ALERT_HZ } from '../../audio/tones.js';
import { useFaultWorld, FakeClock, nextMinute, oneOff, sleep, toneAsset, untilDue } from './world.js';
import { tempDir, waitFor } from '../helpers/tmp.js';
import { localDate } from '../../schedules/time.js';

// Clocks that are wrong or jump. Finding 7: an agent 3 h off recorded a 19 s
// siren as 10:05–13:05, and the commune's airtime report showed 180
// emergency minutes. Finding 4: acks stamped before and after a clock step
// arrived out of order, and the roll-up showed "received" for an emergency
// that played to the end. Also: the wall clock stepped by hours, and to 1970,
// under a running agent.
//
// Nothing wrong means here: programmes play at their time whatever the wall
// clock does once the province has told the time; records made before the
// clock was known reach the province with corrected times (or marked); the
// roll-up says what each device last did, by the device's own sequence.

const w = useFaultWorld(test);

type Play = { outcome: string; programme?: string; emergency?: string; start: string; end?: string; level: string };
const near = (iso: string | undefined, at: number, slackMs: number, what: string) => assert.ok(iso && Math.abs(Date.parse(iso) - at) <= slackMs, `${what}: ${iso} is not within ${slackMs} ms of ${new Date(at).toISOString()}`);

/** The wall clock goes +3 h, back 3 h and to 1970 under a running agent: its programme plays at the province's time, its records say so. */
async function wallClockSteps(when: ReturnType<typeof nextMinute>) {
  const asset = toneAsset(w, 12, 659);
  w.setTarget('t3a', { assets: [asset.sha256], programmes: [oneOff('tin-gio', asset.sha256, when)] });
  const a = await w.agent('t3a');
  const clock = new FakeClock(tempDir(), '+0');
  await a.start({ clock });
  await a.waitLog((l) => l.msg === 'target applied', 'target applied', 60_000);
  await a.waitLog((l) => l.msg === 'the province answered with the time', 'the clock set');
  clock.set('+3h');
  await sleep(3000);
  clock.set('-3h');
  await sleep(3000);
  clock.set('@1970-01-01 00:00:05');
  const playing = await a.waitLog((l) => l.msg === 'playing' && String(l.id).startsWith('tin-gio@'), 'the programme playing', untilDue(when));
  assert.ok(playing, 'played');
  await waitFor(() => w.records('t3a', 'play').length, { timeoutMs: 40_000, what: 'its play reported' });
  const [p] = w.records('t3a', 'play').map((r) => r.data as Play);
  assert.is(p!.outcome, 'played');
  near(p!.start, when.at, 1500, 'start');
  near(p!.end, when.at + 12_000, 2500, 'end');
  assert.ok(a.soundedSeconds(659) >= 10, 'the village heard it');
}

/**
 * The wall clock 3 h ahead and no time from the province (its answers take
 * longer than an answer may): two emergencies play on the untrusted clock,
 * the second still playing when the link recovers and the time is learned.
 */
async function untrustedThenCorrected() {
  const a = await w.agent('t3b', { clock: { ntpFlag: null, maxAnswerMs: 400 }, emergency: { holdMs: 3000 } });
  a.proxy.delay(300); // a round trip of at least 600 ms: every answer is too late to set the clock by
  const clock = new FakeClock(tempDir(), '+3h');
  await a.start({ clock });
  await a.waitLog((l) => l.msg === 'time beacon refused', 'a late answer refused', 120_000);
  const short = await w.dispatch({ devices: ['t3b'], mode: 'test', content: { kind: 'standard', clip: 'chime' }, repeat: 1, title: 'Thử còi ngắn' });
  const long = await w.dispatch({ devices: ['t3b'], mode: 'test', content: { kind: 'standard', clip: 'siren' }, repeat: 2, title: 'Thử còi dài' });
  // The first plays (≈ 10 s) and the second starts while the clock is still untrusted.
  await a.waitLog((l) => l.msg === 'playing' && l.id === long.id, 'the long one playing', 90_000);
  const sentAt = Date.now();
  a.proxy.delay(0);
  await a.waitLog((l) => l.msg === 'the province answered with the time' && Math.abs(Number(l.correctedByMs)) > 3 * 3600_000 - 60_000, 'the clock set back 3 h', 60_000);
  await waitFor(async () => (await w.rollup(long.id)).zones[0]?.counts.finished === 1, { timeoutMs: 60_000, what: 'the long one finished, in the roll-up' });
  // Records stamped +3 h before the time was known reach the province corrected (the play records waited for it).
  await waitFor(() => w.records('t3b', 'play').length >= 2, { timeoutMs: 30_000, what: 'both plays reported' });
  const plays = w.records('t3b', 'play').map((r) => r.data as Play);
  const pShort = plays.find((p) => p.emergency === short.id)!;
  const pLong = plays.find((p) => p.emergency === long.id)!;
  for (const p of [pShort, pLong]) {
    assert.is(p.outcome, 'played', JSON.stringify(p));
    const len = Date.parse(p.end!) - Date.parse(p.start);
    assert.ok(len > 5_000 && len < 60_000, `${p.emergency} lasted ${len} ms by its record`);
    assert.ok(Math.abs(Date.parse(p.start) - sentAt) < 120_000, `${p.emergency} start ${p.start} is today's time, not 3 h off`);
  }
  assert.ok(Date.parse(pShort.end!) <= Date.parse(pLong.start) + 1000, 'in the order they played');
  // The roll-ups, as a dispatcher reads them, in spite of stamps 3 h apart.
  for (const id of [short.id, long.id]) assert.equal((await w.rollup(id)).devices.map((d) => d.status), ['finished'], id);
  // The commune's airtime report: a minute or so of emergency, not 180.
  const air = (await w.api('GET', `/api/reports/airtime?zone=qn&week=${localDate(Date.now() - 6 * 86_400_000)}`)) as { rows: { commune: string; emergencyMinutes: number }[] };
  const dakHa = air.rows.find((r) => r.commune === 'qn/dak-ha');
  assert.ok(dakHa && dakHa.emergencyMinutes > 0.1 && dakHa.emergencyMinutes < 2, JSON.stringify(air.rows));
  assert.ok(a.soundedSeconds(ALERT_HZ[0]) >= 4);
}

test('wall clocks stepped by hours and to 1970; records made before the time was known; roll-ups across a 3 h step', async () => {
  const when = nextMinute(40_000);
  await Promise.all([wallClockSteps(when), untrustedThenCorrected()]);
});

test.run();
