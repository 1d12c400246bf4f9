import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consoleFixture, type ConsoleFixture, type Session } from '../helpers/console.js';
import { cleanupTempDirs } from '../helpers/tmp.js';

// CAP 1.2 alerts posted to the console: a machine (HTTP Basic, a dispatch
// account) or a dispatcher's session; they become pending dispatches.

let f: ConsoleFixture;
let approver: Session;

test.before(async () => {
  f = await consoleFixture({ capAreas: { geocode: [{ valueName: 'VN-DVHC', value: '51', zone: 'qn' }], areaDesc: [{ match: 'Xã Đắk Hà', zone: 'qn/dak-ha' }] } });
  approver = await f.as('approver');
});
test.after(async () => {
  await f.stop();
  cleanupTempDirs();
});

const sent = '2026-11-26T08:00:00+07:00';
const alert = (o: { id?: string; status?: string; msgType?: string; references?: string; area?: string; extra?: string } = {}) => `<?xml version="1.0" encoding="UTF-8"?>
${o.extra ?? ''}<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>${o.id ?? 'KTTV-2026-0001'}</identifier>
  <sender>kttv@nchmf.gov.vn</sender>
  <sent>${sent}</sent>
  <status>${o.status ?? 'Actual'}</status>
  <msgType>${o.msgType ?? 'Alert'}</msgType>
  <scope>Public</scope>
  ${o.references ? `<references>${o.references}</references>` : ''}
  <info>
    <language>vi-VN</language>
    <category>Met</category>
    <event>Lũ quét</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <expires>2099-01-01T00:00:00+07:00</expires>
    <headline>Cảnh báo lũ quét tại xã Đắk Hà</headline>
    <instruction>Bà con ven suối di chuyển ngay lên chỗ cao.</instruction>
    <area><areaDesc>${o.area ?? 'Xã Đắk Hà, huyện Đắk Hà'}</areaDesc></area>
  </info>
</alert>`;

const post = (xml: string, who = 'dispatch') =>
  f.server.app.inject({ method: 'POST', url: '/api/cap', payload: xml, headers: { 'content-type': 'application/xml', authorization: 'Basic ' + Buffer.from(`${who}:${f.p.accounts[who]!.secret}`).toString('base64') } });

test('an Actual alert for a mapped area becomes a pending dispatch to that zone; a duplicate is ignored', async () => {
  const r = await post(alert());
  assert.is(r.statusCode, 201, r.body);
  const b = r.json() as { dispatch: { id: string; status: string; mode: string; zones: string[]; command: { level: number; title: string } } };
  assert.equal({ status: b.dispatch.status, mode: b.dispatch.mode, zones: b.dispatch.zones, level: b.dispatch.command.level }, { status: 'pending', mode: 'actual', zones: ['qn/dak-ha'], level: 4 });
  assert.is(b.dispatch.command.title, 'Cảnh báo lũ quét tại xã Đắk Hà');
  const again = await post(alert());
  assert.is(again.statusCode, 200);
  assert.equal((again.json() as { duplicate: boolean; dispatch: { id: string } }).dispatch.id, b.dispatch.id);
  // The same approval rule: an approver releases it.
  const ok = (await approver.post(`/api/dispatches/${b.dispatch.id}/approve`)).json() as { dispatch: { status: string } };
  assert.is(ok.dispatch.status, 'sent');
});

test('a Cancel referencing the alert cancels it (pending approval, as any cancel of an actual emergency)', async () => {
  const r = await post(alert({ id: 'KTTV-2026-0002', msgType: 'Cancel', references: `kttv@nchmf.gov.vn,KTTV-2026-0001,${sent}` }));
  assert.is(r.statusCode, 200, r.body);
  const c = r.json() as { cancelled: { kind: string; cancels: string; status: string }[] };
  assert.is(c.cancelled.length, 1);
  assert.equal({ kind: c.cancelled[0]!.kind, status: c.cancelled[0]!.status }, { kind: 'cancel', status: 'pending' });
});

test('malformed, DTD-carrying, unmapped, draft and unauthenticated alerts are refused with a reason', async () => {
  const dtd = await post(alert({ id: 'X1', extra: '<!DOCTYPE alert [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n' }));
  assert.is(dtd.statusCode, 400);
  assert.match(dtd.body, /DOCTYPE|ENTITY/);
  const broken = await post('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier>');
  assert.is(broken.statusCode, 400);
  assert.is((broken.json() as { error: { code: string } }).error.code, 'LOA_E_CAP_INVALID');
  const unmapped = await post(alert({ id: 'X2', area: 'Huyện Mường Tè, Lai Châu' }));
  assert.is(unmapped.statusCode, 422);
  assert.match(unmapped.body, /Mường Tè/);
  assert.is((await post(alert({ id: 'X3', status: 'Draft' }))).statusCode, 422);
  const sys = await post(alert({ id: 'X4', status: 'System' }));
  assert.is(sys.statusCode, 202);
  const noAuth = await f.server.app.inject({ method: 'POST', url: '/api/cap', payload: alert({ id: 'X5' }), headers: { 'content-type': 'application/xml' } });
  assert.is(noAuth.statusCode, 401);
  assert.is((await post(alert({ id: 'X6' }), 'viewer-son-tay')).statusCode, 403);
  const big = await post(alert({ id: 'X7' }).replace('<event>', '<event>' + 'x'.repeat(300 * 1024)));
  assert.ok(big.statusCode === 413, `oversized: ${big.statusCode}`);
});

test.run();
