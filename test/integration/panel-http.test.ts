import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { syncFixture, type SyncFixture } from '../helpers/sync-fixture.js';
import { PanelClient, quietNightTarget, startPanelAgent, type PanelAgent } from '../helpers/panel.js';
import { Panel } from '../../device/panel/server.js';
import { silentLogger } from '../../lib/log.js';
import type { NetworkInterfaceInfo } from 'node:os';
import { connect, endAll } from '../helpers/mqtt.js';
import { cleanupTempDirs, sleep, tempDir, waitFor } from '../helpers/tmp.js';
import { Signer } from '../../protocol/signing.js';
import { topics } from '../../protocol/topics.js';
import type { EmergencyStart, RuleProfile } from '../../protocol/payloads.js';
import { localDate } from '../../schedules/time.js';
import { rotatePanelPassword } from '../../provisioning/targets.js';

// The local panel over real HTTP on loopback, in front of a real agent with a
// real broker and a WAV horn: logging in and out, lockout, session expiry and
// password rotation, status, the plan, volume within the cap, stopping what
// plays (and the emergency rule), and what reaches the province.

let f: SyncFixture;
let dispatch: Awaited<ReturnType<typeof connect>>;
let signer: Signer;
const running: PanelAgent[] = [];

test.before(async () => {
  f = await syncFixture({ beacons: false });
  dispatch = await connect(f.broker.url, { clientId: 'dispatch', username: 'dispatch', password: f.p.accounts.dispatch!.secret });
  signer = new Signer(f.p.registry.readPrivateKey('dispatch'));
});
test.after(async () => {
  for (const r of running) await r.panel.stop().catch(() => {});
  for (const r of running) await r.agent.stop().catch(() => {});
  await endAll(dispatch);
  await f.stop();
  cleanupTempDirs();
});

const ALL_DAY = (cap: number, extra: Partial<RuleProfile> = {}): RuleProfile => ({ zone: 'qn', windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '00:00', volumeCap: cap }], defaultVolume: 60, blackoutDates: [], ...extra });

