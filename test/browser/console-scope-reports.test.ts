import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { consoleFixture, type ConsoleFixture } from '../helpers/console.js';
import { goTo, launchBrowser, loginAs, openConsole, startAgents, type ConsolePage } from '../helpers/browser.js';
import { cleanupTempDirs } from '../helpers/tmp.js';
import { LogBatch } from '../../protocol/payloads.js';

// What each account sees: a viewer of another commune never sees Thôn 3's
// devices, not even through the live stream; viewers get no editing forms;
// reports with their CSV files, the village operators' actions among them; the audit log for admins; the page on a
// phone (one column, thumb-sized targets) and by keyboard alone.

let f: ConsoleFixture;
let browser: Browser;
let agents: Awaited<ReturnType<typeof startAgents>> | null = null;

test.before(async () => {
  f = await consoleFixture();
  browser = await launchBrowser();
});
test.after(async () => {
  await browser?.close();
  await agents?.stop();
  await f?.stop();
  cleanupTempDirs();
});

const deviceIds = (page: Page) => page.locator('[data-device]').evaluateAll((els) => els.map((e) => (e as unknown as { dataset: { device: string } }).dataset.device));

test('a viewer of Sơn Tây sees only its own device, not Thôn 3\u2019s, even when those come online; and no editing forms', async () => {
  const viewer = await loginAs(browser, f, 'viewer-son-tay');
  const admin = await loginAs(browser, f, 'admin');
  await viewer.page.getByTestId('device-l1a').waitFor();
  assert.equal(await deviceIds(viewer.page), ['l1a']);
  assert.is(await viewer.page.getByTestId('zone-qn/dak-ha').count(), 0, 'no Đắk Hà in the zone tree');
  assert.is(await viewer.page.getByText('Thôn 3').count(), 0);
  assert.match((await viewer.page.getByTestId('who').textContent())!, /viewer-son-tay · Chỉ xem · /);
  // Thôn 3's agents come online: the admin's page shows it live, the viewer's never does.
  await viewer.page.evaluate('window.__sameDocument = true');
  agents = await startAgents(f, ['t3a', 't3b']);
  await admin.page.locator('[data-testid="device-t3a"][data-online="true"]').waitFor({ timeout: 20_000 });
  await admin.page.locator('[data-testid="device-t3b"][data-online="true"]').waitFor({ timeout: 20_000 });
  assert.equal(await deviceIds(viewer.page), ['l1a']);
  assert.is(await viewer.page.evaluate('window.__sameDocument'), true);
  // Read-only: no upload, no TTS, no programme editor or publish, no compose, no audit log.
  const nav = await viewer.page.getByRole('navigation').getByRole('link').allTextContents();
  assert.equal(nav, ['Thiết bị', 'Thư viện âm thanh', 'Chương trình', 'Khẩn cấp', 'Báo cáo']);
  await goTo(viewer.page, 'Thư viện âm thanh');
  assert.is(await viewer.page.getByTestId('upload-form').count(), 0);
  await goTo(viewer.page, 'Chương trình');
  await viewer.page.getByTestId('plan-device').locator('option').first().waitFor({ state: 'attached' });
  assert.equal(await viewer.page.getByTestId('plan-device').locator('option').allTextContents(), ['l1a (qn/son-tay/lang-1)']);
  assert.is(await viewer.page.getByTestId('programme-editor').count(), 0);
  assert.is(await viewer.page.getByTestId('publish').count(), 0);
  await goTo(viewer.page, 'Khẩn cấp');
  assert.is(await viewer.page.getByTestId('compose-form').count(), 0);
  // Going to the audit log by address shows the first allowed view instead.
  await viewer.page.goto('/#audit');
  await viewer.page.locator('main[data-view="fleet"]').waitFor();
  assert.equal(viewer.problems, []);
  await viewer.context.close();
  await admin.context.close();
});

