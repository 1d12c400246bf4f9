import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { consoleFixture, type ConsoleFixture } from '../helpers/console.js';
import { goTo, launchBrowser, loginAs, mediaState, startAgents, type ConsolePage } from '../helpers/browser.js';
import { cleanupTempDirs, waitFor } from '../helpers/tmp.js';
import { consoleServices } from '../../provisioning/console/services.js';

// An editor of Đắk Hà turns a Vietnamese notice into speech (real espeak-ng
// and ffmpeg ingest), schedules it for Thôn 3, checks the day plan against
// the village's rules, publishes, and watches in the fleet view — live, no
// reload — both real village agents of Thôn 3 apply the new target.

const BULLETIN = 'UBND xã thông báo: ngày 15/12/2026 lúc 7h30 họp dân tại nhà văn hoá thôn 3, gọi 0905 123 456';
const MONDAY = '2026-12-14';

let f: ConsoleFixture;
let browser: Browser;
let c: ConsolePage;
let agents: Awaited<ReturnType<typeof startAgents>> | null = null;
const published: Record<string, number> = {};
let bulletin = '';

test.before(async () => {
  f = await consoleFixture(await consoleServices({ engine: 'espeak' }));
  browser = await launchBrowser();
  c = await loginAs(browser, f, 'editor-dak-ha');
});
test.after(async () => {
  await browser?.close();
  await agents?.stop();
  await f?.stop();
  cleanupTempDirs();
});

test('TTS: Vietnamese text with a date, a time and a phone number becomes a library asset that plays in the preview', async () => {
  const { page } = c;
  await goTo(page, 'Đọc văn bản');
  await page.getByLabel('Văn bản cần đọc').fill(BULLETIN);
  await page.getByText(`${BULLETIN.length} ký tự`).waitFor();
  await page.getByLabel('Tên bản tin').fill('Họp dân thôn 3');
  await page.getByLabel('Giọng').selectOption({ label: 'Miền Bắc' });
  // The speed slider by keyboard: one step down from 1,0×.
  await page.getByTestId('tts-speed').focus();
  await page.keyboard.press('ArrowLeft');
  await page.getByText('0,9×').waitFor();
  await page.getByRole('button', { name: 'Tạo bản tin' }).click();
  await page.getByTestId('tts-status').filter({ hasText: /^Đã tạo: Họp dân thôn 3 \(\d+:\d\d\)\.$/ }).waitFor({ timeout: 30_000 });
  const player = page.getByTestId('tts-player');
  const sha = (await player.getAttribute('data-sha256'))!;
  bulletin = sha;
  const lib = (await (await f.as('editor-dak-ha')).get('/api/library')).json() as { assets: { sha256: string; title: string; durationMs: number; loudness: { I: number } | null }[] };
  const asset = lib.assets.find((a) => a.sha256 === sha)!;
  assert.is(asset.title, 'Họp dân thôn 3');
  // Read out in words ("mười lăm tháng mười hai…", "không chín không năm…"), the notice takes well over five seconds.
  assert.ok(asset.durationMs > 5000, `${asset.durationMs} ms of speech`);
  assert.ok(asset.loudness && Math.abs(asset.loudness.I + 16) < 1.5, 'loudness-normalised like any upload');
  await player.evaluate((el) => void (el as unknown as { play(): Promise<void> }).play());
  const m = await waitFor(async () => {
    const s = await mediaState(player);
    return s.error !== null || s.currentTime > 0.5 ? s : null;
  }, { timeoutMs: 10_000, what: 'the TTS preview playing' });
  assert.is(m.error, null);
});

test('a programme for Thôn 3 with the bulletin, on Mondays and Thursdays at 06:30', async () => {
  const { page } = c;
  await goTo(page, 'Chương trình');
  const ed = page.getByTestId('programme-editor');
  await ed.getByLabel('Thuộc vùng').selectOption('qn/dak-ha/thon-3');
  await ed.getByLabel('Tên chương trình').fill('Họp dân thôn 3');
  assert.is(await ed.getByLabel('Mã').inputValue(), 'hop-dan-thon-3', 'an id made from the Vietnamese title');
  assert.ok(await ed.getByTestId('prog-target-qn/dak-ha/thon-3').isChecked(), 'plays in the zone that owns it');
  await ed.getByLabel('Tệp âm thanh').selectOption(bulletin);
  await ed.getByRole('button', { name: 'Thêm vào danh sách' }).click();
  await ed.getByTestId('prog-playlist').getByText('Họp dân thôn 3').waitFor();
  await ed.getByLabel('Lặp lại').selectOption('weekly');
  await ed.getByLabel('Thứ Năm').check();
  await ed.getByLabel('Giờ phát').fill('06:30');
  await ed.getByRole('button', { name: 'Lưu' }).click();
  await ed.getByTestId('prog-status').filter({ hasText: 'Đã lưu “Họp dân thôn 3”' }).waitFor();
  const row = page.getByTestId('programme-hop-dan-thon-3');
  assert.match((await row.textContent())!, /Thứ Hai, Thứ Năm lúc 06:30/);
  const saved = ((await (await f.as('editor')).get('/api/programmes')).json() as { programmes: { zone: string; programme: Record<string, unknown> }[] }).programmes;
  assert.equal(saved.map((p) => ({ zone: p.zone, zones: p.programme.zones, rec: p.programme.recurrence, resumable: p.programme.resumable })), [
    { zone: 'qn/dak-ha/thon-3', zones: ['qn/dak-ha/thon-3'], rec: { kind: 'weekly', days: [1, 4], time: '06:30' }, resumable: true },
  ]);
});