function toneAsset(seconds: number, hz = 440) {
  const file = join(tempDir(), `tone-${hz}-${seconds}.ogg`);
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${seconds}`, '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '48k', file]);
  return f.library.add(readFileSync(file), { title: `Âm thử ${hz} Hz`, mime: 'audio/ogg', durationMs: seconds * 1000, actor: 'test' });
}

async function start(id: string, opts: Parameters<typeof startPanelAgent>[2] = {}) {
  const r = await startPanelAgent(f, id, opts);
  running.push(r);
  return r;
}

const applied = (r: PanelAgent, v: number) => waitFor(() => r.agent.store.target()?.version === v && r.agent.store.target()?.appliedAt, { timeoutMs: 15_000, what: `target ${v} applied` });

test('nothing without a session; a wrong password is refused; the typed password may be capitalised; CSRF; logout', async () => {
  const v = f.setTarget('t3a', { rules: [ALL_DAY(80)] });
  const r = await start('t3a');
  await applied(r, v);
  const c = r.client();
  for (const [m, p] of [['GET', '/api/status'], ['GET', '/api/plan'], ['GET', '/api/log'], ['GET', '/api/clips'], ['POST', '/api/volume'], ['POST', '/api/stop'], ['POST', '/api/announce']] as const) {
    const res = await c.req(m, p, m === 'POST' ? {} : undefined);
    assert.is(res.status, 401, `${m} ${p} without a session`);
    assert.is(res.body.error.code, 'LOA_E_UNAUTHENTICATED');
  }
  const bad = await c.login('sai-mat-khau');
  assert.is(bad.status, 401);
  assert.match(bad.body.error.message, /wrong panel password/);
  assert.is((await c.req('POST', '/api/login', { pass: 'x' })).status, 400, 'a malformed login body');
  // A phone capitalises the first letter; dashes dropped.
  const typed = r.password.replace(/-/g, ' ');
  const ok = await c.login(typed[0]!.toUpperCase() + typed.slice(1));
  assert.is(ok.status, 200);
  assert.type(ok.body.csrf, 'string');
  assert.ok(c.cookie.startsWith('loa_panel='));
  const me = await c.req('GET', '/api/me');
  assert.is(me.body.csrf, ok.body.csrf);
  const forged = await c.req('POST', '/api/volume', { volume: 10 }, { 'x-csrf-token': 'not-the-token' });
  assert.is(forged.status, 403);
  assert.is(forged.body.error.code, 'LOA_E_CSRF');
  assert.is((await c.req('POST', '/api/logout')).status, 200);
  assert.is((await c.req('GET', '/api/status')).status, 401, 'the session ended');
  // The failed and the good login, and the logout, are operator records for the province.
  const actions = r.agent.store.recentJournal(20, 'operator').map((x) => (x.data as { action: string }).action);
  assert.equal(actions.slice(0, 3), ['logout', 'login', 'login.failed']);
  // The UI is served, with its CSP.
  const page = await c.req('GET', '/');
  assert.is(page.status, 200);
  assert.match(String(page.body), /<html lang="vi">/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
});

test('failed logins back off per address (429 with Retry-After, even for the right password), then let the operator in', async () => {
  let now = Date.now();
  const r = await start('t3b', { now: () => now });
  const c = r.client();
  for (let i = 0; i < 5; i++) assert.is((await c.login('wrong-' + i)).status, 401);
  const locked = await c.login(r.password);
  assert.is(locked.status, 429);
  assert.is(locked.body.error.code, 'LOA_E_LOGIN_THROTTLED');
  assert.ok(Number(locked.headers.get('retry-after')) >= 1);
  now += 1500;
  assert.is((await c.login('wrong-again')).status, 401);
  const longer = await c.login(r.password);
  assert.is(longer.status, 429, 'the wait doubles after another failure');
  assert.ok(Number(longer.headers.get('retry-after')) >= 2);
  now += 5000;
  assert.is((await c.login(r.password)).status, 200);
});

test('sessions expire when idle and at their maximum age; a password rotated by the province ends them', async () => {
  let now = Date.now();
  const r = await start('t4a', { now: () => now, idleMs: 60_000, maxMs: 150_000 });
  const c = r.client();
  assert.is((await c.login(r.password)).status, 200);
  now += 50_000;
  assert.is((await c.req('GET', '/api/status')).status, 200);
  now += 50_000;
  assert.is((await c.req('GET', '/api/status')).status, 200, 'activity keeps it alive');
  now += 61_000;
  assert.is((await c.req('GET', '/api/status')).status, 401, 'idle for more than a minute');
  assert.is((await c.login(r.password)).status, 200);
  for (let i = 0; i < 3; i++) {
    now += 50_000;
    await c.req('GET', '/api/status');
  }
  assert.is((await c.req('GET', '/api/status')).status, 401, 'older than its maximum age');
  // Rotation at the province: a new hash in the next target state.
  assert.is((await c.login(r.password)).status, 200);
  const v0 = f.setTarget('t4a', { rules: [ALL_DAY(80)] });
  await applied(r, v0);
  const rot = await rotatePanelPassword(f.p.registry, 't4a', 'test');
  f.services.publishTargets();
  await waitFor(() => r.agent.target?.version === rot.targetVersion, { what: 'the rotated target' });
  assert.is((await c.req('GET', '/api/status')).status, 401, 'the old session ended');
  assert.is((await c.login(r.password)).status, 401, 'the old password no longer works');
  assert.is((await c.login(rot.panelPassword)).status, 200);
});

test('status, plan with its refusals, clips, the log; volume clamped to the cap and applied to what plays', async () => {
  const tone = toneAsset(20);
  const today = localDate(Date.now());
  // One programme in quiet hours (refused with its rule) and the clip on the device; the agent's clock at 10:00.
  const { version: v, offsetMs } = quietNightTarget(f, 'l1a', 'qn/son-tay', tone.sha256);
  const r = await start('l1a', { offsetMs });
  await applied(r, v);
  const c = r.client();
  await c.login(r.password);
  const s = (await c.req('GET', '/api/status')).body;
  assert.is(s.device.id, 'l1a');
  assert.is(s.device.zone, 'qn/son-tay/lang-1');
  assert.is(s.link.connected, true);
  assert.type(s.link.since, 'string');
  assert.equal(s.clock, { trusted: true, source: 'ntp' });
  assert.equal(s.volume, { setting: 60, cap: 70, current: null });
  assert.is(s.target.applied, v);
  assert.is(s.target.missingAssets, 0);
  assert.is(s.playing, null);
  assert.is(s.tts, true);
  const plan = (await c.req('GET', '/api/plan')).body;
  assert.is(plan.date, today);
  const night = plan.items.find((i: { programme: string }) => i.programme === 'dem-khuya');
  assert.is(night.status, 'refused');
  assert.is(night.rule, 'quiet-hours');
  assert.type(night.reason, 'string');
  assert.is((await c.req('GET', '/api/plan?date=yesterday')).status, 400);
  const clips = (await c.req('GET', '/api/clips')).body.clips;
  assert.equal(clips, [{ sha256: tone.sha256, title: 'Âm thử 440 Hz', durationMs: 20_000 }]);
  // Play the clip as a local announcement; then turn the volume up beyond the cap.
  const a = await c.req('POST', '/api/announce', { clip: tone.sha256, title: 'Họp thôn' });
  assert.is(a.status, 202);
  await waitFor(async () => (await c.req('GET', '/api/status')).body.playing?.id === a.body.id, { what: 'the announcement playing' });
  const up = await c.req('POST', '/api/volume', { volume: 95 });
  assert.equal(up.body, { volume: 70, requested: 95, cap: 70, clamped: true });
  const down = await c.req('POST', '/api/volume', { volume: 40 });
  assert.equal(down.body, { volume: 40, requested: 40, cap: 70, clamped: false });
  const now = (await c.req('GET', '/api/status')).body;
  assert.is(now.playing.volume, 40, 'applied to what plays');
  assert.is(now.playing.level, 'priority');
  assert.is(now.playing.source, 'local');
  assert.is(now.playing.stoppable, true);
  assert.is(now.volume.setting, 40);
  assert.is((await c.req('POST', '/api/volume', { volume: 101 })).status, 400);
  assert.is((await c.req('POST', '/api/volume', { volume: 'to' })).status, 400);
  // The refused night bulletin's plan volume and the telemetry follow the setting.
  assert.is(r.agent.telemetry().volume, 40);
  const stop = await c.req('POST', '/api/stop', {});
  assert.is(stop.status, 200);
  assert.is(stop.body.stopped.id, a.body.id);
  assert.is((await c.req('POST', '/api/stop', {})).status, 409, 'nothing left to stop');
  const log = (await c.req('GET', '/api/log?limit=5')).body.records;
  assert.is(log[0].outcome, 'interrupted');
  assert.is(log[0].source, 'local');
  assert.is(log[0].title, 'Họp thôn');
  assert.match(log[0].reason, /local panel/);
  assert.is((await c.req('GET', '/api/log?limit=0')).status, 400);
  // The WAV shows the clip at volume 70 (cubic taper, 0.343) then 40 (0.064).
  await waitFor(() => r.sink.timeline.find((e) => e.id === a.body.id && e.endFrame !== null), { what: 'the sink closing the clip' });
});

test('an emergency cannot be stopped from the panel unless the rules allow it, and then only with a reason the province receives', async () => {
  const emergency = (zone: string): EmergencyStart => {
    const now = Date.now();
    return { type: 'start', id: randomUUID(), issuedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 600_000).toISOString(), scope: { zones: [zone], devices: [] }, level: 4, mode: 'actual', content: { kind: 'standard', clip: 'siren' }, repeat: 3, title: 'Lũ quét' };
  };
  const v = f.setTarget('t3a', { rules: [ALL_DAY(80)] });
  const r = running.find((x) => x.agent.config.device.id === 't3a')!;
  await applied(r, v);
  const c = r.client();
  await c.login(r.password);
  const e1 = emergency('qn/dak-ha/thon-3');
  await dispatch.publishAsync(topics.zoneEmergency('qn/dak-ha'), JSON.stringify(signer.sign('emergency', e1)), { qos: 1 });
  const s1 = await waitFor(async () => (await c.req('GET', '/api/status')).body.playing, { what: 'the emergency playing' });
  assert.is(s1.level, 'emergency');
  assert.equal([s1.stoppable, s1.needsReason], [false, true]);
  const refused = await c.req('POST', '/api/stop', { reason: 'nhầm' });
  assert.is(refused.status, 403);
  assert.is(refused.body.error.code, 'LOA_E_FORBIDDEN');
  assert.is((await c.req('GET', '/api/status')).body.playing?.emergency, e1.id, 'still sounding');
  // The province allows it for this zone; a reason is then required.
  const v2 = f.setTarget('t3a', { rules: [ALL_DAY(80, { panelMayStopEmergency: true })] });
  await waitFor(() => r.agent.target?.version === v2, { what: 'the permissive target' });
  const noReason = await c.req('POST', '/api/stop', {});
  assert.is(noReason.status, 400);
  assert.is(noReason.body.error.code, 'LOA_E_REASON_REQUIRED');
  const stopped = await c.req('POST', '/api/stop', { reason: 'Báo động nhầm, đã xác nhận với xã' });
  assert.is(stopped.status, 200);
  assert.is((await c.req('GET', '/api/status')).body.playing, null);
  // At the province: who stopped it and why, and the emergency's own ack.
  const rec = await waitFor(() => f.reports.records('t3a', 'operator').find((x) => (x.data as { action: string }).action === 'stop'), { what: 'the stop at the province' });
  const d = rec.data as { session: string; detail: Record<string, unknown> };
  assert.match(d.session, /^panel:[0-9a-f]{12}$/);
  assert.is(d.detail.reason, 'Báo động nhầm, đã xác nhận với xã');
  assert.is(d.detail.emergency, e1.id);
  await waitFor(() => f.reports.records('t3a', 'emergency-ack').find((x) => (x.data as { emergency: string; status: string }).emergency === e1.id && (x.data as { status: string }).status === 'cancelled'), { what: 'the cancelled ack' });
  await sleep(10);
});

test('a LAN interface that comes up after the agent is listened on once it has an address; never every address', async () => {
  const r = running.find((x) => x.agent.config.device.id === 't3a')!;
  let table: Record<string, NetworkInterfaceInfo[]> = {};
  const panel = new Panel({ agent: r.agent, log: silentLogger(), port: 0, bind: ['eth9'], rescanMs: 100, interfaces: () => table, sessionIdleMs: 60_000, sessionMaxMs: 600_000, maxUploadBytes: 1024 * 1024 });
  try {
    assert.equal(await panel.start(), [], 'nothing to listen on yet');
    table = { eth9: [{ address: '127.0.0.2', family: 'IPv4', internal: false, netmask: '255.0.0.0', mac: '00:00:00:00:00:00', cidr: '127.0.0.2/8' }] };
    const url = await waitFor(() => panel.urls[0], { what: 'the late interface listened on' });
    assert.match(url, /^http:\/\/127\.0\.0\.2:\d+\/$/);
    const c = new PanelClient(url);
    assert.is((await c.login(r.password)).status, 200);
    assert.is((await fetch(url.replace('127.0.0.2', '127.0.0.1')).catch(() => null))?.status ?? 0, 0, 'not on other addresses');
  } finally {
    await panel.stop();
  }
});

test.run();