test('reports: play log, operator actions on the village panels, airtime and uptime in the page, and the same as CSV files', async () => {
  const at = '2026-11-26T23:30:00.000Z'; // 06:30 on 27 November in Việt Nam
  f.server.reports.storeBatch('t3a', { batch: randomUUID(), records: [{ key: 'k1:0000000001', at, kind: 'play', data: { outcome: 'played', level: 'normal', source: 'programme', programme: 'ban-tin-sang', title: 'Bản tin sáng', start: at, end: '2026-11-26T23:40:00.000Z', volume: 60 } }, { key: 'k1:0000000002', at, kind: 'play', data: { outcome: 'refused', level: 'normal', source: 'programme', programme: 'toi', title: 'Tin tối', start: at, rule: 'quiet-hours', reason: 'outside the allowed hours' } }] }, at);
  const { page, problems, context } = await loginAs(browser, f, 'editor-dak-ha');
  await goTo(page, 'Báo cáo');
  const pl = page.getByTestId('report-playlog');
  await pl.getByLabel('Ngày').fill('2026-11-27');
  await pl.getByRole('button', { name: 'Xem' }).click();
  const rows = pl.getByTestId('playlog-result').locator('tbody tr');
  await rows.first().waitFor();
  // Times in Việt Nam's zone, words in Vietnamese, the refusal with its rule and the device's reason.
  assert.equal((await rows.allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim()), [
    '06:30 (10:00) t3a Bản tin sáng thường đã phát 60% —',
    '06:30 t3a Tin tối thường không phát — ngoài khung giờ được phát — outside the allowed hours',
  ]);
  const csvHref = (await pl.getByTestId('playlog-csv').getAttribute('href'))!;
  assert.is(csvHref, '/api/reports/playlog?zone=qn%2Fdak-ha&date=2026-11-27&format=csv');
  // Downloaded by the page's session, as the link would.
  const csv = (await page.evaluate(`fetch(${JSON.stringify(csvHref)}).then(async (r) => [r.headers.get('content-type'), r.headers.get('content-disposition'), Array.from(new Uint8Array(await r.arrayBuffer()))])`)) as [string, string, number[]];
  assert.match(csv[0], /text\/csv/);
  assert.match(csv[1], /attachment; filename="playlog-2026-11-27.csv"/);
  const text = Buffer.from(csv[2]).toString('utf8');
  assert.ok(text.startsWith('\ufeffdevice,zone,programme'), 'UTF-8 with a BOM, for Excel');
  assert.match(text, /Bản tin sáng/);

  // What Thôn 3's operator did on the panel that morning (and Sơn Tây's, which this commune editor must not see), as the devices' log batches deliver it.
  const sess = 'panel:0123456789ab';
  const op = (key: string, at: string, action: string, detail: Record<string, unknown>, session = sess) => ({ key: `op:${key}`, at, kind: 'operator', data: { action, session, detail: { ...detail, address: '192.168.1.20' } } });
  f.server.reports.storeBatch('t3a', LogBatch.parse({ batch: randomUUID(), records: [
    op('0000000001', '2026-11-27T01:00:00.000Z', 'login', {}),
    op('0000000002', '2026-11-27T01:01:00.000Z', 'volume', { requested: 95, volume: 80, cap: 80, clamped: true }),
    op('0000000003', '2026-11-27T01:02:00.000Z', 'stop', { id: 'em-1', level: 'emergency', source: 'emergency', title: 'Cảnh báo lũ', emergency: randomUUID(), reason: 'Loa hú sai, dân hoảng' }),
    op('0000000004', '2026-11-27T01:03:00.000Z', 'announce.refused', { rule: 'quiet-hours', title: 'Họp dân' }),
    op('0000000005', '2026-11-27T01:04:00.000Z', 'login.failed', {}, 'panel:-'),
  ] }), at);
  f.server.reports.storeBatch('l1a', LogBatch.parse({ batch: randomUUID(), records: [op('0000000001', '2026-11-27T01:30:00.000Z', 'login', {}, 'panel:abcdef012345')] }), at);
  const opr = page.getByTestId('report-operator');
  assert.is(await opr.getByRole('heading').textContent(), 'Thao tác của người vận hành tại thôn');
  await opr.getByLabel('Ngày').fill('2026-11-27');
  await opr.getByRole('button', { name: 'Xem' }).click();
  const opRows = opr.getByTestId('operator-result').locator('tbody tr');
  await opRows.first().waitFor();
  assert.equal((await opRows.allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim()), [
    '08:00:00 t3a đăng nhập — — panel:0123456789ab · 192.168.1.20',
    '08:01:00 t3a đổi âm lượng 80% (yêu cầu 95%, giới hạn 80%) — panel:0123456789ab · 192.168.1.20',
    '08:02:00 t3a dừng phát khẩn cấp Cảnh báo lũ Loa hú sai, dân hoảng panel:0123456789ab · 192.168.1.20',
    '08:03:00 t3a thông báo bị từ chối Họp dân ngoài khung giờ được phát panel:0123456789ab · 192.168.1.20',
    '08:04:00 t3a đăng nhập sai — — panel:- · 192.168.1.20',
  ]);
  const opCsvHref = (await opr.getByTestId('operator-csv').getAttribute('href'))!;
  assert.is(opCsvHref, '/api/reports/operator?zone=qn%2Fdak-ha&date=2026-11-27&format=csv');
  const opCsv = (await page.evaluate(`fetch(${JSON.stringify(opCsvHref)}).then((r) => r.text())`)) as string;
  assert.ok(opCsv.startsWith('device,zone,at,action,emergency,session,address,rule,reason,detail\r\n'), opCsv); // text() has read the BOM away
  assert.match(opCsv, /,stop,[0-9a-f-]{36},panel:0123456789ab,192\.168\.1\.20,,"Loa hú sai, dân hoảng",/);
  assert.not.match(opCsv, /l1a/, 'Sơn Tây is not in Đắk Hà\u2019s file');

  const air = page.getByTestId('report-airtime');
  await air.getByLabel('Tuần có ngày').fill('2026-11-27');
  await air.getByRole('button', { name: 'Xem' }).click();
  await air.getByTestId('airtime-result').locator('tbody tr').first().waitFor();
  assert.match((await air.getByTestId('airtime-result').innerText()).replace(/\s+/g, ' '), /Đắk Hà \(qn\/dak-ha\).*10,0.*1.*0,0/);
  assert.match((await air.getByTestId('airtime-csv').getAttribute('href'))!, /week=2026-11-23&format=csv$/, 'the week starts on Monday');

  const up = page.getByTestId('report-uptime');
  await up.getByRole('button', { name: 'Xem' }).click();
  await up.getByTestId('uptime-result').locator('tbody tr').first().waitFor();
  const upRows = (await up.getByTestId('uptime-result').locator('tbody tr').allInnerTexts()).map((s) => s.split('\t'));
  assert.equal(upRows.map((r) => r.slice(0, 2)), [['t3a', 'qn/dak-ha/thon-3'], ['t3b', 'qn/dak-ha/thon-3'], ['t4a', 'qn/dak-ha/thon-4']]);
  assert.ok(upRows.every((r) => /^\d+,\d%$/.test(r[2]!)), 'a percentage with a decimal comma');
  assert.equal(problems, []);
  await context.close();
});