test('the day plan follows the village rules: refused outside the allowed hours, with the reason; planned at the capped volume inside them', async () => {
  const { page } = c;
  const rules = page.getByTestId('rules');
  await rules.getByLabel('Vùng').selectOption('qn/dak-ha/thon-3');
  await rules.getByTestId('rules-none').waitFor();
  await rules.getByRole('button', { name: 'Thêm khung giờ' }).click();
  await rules.getByTestId('window-start').fill('05:00');
  await rules.getByTestId('window-end').fill('06:00');
  await rules.getByTestId('window-cap').fill('60');
  await rules.getByRole('button', { name: 'Lưu' }).click();
  await rules.getByTestId('rules-status').filter({ hasText: 'Đã lưu quy định' }).waitFor();
  const plan = page.getByTestId('plan');
  await plan.getByLabel('Thiết bị').selectOption('t3a');
  await plan.getByLabel('Ngày').fill(MONDAY);
  await plan.getByRole('button', { name: 'Xem kế hoạch' }).click();
  const item = plan.getByTestId('plan-hop-dan-thon-3');
  await item.waitFor();
  assert.is(await item.getAttribute('data-status'), 'refused');
  assert.match((await item.textContent())!, /06:30.*Không phát.*ngoài khung giờ được phát/);
  // Widen the window to 07:00: now it plays, at the cap.
  await rules.getByTestId('window-end').fill('07:00');
  await rules.getByRole('button', { name: 'Lưu' }).click();
  await plan.getByRole('button', { name: 'Xem kế hoạch' }).click();
  await plan.locator('[data-testid="plan-hop-dan-thon-3"][data-status="planned"]').waitFor();
  assert.match((await item.textContent())!, /06:30 \(\d+:\d\d\).*60%.*Sẽ phát/);
});

test('publish Thôn 3: the page names exactly the two devices that got a new target', async () => {
  const { page } = c;
  const form = page.getByRole('button', { name: 'Xuất bản', exact: true });
  await page.getByTestId('publish-zone').selectOption('qn/dak-ha/thon-3');
  await form.click();
  const result = page.getByTestId('publish-result');
  await result.getByText('2 thiết bị nhận cấu hình mới:').waitFor();
  const items = result.locator('[data-testid^="published-"]');
  assert.equal((await items.allTextContents()).map((s) => s.replace(/\d+$/, 'N')), ['t3a — phiên bản N', 't3b — phiên bản N']);
  for (const id of ['t3a', 't3b']) published[id] = Number(await result.getByTestId(`published-${id}`).getAttribute('data-version'));
  // Publishing again changes nothing, and the page says so.
  await form.click();
  await result.getByTestId('published-none').waitFor();
});

test('fleet: the two agents of Thôn 3 come online and apply the new version, seen live without reloading; the filters agree', async () => {
  const { page, problems } = c;
  await goTo(page, 'Thiết bị');
  const card = (id: string) => page.getByTestId(`device-${id}`);
  await card('t3a').waitFor();
  assert.is(await card('t3a').getAttribute('data-online'), 'false');
  assert.is(await card('t3a').getByTestId('version').textContent(), `chưa áp dụng: đang giữ —, cần ${published.t3a}`);
  assert.is(await page.getByTestId('device-l1a').count(), 0, 'Sơn Tây is outside this editor\u2019s commune');
  // Not applied: exactly Thôn 3's two (Thôn 4 got no target).
  await page.getByLabel('Chỉ thiết bị chưa áp dụng cấu hình mới').check();
  await page.getByTestId('fleet-status').filter({ hasText: '2 thiết bị khớp bộ lọc.' }).waitFor();
  assert.equal(await page.locator('[data-device]').evaluateAll((els) => els.map((e) => (e as unknown as { dataset: { device: string } }).dataset.device)), ['t3a', 't3b']);
  await page.getByLabel('Chỉ thiết bị chưa áp dụng cấu hình mới').uncheck();
  await page.getByTestId('fleet-status').filter({ hasText: '3 thiết bị.' }).waitFor();
  await page.evaluate('window.__sameDocument = true');
  agents = await startAgents(f, ['t3a', 't3b']);
  for (const id of ['t3a', 't3b']) {
    await page.locator(`[data-testid="device-${id}"][data-online="true"][data-applied="${published[id]}"][data-target="${published[id]}"]`).waitFor({ timeout: 20_000 });
    assert.is(await card(id).getByTestId('version').textContent(), `đã áp dụng phiên bản ${published[id]}`);
    assert.is(await card(id).getByTestId('online').textContent(), 'Trực tuyến');
  }
  assert.is(await page.evaluate('window.__sameDocument'), true, 'updated by the live stream, not by a reload');
  assert.is(await card('t4a').getAttribute('data-online'), 'false');
  // Offline for more than 0 hours: only Thôn 4's, which never connected.
  await page.getByLabel('Chỉ thiết bị mất kết nối quá số giờ').check();
  await page.getByLabel('Số giờ', { exact: true }).fill('0');
  await page.getByLabel('Số giờ', { exact: true }).press('Enter');
  await page.getByTestId('fleet-status').filter({ hasText: '1 thiết bị khớp bộ lọc.' }).waitFor();
  assert.is(await page.locator('[data-device]').getAttribute('data-device'), 't4a');
  assert.equal(problems, []);
});

test.run();
