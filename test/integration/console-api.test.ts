import { test } from 'uvu';
import { gunzipSync } from 'node:zlib';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { consoleFixture, type ConsoleFixture, type Session } from '../helpers/console.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { randomUUID } from 'node:crypto';
import { LogBatch } from '../../protocol/payloads.js';

// The console's HTTP API through fastify's inject, against a real registry,
// broker and MQTT services: every route, the roles and zone scopes that
// refuse, and bad input.

let f: ConsoleFixture;
const s: Record<string, Session> = {};

test.before(async () => {
  f = await consoleFixture();
  for (const name of ['admin', 'editor', 'editor-dak-ha', 'viewer-son-tay', 'dispatch', 'dispatch-dak-ha', 'approver', 'approver-2']) s[name] = await f.as(name);
});
test.after(async () => {
  await f.stop();
  cleanupTempDirs();
});

const code = (r: { json(): unknown }) => (r.json() as { error?: { code: string } }).error?.code;

function multipart(fields: Record<string, string>, file: { name: string; bytes: Buffer }) {
  const boundary = `----loa${randomUUID()}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${file.name}"\r\ncontent-type: application/octet-stream\r\n\r\n`), file.bytes, Buffer.from(`\r\n--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

async function job(sess: Session, id: string) {
  return waitFor(async () => {
    const j = (await sess.get(`/api/jobs/${id}`)).json() as { job: { status: string; result: { sha256: string }; error: { code: string; message: string } | null } };
    return j.job.status !== 'running' ? j.job : null;
  }, { timeoutMs: 20_000, what: 'job' });
}

test('login: wrong password, throttling, a session cookie, /api/me, logout', async () => {
  const bad = await f.server.app.inject({ method: 'POST', url: '/api/login', payload: { name: 'approver-2', password: 'wrong' } });
  assert.is(bad.statusCode, 401);
  assert.is(code(bad), 'LOA_E_UNAUTHENTICATED');
  for (let i = 0; i < 5; i++) await f.server.app.inject({ method: 'POST', url: '/api/login', payload: { name: 'viewer-son-tay', password: 'nope' }, remoteAddress: '10.9.9.9' });
  const throttled = await f.server.app.inject({ method: 'POST', url: '/api/login', payload: { name: 'viewer-son-tay', password: f.p.accounts['viewer-son-tay']!.secret }, remoteAddress: '10.9.9.9' });
  assert.is(throttled.statusCode, 429, 'locked out even with the right password');
  assert.ok(Number(throttled.headers['retry-after']) >= 1);
  const svc = await f.server.app.inject({ method: 'POST', url: '/api/login', payload: { name: 'console', password: f.p.accounts.console!.secret } });
  assert.is(svc.statusCode, 401, 'the console service account cannot log in to the web');
  const me = (await s.editor!.get('/api/me')).json() as { account: { role: string }; can: Record<string, boolean> };
  assert.equal({ role: me.account.role, can: me.can }, { role: 'editor', can: { edit: true, dispatch: false, approve: false, live: true, admin: false } });
  assert.match(String((await f.server.app.inject({ method: 'POST', url: '/api/login', payload: { name: 'editor', password: f.p.accounts.editor!.secret } })).headers['set-cookie']), /HttpOnly; SameSite=Strict/);
  const tmp = await f.as('approver-2');
  assert.is((await tmp.post('/api/logout')).statusCode, 200);
  assert.is((await tmp.get('/api/me')).statusCode, 401);
  assert.is((await f.server.app.inject({ method: 'GET', url: '/api/devices' })).statusCode, 401);
});

test('every change needs the CSRF token of the session', async () => {
  const r = await f.server.app.inject({ method: 'POST', url: '/api/publish', headers: { cookie: s.editor!.cookie }, payload: {} });
  assert.is(r.statusCode, 403);
  assert.is(code(r), 'LOA_E_CSRF');
  const wrong = await f.server.app.inject({ method: 'POST', url: '/api/publish', headers: { cookie: s.editor!.cookie, 'x-csrf-token': s.admin!.csrf }, payload: {} });
  assert.is(code(wrong), 'LOA_E_CSRF');
});

test('zones and devices are scoped to the account\'s zone; filters work', async () => {
  const zones = ((await s['viewer-son-tay']!.get('/api/zones')).json() as { zones: { path: string; inScope: boolean }[] }).zones;
  assert.ok(zones.some((z) => z.path === 'qn/son-tay/lang-1' && z.inScope));
  assert.not.ok(zones.some((z) => z.path.startsWith('qn/dak-ha')), 'a neighbouring commune is invisible');
  const devs = ((await s['viewer-son-tay']!.get('/api/devices')).json() as { devices: { id: string }[] }).devices.map((d) => d.id);
  assert.equal(devs, ['l1a']);
  assert.is((await s['viewer-son-tay']!.get('/api/devices?zone=qn/dak-ha')).statusCode, 403);
  assert.is((await s['viewer-son-tay']!.get('/api/devices/t3a')).statusCode, 404, 'outside the zone is as good as absent');
  const offline = ((await s.admin!.get('/api/devices?offlineHours=0')).json() as { devices: unknown[] }).devices;
  assert.is(offline.length, 4, 'nobody has connected yet');
  assert.is((await s.admin!.get('/api/devices?offlineHours=abc')).statusCode, 400);
});

let asset = '';
test('library: upload an Ogg, preview it; a file that is not audio is refused and leaves nothing', async () => {
  const ogg = join(tempDir(), 'bantin.ogg');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=500:duration=2', '-ac', '1', '-c:a', 'libopus', ogg]);
  const up = multipart({ title: 'Bản tin sáng' }, { name: 'bantin.ogg', bytes: readFileSync(ogg) });
  assert.is((await s['viewer-son-tay']!.post('/api/library', up.payload, up.headers)).statusCode, 403, 'viewers cannot upload');
  const r = await s.editor!.post('/api/library', up.payload, up.headers);
  assert.is(r.statusCode, 200, r.body);
  const j = await job(s.editor!, (r.json() as { job: string }).job);
  assert.is(j.status, 'done', JSON.stringify(j.error));
  asset = j.result.sha256;
  const list = (await s['viewer-son-tay']!.get('/api/library')).json() as { assets: { sha256: string; title: string; loudness: { I: number } | null; sourceFormat: string }[] };
  const stored = list.assets.find((a) => a.sha256 === asset)!;
  assert.is(stored.title, 'Bản tin sáng');
  // Through the real ingest: normalised to −16 LUFS and re-encoded, its measured loudness kept.
  assert.ok(Math.abs(stored.loudness!.I - -16) <= 1, `loudness ${stored.loudness?.I}`);
  assert.is(stored.sourceFormat, 'ogg/opus');
  const audio = await s['viewer-son-tay']!.get(`/api/library/${asset}/audio`);
  assert.is(audio.statusCode, 200);
  assert.match(String(audio.headers['content-type']), /audio\/ogg/);
  // The preview player seeks with Range requests.
  const ranged = (range: string) => f.server.app.inject({ method: 'GET', url: `/api/library/${asset}/audio`, headers: { cookie: s['viewer-son-tay']!.cookie, range } });
  const part = await ranged('bytes=10-19');
  assert.is(part.statusCode, 206);
  assert.is(part.headers['content-range'], `bytes 10-19/${audio.rawPayload.length}`);
  assert.ok(part.rawPayload.equals(audio.rawPayload.subarray(10, 20)));
  const tail = await ranged('bytes=-5');
  assert.ok(tail.rawPayload.equals(audio.rawPayload.subarray(-5)));
  assert.is((await ranged(`bytes=${audio.rawPayload.length}-`)).statusCode, 416);
  const before = (list.assets as unknown[]).length;
  const junk = multipart({ title: 'Không phải âm thanh' }, { name: 'x.mp3', bytes: Buffer.from('%PDF-1.4 this is not audio') });
  const bad = await job(s.editor!, ((await s.editor!.post('/api/library', junk.payload, junk.headers)).json() as { job: string }).job);
  assert.is(bad.status, 'failed');
  assert.is(bad.error!.code, 'LOA_E_AUDIO_INVALID');
  assert.is(((await s.editor!.get('/api/library')).json() as { assets: unknown[] }).assets.length, before);
  assert.is((await s.editor!.get('/api/library/' + 'f'.repeat(64) + '/audio')).statusCode, 404);
});

test('programmes and rule profiles: editing within the zone, refusals outside it and for bad input', async () => {
  const prog = { title: 'Bản tin sáng', level: 'normal', playlist: [asset], recurrence: { kind: 'daily', time: '06:30' }, resumable: true, zones: ['qn/dak-ha'] };
  const ok = await s['editor-dak-ha']!.put('/api/programmes/ban-tin-sang', { zone: 'qn/dak-ha', programme: prog });
  assert.is(ok.statusCode, 200, ok.body);
  assert.is((await s['editor-dak-ha']!.put('/api/programmes/ngoai', { zone: 'qn/son-tay', programme: { ...prog, zones: ['qn/son-tay'] } })).statusCode, 403);
  assert.is((await s['viewer-son-tay']!.put('/api/programmes/x', { zone: 'qn/son-tay', programme: prog })).statusCode, 403);
  const badRule = await s['editor-dak-ha']!.put('/api/programmes/sai', { zone: 'qn/dak-ha', programme: { ...prog, recurrence: { kind: 'rrule', rrule: 'FREQ=HOURLY', start: '2026-11-01', time: '06:00' } } });
  assert.is(badRule.statusCode, 400);
  assert.match(badRule.body, /HOURLY/);
  const missing = await s['editor-dak-ha']!.put('/api/programmes/thieu', { zone: 'qn/dak-ha', programme: { ...prog, playlist: ['0'.repeat(64)] } });
  assert.match(missing.body, /not in the library/);
  const outside = await s['editor-dak-ha']!.put('/api/programmes/rong', { zone: 'qn/dak-ha', programme: { ...prog, zones: ['qn'] } });
  assert.match(outside.body, /not inside qn\/dak-ha/);
  const rules = await s['editor-dak-ha']!.put('/api/rules/qn/dak-ha', { windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '05:00', end: '07:00', volumeCap: 60 }], defaultVolume: 80 });
  assert.is(rules.statusCode, 200, rules.body);
  assert.is((await s['editor-dak-ha']!.put('/api/rules/qn', { windows: [] })).statusCode, 403);
  assert.is((await s['editor-dak-ha']!.put('/api/rules/qn/dak-ha', { windows: [{ days: [9], start: '05:00', end: '07:00', volumeCap: 60 }] })).statusCode, 400);
  const got = (await s['editor-dak-ha']!.get('/api/rules/qn/dak-ha')).json() as { profile: { defaultVolume: number } };
  assert.is(got.profile.defaultVolume, 80);
  const listed = (await s['viewer-son-tay']!.get('/api/programmes')).json() as { programmes: unknown[] };
  assert.is(listed.programmes.length, 0, 'not visible from another commune');
});

test('publish recomputes exactly the affected devices; the plan preview shows refusals and reasons', async () => {
  const r = (await s['editor-dak-ha']!.post('/api/publish', {})).json() as { published: { device: string; version: number }[] };
  assert.equal(r.published.map((x) => x.device).sort(), ['t3a', 't3b', 't4a']);
  const again = (await s['editor-dak-ha']!.post('/api/publish', {})).json() as { published: unknown[] };
  assert.is(again.published.length, 0, 'nothing changed, nothing republished');
  assert.is((await s['editor-dak-ha']!.post('/api/publish', { zones: ['qn'] })).statusCode, 403);
  await s['editor-dak-ha']!.put('/api/programmes/toi', { zone: 'qn/dak-ha/thon-3', programme: { title: 'Tin tối', level: 'normal', playlist: [asset], recurrence: { kind: 'daily', time: '19:00' }, resumable: false, zones: ['qn/dak-ha/thon-3'] } });
  const r2 = (await s['editor-dak-ha']!.post('/api/publish', {})).json() as { published: { device: string }[] };
  assert.equal(r2.published.map((x) => x.device).sort(), ['t3a', 't3b'], 'only Thôn 3');
  const plan = (await s['editor-dak-ha']!.get('/api/devices/t3a/plan?date=2026-11-27')).json() as { items: { programme: string; status: string; rule?: string; volume: number }[] };
  const sang = plan.items.find((i) => i.programme === 'ban-tin-sang')!;
  const toi = plan.items.find((i) => i.programme === 'toi')!;
  assert.equal({ status: sang.status, volume: sang.volume }, { status: 'planned', volume: 60 });
  assert.equal({ status: toi.status, rule: toi.rule }, { status: 'refused', rule: 'quiet-hours' });
  assert.is((await s['viewer-son-tay']!.get('/api/devices/t3a/plan')).statusCode, 404);
  assert.is((await s.editor!.get('/api/devices/t3a/plan?date=27-11-2026')).statusCode, 400);
});

let exercise = '';
test('dispatch: exercises go at once; an actual emergency waits for a second person; scopes and roles hold', async () => {
  const body = { mode: 'exercise', level: 3, zones: ['qn/dak-ha'], content: { kind: 'standard', clip: 'siren' }, repeat: 1, expiresMinutes: 30, title: 'Diễn tập lũ' };
  const ex = (await s.dispatch!.post('/api/dispatches', body)).json() as { dispatch: { id: string; status: string } };
  assert.is(ex.dispatch.status, 'sent');
  exercise = ex.dispatch.id;
  const actual = (await s.dispatch!.post('/api/dispatches', { ...body, mode: 'actual', title: 'Lũ quét' })).json() as { dispatch: { id: string; status: string } };
  assert.is(actual.dispatch.status, 'pending');
  const self = await s.admin!.post(`/api/dispatches/${actual.dispatch.id}/approve`);
  assert.is(self.statusCode, 200, 'admin is a second person here');
  const pending2 = (await s.dispatch!.post('/api/dispatches', { ...body, mode: 'actual' })).json() as { dispatch: { id: string } };
  const viewer = await s['viewer-son-tay']!.post(`/api/dispatches/${pending2.dispatch.id}/approve`);
  assert.is(viewer.statusCode, 403);
  const approved = (await s.approver!.post(`/api/dispatches/${pending2.dispatch.id}/approve`)).json() as { dispatch: { status: string; approvedBy: string } };
  assert.equal({ status: approved.dispatch.status, by: approved.dispatch.approvedBy }, { status: 'sent', by: 'approver' });
  assert.is((await s.approver!.post(`/api/dispatches/${pending2.dispatch.id}/approve`)).statusCode, 400, 'not pending any more');
  const mine = (await s.admin!.post('/api/dispatches', { ...body, mode: 'actual' })).json() as { dispatch: { id: string } };
  const selfApprove = await s.admin!.post(`/api/dispatches/${mine.dispatch.id}/approve`);
  assert.is(selfApprove.statusCode, 403);
  assert.match(selfApprove.body, /someone other than the person who composed it/);
  assert.is((await s['dispatch-dak-ha']!.post('/api/dispatches', { ...body, zones: ['qn/son-tay'] })).statusCode, 403);
  assert.is((await s.editor!.post('/api/dispatches', body)).statusCode, 403);
  assert.is((await s.dispatch!.post('/api/dispatches', { ...body, zones: [] })).statusCode, 400);
  assert.is((await s.dispatch!.post('/api/dispatches', { ...body, level: 9 })).statusCode, 400);
  const roll = (await s.dispatch!.get(`/api/dispatches/${exercise}`)).json() as { rollup: { zones: { zone: string; counts: { silent: number } }[] } };
  assert.equal(roll.rollup.zones, [{ zone: 'qn/dak-ha', counts: { received: 0, playing: 0, finished: 0, cancelled: 0, rejected: 0, silent: 3 } }]);
  assert.is((await s['viewer-son-tay']!.get(`/api/dispatches/${exercise}`)).statusCode, 404);
  const cancel = (await s.dispatch!.post(`/api/dispatches/${exercise}/cancel`)).json() as { dispatch: { kind: string; status: string } };
  assert.equal({ kind: cancel.dispatch.kind, status: cancel.dispatch.status }, { kind: 'cancel', status: 'sent' });
  const listed = (await s.dispatch!.get('/api/dispatches')).json() as { dispatches: unknown[] };
  assert.ok(listed.dispatches.length >= 5);
});

test('reports: play log, airtime and uptime as JSON and CSV, within the zone', async () => {
  const at = '2026-11-26T23:30:00.000Z'; // 06:30 on 27 November in Vietnam
  f.server.reports.storeBatch('t3a', { batch: randomUUID(), records: [{ key: 'k1:0000000001', at, kind: 'play', data: { outcome: 'played', level: 'normal', source: 'programme', programme: 'ban-tin-sang', title: 'Bản tin sáng', start: at, end: '2026-11-26T23:40:00.000Z', volume: 60 } }, { key: 'k1:0000000002', at, kind: 'play', data: { outcome: 'refused', level: 'normal', source: 'programme', programme: 'toi', title: 'Tin tối', start: at, rule: 'quiet-hours', reason: 'outside the allowed hours' } }] }, at);
  const log = (await s.editor!.get('/api/reports/playlog?date=2026-11-27')).json() as { rows: { outcome: string; rule: string | null }[] };
  assert.equal(log.rows.map((r) => `${r.outcome}:${r.rule}`), ['played:null', 'refused:quiet-hours']);
  const csv = await s.editor!.get('/api/reports/playlog?date=2026-11-27&format=csv');
  assert.match(String(csv.headers['content-type']), /text\/csv/);
  assert.ok(csv.body.startsWith('\ufeffdevice,zone,programme'));
  assert.match(csv.body, /Bản tin sáng/);
  assert.equal(((await s['viewer-son-tay']!.get('/api/reports/playlog?date=2026-11-27')).json() as { rows: unknown[] }).rows, [], 'Sơn Tây sees none of Đắk Hà');
  // A siren stamped by a device that never learned the time (clock: untrusted): shown, but not summed as three hours of airtime.
  f.server.reports.storeBatch('t3a', { batch: randomUUID(), records: [{ key: 'k1:0000000003', at, kind: 'play', clock: 'untrusted', data: { outcome: 'played', level: 'emergency', source: 'emergency', title: 'Còi', start: at, end: '2026-11-27T02:30:19.000Z', volume: 90 } }] }, at);
  const air = (await s.editor!.get('/api/reports/airtime?week=2026-11-23')).json() as { rows: { commune: string; minutes: number }[] };
  assert.equal(air.rows, [{ commune: 'qn/dak-ha', name: 'Đắk Hà', minutes: 10, items: 1, emergencyMinutes: 0, untrustedItems: 1 }]);
  const log2 = (await s.editor!.get('/api/reports/playlog?date=2026-11-27')).json() as { rows: { outcome: string; clockUntrusted: boolean }[] };
  assert.equal(log2.rows.map((r) => r.clockUntrusted), [false, false, true]);
  const up = (await s.editor!.get('/api/reports/uptime?from=2026-11-20&to=2026-11-26')).json() as { rows: { device: string; uptimePercent: number }[] };
  assert.ok(up.rows.every((r) => r.uptimePercent === 0));
  assert.is((await s.editor!.get('/api/reports/uptime?from=2026-11-26&to=2026-11-20')).statusCode, 400);
  assert.is((await s['viewer-son-tay']!.get('/api/reports/airtime?week=2026-11-23&zone=qn')).statusCode, 403);
});

test('reports: operator actions on the village panels per Việt Nam day, within the zone, as JSON and CSV; refusals and bad input', async () => {
  // As a device's log batch arrives over MQTT: checked against the protocol, then stored by the services' own call.
  const arrive = (device: string, records: unknown[]) => f.server.reports.storeBatch(device, LogBatch.parse({ batch: randomUUID(), records }), new Date().toISOString());
  const op = (key: string, at: string, action: string, session: string, detail: Record<string, unknown>) => ({ key: `op:${key}`, at, kind: 'operator', data: { action, session, detail } });
  const emergency = randomUUID();
  const sess = 'panel:0123456789ab';
  const addr = '192.168.1.20';
  arrive('t3a', [
    op('0000000001', '2026-11-26T16:59:59.000Z', 'login', sess, { address: addr }), // 23:59:59 on the 26th in Việt Nam
    op('0000000002', '2026-11-26T17:00:00.000Z', 'login.failed', 'panel:-', { address: addr }), // 00:00 on the 27th
    op('0000000003', '2026-11-27T01:00:00.000Z', 'login', sess, { address: addr }),
    op('0000000004', '2026-11-27T01:01:00.000Z', 'volume', sess, { requested: 95, volume: 80, cap: 80, clamped: true, address: addr }),
    op('0000000005', '2026-11-27T01:02:00.000Z', 'stop', sess, { id: `emergency-${emergency}`, level: 'emergency', source: 'emergency', title: 'Cảnh báo lũ', emergency, reason: 'Loa hú sai, dân hoảng; đã báo xã', address: addr }),
    op('0000000006', '2026-11-27T01:03:00.000Z', 'announce.refused', sess, { rule: 'quiet-hours', title: 'Họp dân', address: addr }),
    op('0000000007', '2026-11-27T01:04:00.000Z', 'announce', sess, { id: 'local-1', title: 'Lịch tiêm phòng', clip: 'a'.repeat(64), address: addr }),
    op('0000000008', '2026-11-27T01:05:00.000Z', 'logout', sess, { address: addr }),
    { key: 'op:0000000009', at: '2026-11-27T01:06:00.000Z', kind: 'play', data: { outcome: 'played', level: 'priority', source: 'local', title: 'Họp dân', start: '2026-11-27T01:04:00.000Z', end: '2026-11-27T01:06:00.000Z' } },
  ]);
  arrive('l1a', [op('0000000001', '2026-11-27T02:00:00.000Z', 'login', 'panel:abcdef012345', { address: '10.1.2.3' }), op('0000000002', '2026-11-27T02:01:00.000Z', 'stop', 'panel:abcdef012345', { id: 'p1', level: 'normal', source: 'programme', title: null, reason: '=HYPERLINK("http://x","y")', address: '10.1.2.3' })]);

  type Row = { device: string; zone: string; at: string; action: string; emergency: string | null; session: string; address: string | null; rule: string | null; reason: string | null; summary: string; detail: Record<string, unknown> };
  const report = async (who: string, query: string) => (await s[who]!.get(`/api/reports/operator?${query}`)).json() as { date: string; zone: string | null; rows: Row[] };
  const all = await report('editor', 'date=2026-11-27');
  assert.is(all.zone, null);
  assert.equal(all.rows.map((r) => `${r.device} ${r.at.slice(11, 16)} ${r.action}`), ['t3a 17:00 login.failed', 't3a 01:00 login', 't3a 01:01 volume', 't3a 01:02 stop', 't3a 01:03 announce.refused', 't3a 01:04 announce', 't3a 01:05 logout', 'l1a 02:00 login', 'l1a 02:01 stop'], 'the Việt Nam day, oldest first, no plays');
  const stop = all.rows.find((r) => r.action === 'stop')!;
  assert.equal(stop, { device: 't3a', zone: 'qn/dak-ha/thon-3', at: '2026-11-27T01:02:00.000Z', action: 'stop', emergency, session: sess, address: addr, rule: null, reason: 'Loa hú sai, dân hoảng; đã báo xã', summary: `id=emergency-${emergency}; level=emergency; source=emergency; title=Cảnh báo lũ`, detail: { id: `emergency-${emergency}`, level: 'emergency', source: 'emergency', title: 'Cảnh báo lũ', emergency, reason: 'Loa hú sai, dân hoảng; đã báo xã', address: addr } });
  const volume = all.rows.find((r) => r.action === 'volume')!;
  assert.equal([volume.summary, volume.emergency, volume.reason], ['requested=95; volume=80; cap=80; clamped=true', null, null]);
  assert.equal([all.rows.find((r) => r.action === 'announce.refused')!.rule, all.rows[0]!.session], ['quiet-hours', 'panel:-']);

  // Scoped accounts see their subtree only; a viewer may read.
  assert.equal((await report('editor-dak-ha', 'date=2026-11-27')).rows.map((r) => r.device), ['t3a', 't3a', 't3a', 't3a', 't3a', 't3a', 't3a']);
  assert.equal((await report('viewer-son-tay', 'date=2026-11-27')).rows.map((r) => `${r.device} ${r.action} ${r.address}`), ['l1a login 10.1.2.3', 'l1a stop 10.1.2.3']);
  assert.is((await report('admin', 'date=2026-11-27&zone=qn/dak-ha/thon-4')).rows.length, 0);
  assert.is((await report('admin', 'date=2026-11-27&zone=qn/son-tay')).rows.length, 2);
  assert.is((await report('editor', 'date=2026-11-26')).rows.map((r) => r.at).join(), '2026-11-26T16:59:59.000Z');
  for (const zone of ['qn/dak-ha', 'qn/dak-ha/thon-3', 'qn']) {
    const r = await s['viewer-son-tay']!.get(`/api/reports/operator?date=2026-11-27&zone=${zone}`);
    assert.is(r.statusCode, 403, zone);
    assert.is(code(r), 'LOA_E_FORBIDDEN');
  }
  assert.is((await s['editor-dak-ha']!.get('/api/reports/operator?date=2026-11-27&zone=qn/son-tay&format=csv')).statusCode, 403, 'the CSV is refused the same way');
  assert.is((await f.server.app.inject({ method: 'GET', url: '/api/reports/operator?date=2026-11-27' })).statusCode, 401);
  for (const q of ['', 'date=27/11/2026', 'date=2026-13-01', 'date=2026-11-27&format=xlsx', 'date=2026-11-27&device=t3a']) {
    const r = await s.editor!.get(`/api/reports/operator?${q}`);
    assert.is(r.statusCode, 400, q);
    assert.is(code(r), 'LOA_E_PAYLOAD_SCHEMA', q);
  }

  // The CSV: the same rows, the reason quoted.
  const csv = await s['editor-dak-ha']!.get('/api/reports/operator?zone=qn/dak-ha&date=2026-11-27&format=csv');
  assert.is(csv.statusCode, 200);
  assert.match(String(csv.headers['content-type']), /text\/csv; charset=utf-8/);
  assert.match(String(csv.headers['content-disposition']), /attachment; filename="operator-2026-11-27.csv"/);
  const lines = csv.body.split('\r\n');
  assert.is(lines[0], '\ufeffdevice,zone,at,action,emergency,session,address,rule,reason,detail');
  assert.is(lines.length, 9, 'header, seven actions, the final line break');
  assert.ok(lines.includes(`t3a,qn/dak-ha/thon-3,2026-11-27T01:02:00.000Z,stop,${emergency},${sess},${addr},,"Loa hú sai, dân hoảng; đã báo xã",id=emergency-${emergency}; level=emergency; source=emergency; title=Cảnh báo lũ`), csv.body);
  assert.ok(lines.includes(`t3a,qn/dak-ha/thon-3,2026-11-27T01:03:00.000Z,announce.refused,,${sess},${addr},quiet-hours,,title=Họp dân`), csv.body);
  // A reason typed on a panel that a spreadsheet would run as a formula stays text.
  const son = (await s['viewer-son-tay']!.get('/api/reports/operator?date=2026-11-27&format=csv')).body.split('\r\n');
  assert.is(son[2], `l1a,qn/son-tay/lang-1,2026-11-27T02:01:00.000Z,stop,,panel:abcdef012345,10.1.2.3,,"'=HYPERLINK(""http://x"",""y"")",id=p1; level=normal; source=programme`);
});

test('the audit log records who did what, for admins only', async () => {
  assert.is((await s.editor!.get('/api/audit')).statusCode, 403);
  const a = (await s.admin!.get('/api/audit')).json() as { entries: { actor: string; action: string }[] };
  for (const action of ['login', 'programme.add', 'rules.update', 'target.set', 'dispatch.compose', 'dispatch.send', 'library.add']) assert.ok(a.entries.some((e) => e.action === action), action);
  assert.ok(a.entries.some((e) => e.actor === 'editor-dak-ha' && e.action === 'programme.add'));
});

test('the UI: served with a strict CSP, gzipped for browsers that accept it, nothing outside its folder', async () => {
  const plain = await f.server.app.inject({ method: 'GET', url: '/' });
  assert.is(plain.statusCode, 200);
  assert.match(String(plain.headers['content-security-policy']), /script-src 'self'/);
  assert.match(plain.body, /<html/i);
  const zipped = await f.server.app.inject({ method: 'GET', url: '/ui/app.js', headers: { 'accept-encoding': 'gzip, deflate' } });
  assert.is(zipped.headers['content-encoding'], 'gzip');
  const raw = await f.server.app.inject({ method: 'GET', url: '/ui/app.js' });
  assert.is(raw.headers['content-encoding'], undefined);
  assert.ok(gunzipSync(zipped.rawPayload).equals(raw.rawPayload));
  assert.ok(zipped.rawPayload.length < raw.rawPayload.length);
  for (const url of ['/ui/../../registry.sqlite', '/ui/%2e%2e/%2e%2e/registry.sqlite', '/ui/views']) assert.is((await f.server.app.inject({ method: 'GET', url })).statusCode, 404, url);
});

test.run();