test('the audit log is for admins, and it is searchable', async () => {
  const { page, problems, context } = await loginAs(browser, f, 'admin');
  await goTo(page, 'Nhật ký thao tác');
  const list = page.getByTestId('audit-list');
  await list.locator('tbody tr').first().waitFor();
  assert.ok((await list.locator('tr[data-action="login"]').count()) >= 3);
  const all = await list.locator('tbody tr').count();
  await page.getByLabel('Tìm').fill('viewer-son-tay');
  const shown = await list.locator('tbody tr').allInnerTexts();
  assert.ok(shown.length >= 2 && shown.length < all, `${shown.length} of ${all}`);
  assert.ok(shown.every((r) => r.includes('viewer-son-tay')));
  assert.ok(shown.some((r) => /\blogin\b/.test(r)), 'the viewer\u2019s login is there');
  assert.equal(problems, []);
  await context.close();
});

test('on a phone: one column, no sideways scrolling, thumb-sized buttons and links', async () => {
  const { page, problems, context } = await loginAs(browser, f, 'dispatch', { viewport: { width: 390, height: 844 } });
  await page.getByTestId('device-t3a').waitFor();
  const main = (await page.locator('main').boundingBox())!;
  const cards = await page.locator('[data-device]').evaluateAll((els) => els.map((e) => (e as unknown as { getBoundingClientRect(): { x: number; width: number } }).getBoundingClientRect()).map((r) => ({ x: Math.round(r.x), width: Math.round(r.width) })));
  assert.ok(new Set(cards.map((c) => c.x)).size >= 1 && cards.every((c) => c.width > main.width * 0.75), `cards one per row: ${JSON.stringify(cards)}`);
  for (const view of ['Thiết bị', 'Khẩn cấp', 'Báo cáo']) {
    await goTo(page, view);
    const wide = (await page.evaluate('document.documentElement.scrollWidth')) as number;
    assert.ok(wide <= 390, `${view}: the page is ${wide} px wide`);
    const small = await page.locator('button:visible, nav a:visible, select:visible, input[type="text"]:visible, input[type="number"]:visible').evaluateAll((els) => els.map((e) => ({ h: (e as unknown as { getBoundingClientRect(): { height: number } }).getBoundingClientRect().height, t: (e as unknown as { textContent: string }).textContent })).filter((x) => x.h < 36));
    assert.equal(small, [], `${view}: every control at least 36 px tall`);
  }
  assert.equal(problems, []);
  await context.close();
});

test('by keyboard alone: log in, move between sections, compose and back out of a dialog', async () => {
  const c: ConsolePage = await openConsole(browser, f);
  const { page } = c;
  await page.keyboard.type('dispatch');
  await page.keyboard.press('Tab');
  await page.keyboard.type(f.p.accounts.dispatch!.secret);
  await page.keyboard.press('Enter');
  await page.getByTestId('who').waitFor();
  // Tab to the "Khẩn cấp" link and follow it.
  let onLink = false;
  for (let i = 0; i < 15 && !onLink; i++) {
    await page.keyboard.press('Tab');
    onLink = (await page.evaluate('document.activeElement && document.activeElement.textContent')) === 'Khẩn cấp';
  }
  assert.ok(onLink, 'the navigation is reachable by Tab');
  await page.keyboard.press('Enter');
  await page.locator('main[data-view="dispatch"] > .view').waitFor();
  await page.getByTestId('zone-qn/dak-ha').focus();
  await page.keyboard.press('Space');
  assert.ok(await page.getByTestId('zone-qn/dak-ha').isChecked());
  await page.getByTestId('compose-submit').focus();
  await page.keyboard.press('Enter');
  await page.getByTestId('confirm-exercise').waitFor();
  assert.is(await page.evaluate('document.activeElement && document.activeElement.dataset.testid'), 'confirm-cancel', 'focus starts on the safe choice');
  await page.keyboard.press('Escape');
  await page.getByTestId('confirm-exercise').waitFor({ state: 'detached' });
  assert.is(f.server.dispatcher.list({ name: 'admin', role: 'admin', zone: null }).length, 0);
  assert.equal(c.problems, []);
  await c.context.close();
});

test.run();
