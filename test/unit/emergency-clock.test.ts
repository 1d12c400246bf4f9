import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { admitEmergency, emergencyRequest, EmergencyRateLimit } from '../../device/emergency.js';
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
const ctx = { deviceId: 't3a', zone: 'qn/dak-ha/thon-3', now, skewMs: 30_000, clockTrusted: true, seen: () => false };

test('expired, future, replayed, out-of-scope and inconsistent commands are refused with a code', () => {
  assert.equal(admitEmergency(cmd(), ctx), { ok: true, timeChecked: true });
  const code = (c: EmergencyStart, x = ctx) => {
    const r = admitEmergency(c, x);
    return r.ok ? 'ok' : r.code;
  };
  assert.is(code(cmd({ expiresAt: new Date(now - 1).toISOString(), issuedAt: new Date(now - 7200_000).toISOString() })), 'LOA_E_EMERGENCY_EXPIRED');
  assert.is(code(cmd({ issuedAt: new Date(now + 60_000).toISOString() })), 'LOA_E_EMERGENCY_FUTURE');
  assert.is(code(cmd({ issuedAt: new Date(now + 20_000).toISOString() })), 'ok', 'within the allowed skew');
  assert.is(code(cmd(), { ...ctx, seen: () => true }), 'LOA_E_EMERGENCY_REPLAYED');
  assert.is(code(cmd({ scope: { zones: ['qn/son-tay'], devices: [] } })), 'LOA_E_EMERGENCY_SCOPE');
  assert.is(code(cmd({ scope: { zones: [], devices: ['t3a'] } })), 'ok', 'addressed to the device itself');
  assert.is(code(cmd({ scope: { zones: ['qn'], devices: [] } })), 'ok', 'an ancestor zone');
  assert.is(code(cmd({ expiresAt: new Date(now - 5000).toISOString() })), 'LOA_E_EMERGENCY_INVALID');
});

test('with an untrusted clock the time checks are skipped, the others are not', () => {
  const untrusted = { ...ctx, clockTrusted: false, now: Date.parse('1970-01-01T00:05:00Z') };
  assert.equal(admitEmergency(cmd(), untrusted), { ok: true, timeChecked: false });
  assert.is((admitEmergency(cmd(), { ...untrusted, seen: () => true }) as { code: string }).code, 'LOA_E_EMERGENCY_REPLAYED');
  const r = emergencyRequest(cmd(), 100, () => true, false);
  assert.is(r.notAfter, null, 'no expiry the device could judge');
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

test('clock trust: NTP, a beacon that corrects the clock, a replayed beacon, and trust that runs out', () => {
  let wall = Date.parse('1970-01-01T00:01:00Z'); // a Pi without RTC, before NTP
  let mono = 1000;
  let ntp = false;
  const c = new ClockTrust({ wall: () => wall, mono: () => mono, ntp: () => ntp, rtc: false, beaconTrustMs: 6 * 3600_000, correctAboveMs: 2000 });
  assert.is(c.trusted, false);
  const b1 = { at: '2026-11-26T01:00:00.000Z', validMs: 60_000, seq: 1 };
  const r = c.onBeacon(b1);
  assert.ok(r.ok && r.correctedByMs > 0);
  assert.is(c.source, 'beacon');
  assert.is(new Date(c.now()).toISOString(), b1.at);
  mono += 10_000;
  wall += 10_000;
  assert.is(new Date(c.now()).toISOString(), '2026-11-26T01:00:10.000Z');
  // The same beacon recorded and played back an hour later is refused.
  mono += 3600_000;
  wall += 3600_000;
  assert.not.ok(c.onBeacon(b1).ok);
  mono += 6 * 3600_000;
  assert.is(c.trusted, false, 'beacon trust runs out');
  ntp = true;
  assert.is(c.source, 'ntp');
});

test.run();
