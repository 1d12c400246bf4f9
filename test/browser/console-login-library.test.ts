import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { consoleFixture, type ConsoleFixture } from '../helpers/console.js';
import { goTo, launchBrowser, login, mediaState, openConsole, toneFile, type ConsolePage } from '../helpers/browser.js';
import { cleanupTempDirs, waitFor } from '../helpers/tmp.js';
import { consoleServices } from '../../provisioning/console/services.js';

// The console in headless Chromium, against a real console (registry,
// broker, ffmpeg ingest): logging in and out in Vietnamese, the English
// switch that the browser remembers, and an upload that goes through the
// real ingest into the library list, with its preview.

let f: ConsoleFixture;
let browser: Browser;
const pages: ConsolePage[] = [];

test.before(async () => {
  f = await consoleFixture(await consoleServices({ engine: 'espeak' }));
  browser = await launchBrowser();
});
test.after(async () => {
  // The browser first: its live event streams would otherwise hold the HTTP server open.
  await browser?.close();
  await f?.stop();
  cleanupTempDirs();
});

test('the page keeps its CSP: no inline script or style, every asset from the console itself', async () => {
  const r = await fetch(`http://127.0.0.1:${f.server.address!.port}/`);
  const csp = r.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'/);
  const html = await r.text();
  assert.not.match(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script');
  assert.not.match(html, /\sstyle=/i, 'no inline style attribute');
  assert.not.match(html, /https?:\/\//i, 'nothing from another site (no CDN)');
});

test('log in in Vietnamese: a wrong password shows the reason; then who is logged in, with role and zone', async () => {
  const c = await openConsole(browser, f);
  pages.push(c);
  const { page } = c;
  assert.is(await page.getAttribute('html', 'lang'), 'vi');
  assert.is(await page.getByRole('heading', { level: 1 }).textContent(), 'Đăng nhập');
  assert.is((await page.getByText('Tên tài khoản').count()) > 0, true, 'labels in Vietnamese');
  await page.getByLabel('Tên tài khoản').fill('editor-dak-ha');
  await page.getByLabel('Mật khẩu').fill('sai mật khẩu');
  await page.getByRole('button', { name: 'Đăng nhập' }).click();
  const err = page.getByTestId('login-error');
  await err.waitFor();
  assert.is(await err.textContent(), 'Sai tên tài khoản hoặc mật khẩu.', 'in Vietnamese alone, nothing about sessions');
  await login(page, 'editor-dak-ha', f.p.accounts['editor-dak-ha']!.secret);
  const who = (await page.getByTestId('who').textContent())!;
  assert.match(who, /editor-dak-ha · Biên tập · /);
  await page.getByTestId('who-zone').filter({ hasText: 'Đắk Hà (qn/dak-ha)' }).waitFor();
  const nav = await page.getByRole('navigation').getByRole('link').allTextContents();
  assert.equal(nav, ['Thiết bị', 'Thư viện âm thanh', 'Đọc văn bản', 'Chương trình', 'Khẩn cấp', 'Phát trực tiếp', 'Báo cáo'], 'an editor has no audit log; it speaks live');
  // Vietnamese text is NFC throughout (composed diacritics).
  const text = await page.locator('body').innerText();
  assert.is(text, text.normalize('NFC'));
});

test('the English switch translates the page and is remembered by the browser; back to Vietnamese', async () => {
  const { page, context } = pages[0]!;
  await page.getByTestId('lang-switch').click();
  await page.getByRole('link', { name: 'Audio library' }).waitFor();
  assert.is(await page.getAttribute('html', 'lang'), 'en');
  assert.match((await page.getByTestId('who').textContent())!, /editor-dak-ha · Editor · /);
  // A new tab of the same browser opens in English.
  const other = await context.newPage();
  await other.goto('/');
  await other.getByRole('link', { name: 'Devices' }).waitFor();
  assert.is(await other.getByTestId('logout').textContent(), 'Log out');
  await other.close();
  // Both dictionaries have the same keys, and every Vietnamese string is NFC.
  const dicts = (await page.evaluate(`Promise.all([import('/ui/lang/vi.js'), import('/ui/lang/en.js')]).then(([v, e]) => [v.default, e.default])`)) as [Record<string, string>, Record<string, string>];
  assert.equal(Object.keys(dicts[1]).sort(), Object.keys(dicts[0]).sort());
  assert.ok(Object.values(dicts[0]).every((s) => s === s.normalize('NFC')));
  await page.getByTestId('lang-switch').click();
  await page.getByRole('link', { name: 'Thư viện âm thanh' }).waitFor();
});

test('upload a 3 s MP3: upload and ingest progress, then it is in the library with its length and loudness, and it plays in the preview', async () => {
  const { page, problems } = pages[0]!;
  await goTo(page, 'Thư viện âm thanh');
  await page.getByTestId('upload-form').waitFor();
  await page.getByLabel('Tệp (MP3, WAV, Ogg, M4A, FLAC, hoặc video có tiếng)').setInputFiles(toneFile(3, 'mp3'));
  await page.getByLabel('Tên bản tin').fill('Thông báo tiêm phòng');
  await page.getByRole('button', { name: 'Tải lên' }).click();
  await page.getByTestId('upload-status').filter({ hasText: 'Đã thêm vào thư viện: Thông báo tiêm phòng (0:03).' }).waitFor({ timeout: 30_000 });
  assert.is(await page.getByTestId('upload-progress').evaluate((p) => (p as unknown as { value: number }).value), 1, 'all bytes sent');
  assert.is(await page.getByTestId('ingest-progress').evaluate((p) => (p as unknown as { value: number }).value), 1, 'ingest finished');
  const row = page.locator('[data-testid^="asset-"][data-title="Thông báo tiêm phòng"]');
  await row.waitFor();
  assert.is(await row.getByTestId('duration').textContent(), '0:03');
  // The real ingest measured it near the province's -16 LUFS target.
  const loud = (await row.getByTestId('loudness').textContent())!;
  const lufs = Number(/^(-?[\d,]+) LUFS/.exec(loud.replace('\u2212', '-'))![1]!.replace(',', '.'));
  assert.ok(Math.abs(lufs + 16) < 1.5, `loudness ${loud}`);
  const lib = (await (await f.as('editor-dak-ha')).get('/api/library')).json() as { assets: { sha256: string; title: string; addedAt: string }[] };
  const asset = lib.assets.find((a) => a.title === 'Thông báo tiêm phòng')!;
  assert.ok(asset, 'the asset is in the library on the server');
  // Times are Việt Nam's (UTC+7) although this browser runs in UTC.
  const added = new Date(Date.parse(asset.addedAt) + 7 * 3600_000);
  const hhmm = `${String(added.getUTCHours()).padStart(2, '0')}:${String(added.getUTCMinutes()).padStart(2, '0')}`;
  assert.match((await row.locator('td').nth(3).textContent())!, new RegExp(`^${hhmm} `));
  // Preview: the player loads the asset from the console and plays it (Chromium decodes the Ogg Opus the ingest made).
  await row.getByRole('button', { name: 'Nghe thử' }).click();
  await page.getByTestId('preview-title').filter({ hasText: 'Thông báo tiêm phòng' }).waitFor();
  const player = page.getByTestId('preview-player');
  assert.is(await player.getAttribute('src'), `/api/library/${asset.sha256}/audio`);
  const media = await waitFor(async () => {
    const m = await mediaState(player);
    return m.error !== null || m.currentTime > 1 ? m : null;
  }, { timeoutMs: 10_000, what: 'the preview playing' });
  assert.is(media.error, null, 'the browser decodes the asset');
  assert.equal(problems, [], 'no console errors, CSP violations or exceptions');
});

test('logout returns to the login page and the session is gone', async () => {
  const { page } = pages[0]!;
  await page.getByRole('button', { name: 'Đăng xuất' }).click();
  await page.getByTestId('login-name').waitFor();
  const me = await page.evaluate(`fetch('/api/me').then((r) => r.status)`);
  assert.is(me, 401);
});

test('after five failed logins the page shows the throttling message from the server', async () => {
  const { page } = await openConsole(browser, f);
  const err = page.getByTestId('login-error');
  let shown = '';
  // Five free attempts, then the server makes the next one wait (its back-off grows with each failure).
  for (let i = 0; i < 8 && !/quá nhiều lần/.test(shown); i++) {
    await page.getByTestId('login-name').fill('approver-2');
    await page.getByTestId('login-password').fill(`sai-${i}`);
    await page.getByTestId('login-submit').click();
    await err.waitFor();
    shown = (await err.textContent())!;
    if (i < 5) assert.match(shown, /^Sai tên tài khoản hoặc mật khẩu/, `attempt ${i + 1}`);
  }
  assert.match(shown, /^Đăng nhập sai quá nhiều lần\. Vui lòng chờ (\d+ phút )?(\d+ giây )?rồi thử lại\.$/);
  assert.is(await page.getByTestId('who').count(), 0, 'still on the login page');
});

test.run();
