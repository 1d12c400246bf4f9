import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { checkCommand, checkTime, emergencyRequest, EmergencyRateLimit, restartPoint, type TimeKnowledge } from '../../device/emergency.js';
import { ClockTrust } from '../../device/clock.js';
import type { EmergencyStart } from '../../protocol/payloads.js';

const now = Date.parse('2026-11-26T01:00:00.000Z');
const cmd = (o: Partial<EmergencyStart> = {}): EmergencyStart => ({
  type: 'start',
  id: randomUUID(),
  issuedAt: new Date(now - 1000).toISOString(),
  expiresAt: new Date(now + 3600_000).toISOString(),
  scope: { zones: ['qn/dak-ha'], devices: [] },
  level: 4,
  mode: 'actual',
  content: { kind: 'standard', clip: 'siren' },
  repeat: 2,
  ...o,
});
const ctx = { deviceId: 't3a', zone: 'qn/dak-ha/thon-3', seen: () => false };
const clock: TimeKnowledge = { kind: 'clock', now, receivedAt: now };
const admit = (c: EmergencyStart, x = ctx, time: TimeKnowledge = clock) => {
  const a = checkCommand(c, x);
  if (!a.ok) return a.code;
  const t = checkTime(c, time, 30_000);
  return t.ok ? 'ok' : t.code;
};

test('expired, future, replayed, out-of-scope and inconsistent commands are refused with a code', () => {
  assert.is(admit(cmd()), 'ok');
  assert.is(admit(cmd({ expiresAt: new Date(now - 1).toISOString(), issuedAt: new Date(now - 7200_000).toISOString() })), 'LOA_E_EMERGENCY_EXPIRED');
  assert.is(admit(cmd({ issuedAt: new Date(now + 60_000).toISOString() })), 'LOA_E_EMERGENCY_FUTURE');
  assert.is(admit(cmd({ issuedAt: new Date(now + 20_000).toISOString() })), 'ok', 'within the allowed skew');
  assert.is(admit(cmd(), { ...ctx, seen: () => true }), 'LOA_E_EMERGENCY_REPLAYED');
  assert.is(admit(cmd({ scope: { zones: ['qn/son-tay'], devices: [] } })), 'LOA_E_EMERGENCY_SCOPE');
  assert.is(admit(cmd({ scope: { zones: [], devices: ['t3a'] } })), 'ok', 'addressed to the device itself');
  assert.is(admit(cmd({ scope: { zones: ['qn'], devices: [] } })), 'ok', 'an ancestor zone');
  assert.is(admit(cmd({ expiresAt: new Date(now - 5000).toISOString() })), 'LOA_E_EMERGENCY_INVALID');
  // Held while the clock was not trusted: expiry is judged now, the skew by when it arrived.
  assert.is(admit(cmd({ issuedAt: new Date(now + 60_000).toISOString() }), ctx, { kind: 'clock', now: now + 70_000, receivedAt: now + 59_000 }), 'ok');
});

test('with an untrusted clock only a time known to have passed can refuse: a stale command never becomes live', () => {
  const stale = cmd({ issuedAt: new Date(now - 120_000).toISOString(), expiresAt: new Date(now - 60_000).toISOString() });
  assert.is(admit(stale, ctx, { kind: 'floor', floor: null }), 'ok', 'nothing known: it must sound');
  assert.is(admit(stale, ctx, { kind: 'floor', floor: now - 59_000 }), 'LOA_E_EMERGENCY_EXPIRED', 'a floor past its expiry refuses it');
  assert.is(admit(cmd(), ctx, { kind: 'floor', floor: now }), 'ok');
  assert.is(admit(cmd(), { ...ctx, seen: () => true }, { kind: 'floor', floor: null }), 'LOA_E_EMERGENCY_REPLAYED');
  const r = emergencyRequest(cmd(), 100, () => true, false);
  assert.is(r.notAfter, null, 'no expiry the device could judge');
});

test('an emergency cut by a restart plays again from the start of the repetition it was in', () => {
  const r = emergencyRequest(cmd({ repeat: 3 }), 90, () => true, true); // alert 3 s, siren 10 s, × 3
  assert.is(restartPoint(r, 0), 0);
  assert.is(restartPoint(r, 12_000), 0);
  assert.is(restartPoint(r, 13_000), 13_000);
  assert.is(restartPoint(r, 30_000), 26_000);
  assert.is(restartPoint(r, 99_000), 26_000);
});

test('an emergency plays the alert tone first, the drill preamble in exercise mode, the content, repeated', () => {
  const sha = 'c'.repeat(64);
  const asset = { sha256: sha, size: 1000, durationMs: 20_000, mime: 'audio/ogg' as const };
  const r = emergencyRequest(cmd({ mode: 'exercise', repeat: 2, content: { kind: 'asset', asset } }), 95, () => true, true);
  assert.equal(r.segments.map((s) => (s.kind === 'tone' ? s.tone : s.kind)), ['alert', 'drill', 'asset', 'alert', 'drill', 'asset']);
  assert.ok(r.title!.startsWith('DIỄN TẬP'));
  assert.is(r.level, 'emergency');
  assert.is(r.volume, 95);
  assert.not.ok(r.requiresTrustedClock);
  // A clip not on the device yet: the siren fills while it is fetched.
  const missing = emergencyRequest(cmd({ repeat: 1, content: { kind: 'asset', asset } }), 95, () => false, true);
  assert.equal(missing.segments.map((s) => (s.kind === 'tone' ? s.tone : s.kind)), ['alert', 'siren', 'asset']);
  assert.ok(emergencyRequest(cmd({ mode: 'test', repeat: 1 }), 95, () => true, true).title!.startsWith('THỬ NGHIỆM'));
});

test('a flood of emergencies is rate-limited', () => {
  const l = new EmergencyRateLimit(3, 60_000);
  assert.equal([l.admit(0), l.admit(1), l.admit(2), l.admit(3)], [true, true, true, false]);
  assert.ok(l.admit(60_001));
});

function virtualClock(startWall: number) {
  const t = { wall: startWall, mono: 1000, ntp: false, nonces: 0 };
  const c = new ClockTrust({ wall: () => t.wall, mono: () => t.mono, ntp: () => t.ntp, rtc: false, beaconTrustMs: 6 * 3600_000, correctAboveMs: 2000, nonce: () => `nonce-${++t.nonces}` });
  const pass = (ms: number) => {
    t.wall += ms;
    t.mono += ms;
  };
  return { t, c, pass };
}
const beacon = (at: string, o: Partial<{ seq: number; nonce: string }> = {}) => ({ at, validMs: 120_000, seq: o.seq ?? 1, ...(o.nonce ? { nonce: o.nonce } : {}) });
const iso = (ms: number) => new Date(ms).toISOString();

test('clock trust: an answered time request sets and trusts the clock; it then runs on the monotonic clock', () => {
  const { t, c, pass } = virtualClock(Date.parse('1970-01-01T00:01:00Z')); // a Pi without RTC, before NTP
  assert.is(c.trusted, false);
  const nonce = c.requestTime();
  pass(400); // the round trip
  const r = c.onBeacon(beacon('2026-11-26T01:00:00.000Z', { nonce }));
  assert.ok(r.ok && r.answered && r.correctedByMs > 0);
  assert.is(c.source, 'beacon');
  assert.is(iso(c.now()), '2026-11-26T01:00:00.200Z', 'the middle of [at, at + round trip]');
  pass(10_000);
  assert.is(iso(c.now()), '2026-11-26T01:00:10.200Z');
  // Someone sets the wall clock to 1970 (or an RTC battery dies): the agent's time does not move.
  t.wall = 5000;
  pass(1000);
  assert.is(iso(c.now()), '2026-11-26T01:00:11.200Z');
  // An answer to a question never asked (or a replayed one) is refused.
  assert.not.ok(c.onBeacon(beacon('2026-11-26T02:00:00.000Z', { nonce })).ok);
  assert.not.ok(c.onBeacon(beacon('2026-11-26T02:00:00.000Z', { nonce: 'never-asked-1' })).ok);
  pass(6 * 3600_000 + 1);
  assert.is(c.trusted, false, 'trust runs out without beacons');
  t.ntp = true;
  assert.is(c.source, 'ntp');
});

test('clock trust: a stale beacon never steps the clock back and never makes it trusted (finding 3a)', () => {
  const start = Date.parse('2026-11-26T01:00:00.000Z');
  const { c, pass } = virtualClock(start);
  const nonce = c.requestTime();
  pass(100);
  assert.ok(c.onBeacon(beacon(iso(start), { nonce })).ok);
  assert.ok(c.trusted);
  // The agent is stopped for 100 s; beacons sent meanwhile wait in its socket and arrive together, 80 s late.
  pass(100_000);
  const before = c.now();
  const r = c.onBeacon(beacon(iso(start + 20_000), { seq: 2 }));
  assert.ok(r.ok);
  assert.is(r.ok && r.correctedByMs, 0, 'not stepped back');
  assert.is(c.now(), before);
  // Later than it can be (validMs): it asks what the time is instead.
  const r3 = c.onBeacon(beacon(iso(before - 130_000), { seq: 3 }));
  assert.ok(r3.ok && r3.correctedByMs === 0 && r3.wantTime);
  assert.is(c.now(), before);
  // An untrusted clock (fresh boot, wall at the build date) is moved forward by an unsolicited beacon but stays untrusted.
  const fresh = virtualClock(Date.parse('2026-01-01T00:00:00Z'));
  const f = fresh.c.onBeacon(beacon(iso(start), { seq: 5 }));
  assert.ok(f.ok && f.correctedByMs > 0 && f.wantTime);
  assert.is(fresh.c.now(), start);
  assert.is(fresh.c.trusted, false);
  assert.is(fresh.c.floor(), start, 'but the time is known to be at least that');
});

test('clock trust: a clock ahead is set back only by an answer; agreeing beacons extend trust', () => {
  const truth = Date.parse('2026-11-26T01:00:00.000Z');
  const { c, pass } = virtualClock(truth + 3 * 3600_000); // 3 hours ahead, no anchor yet
  const r1 = c.onBeacon(beacon(iso(truth), { seq: 1 }));
  assert.ok(r1.ok && r1.correctedByMs === 0 && r1.wantTime);
  const nonce = c.requestTime();
  pass(200);
  const r2 = c.onBeacon(beacon(iso(truth + 100), { nonce }));
  assert.ok(r2.ok && r2.correctedByMs < -3 * 3600_000 + 1000);
  assert.is(iso(c.now()), iso(truth + 200));
  // The periodic beacons agree: trust is extended past the first answer's six hours.
  for (let i = 1; i <= 7; i++) {
    pass(3600_000);
    const r = c.onBeacon(beacon(iso(c.now() - 300), { seq: 1 + i }));
    assert.ok(r.ok && !r.wantTime && r.correctedByMs === 0);
  }
  assert.ok(c.trusted);
  // An answer that took a minute is too uncertain.
  const late = c.requestTime();
  pass(60_000);
  const r3 = c.onBeacon(beacon(iso(c.now() - 30_000), { nonce: late }));
  assert.not.ok(r3.ok);
  // A beacon replayed an hour later is refused.
  const old = beacon(iso(c.now()), { seq: 50 });
  assert.ok(c.onBeacon(old).ok);
  pass(3600_000);
  assert.not.ok(c.onBeacon(old).ok);
});

test('clock trust: a slow answer sets the clock roughly and asks again; a sharper answer corrects it', () => {
  const truth = Date.parse('2026-11-26T01:00:00.000Z');
  const { c, pass } = virtualClock(truth - 50_000);
  // The province was busy: its answer was made just after the question but arrived 3 s later.
  const n1 = c.requestTime();
  pass(3000);
  const r1 = c.onBeacon(beacon(iso(truth + 20), { nonce: n1 }));
  assert.ok(r1.ok && r1.wantTime, 'asks again');
  const off1 = c.now() - (truth + 3000);
  assert.ok(Math.abs(off1) <= 1500, `off by ${off1} ms: within half the round trip`);
  pass(10_000);
  const n2 = c.requestTime();
  pass(60);
  const r2 = c.onBeacon(beacon(iso(truth + 13_000 + 30), { nonce: n2 }));
  assert.ok(r2.ok && !r2.wantTime);
  const off2 = c.now() - (truth + 13_060);
  assert.ok(Math.abs(off2) <= 30, `off by ${off2} ms after the sharper answer`);
});

test.run();
