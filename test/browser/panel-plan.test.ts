import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { syncFixture, type SyncFixture } from '../helpers/sync-fixture.js';
import { startPanelAgent, type PanelAgent } from '../helpers/panel.js';
import { launchBrowser, UI_TIMEOUT_MS } from '../helpers/browser.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { localDate } from '../../schedules/time.js';
import { ROOT_DIR } from '../../lib/paths.js';

// The village panel's plan of today says what became of what is past, by
// the cluster's own journal (played; missed when it did not play), and what
// is to come; every item with its start and length. A typed announcement is
// named by its first words, cut at a word boundary with an ellipsis. The
// storage line says what each figure is; a wrong password is said in the
// page's language alone. In an en-US phone browser whose clock runs in UTC.

const ARTIFACTS = join(ROOT_DIR, 'test-artifacts');
const PHONE = { width: 360, height: 640 };

let f: SyncFixture;
let browser: Browser;
let r: PanelAgent;

function oggTone(seconds: number, hz: number): string {
  const file = join(tempDir(), `tone-${hz}-${seconds}.ogg`);
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${seconds}`, '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '48k', file]);
  return file;
}

test.before(async () => {
  f = await syncFixture({ beacons: false });
  browser = await launchBrowser();
  const today = localDate(Date.now());
  const tone = f.library.add(readFileSync(oggTone(3, 440)), { title: 'Tin 3 giây', mime: 'audio/ogg', durationMs: 3000, actor: 'test' });
  const prog = (id: string, title: string, time: string) => ({ id, title, level: 'normal' as const, playlist: [tone.sha256], recurrence: { kind: 'once' as const, date: today, time }, resumable: false, zones: ['qn/son-tay'] });
  const version = f.setTarget('l1a', {
    assets: [tone.sha256],
    // 06:00 was before the cluster ran; 10:00 is its "now"; 15:00 is to come; 23:30 falls in the quiet hours.
    programmes: [prog('sang', 'Bản tin sáng', '06:00'), prog('muoi-gio', 'Tin 10 giờ', '10:00'), prog('chieu', 'Tin chiều', '15:00'), prog('dem', 'Bản tin đêm', '23:30')],
    rules: [{ zone: 'qn', windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '22:00', volumeCap: 70 }], defaultVolume: 60, blackoutDates: [] }],
  });
  // The cluster's clock says 10:00:00 today in Việt Nam when it starts.
  r = await startPanelAgent(f, 'l1a', { offsetMs: Date.parse(`${today}T03:00:00Z`) - Date.now() });
  await waitFor(() => r.agent.target?.version === version && r.agent.store.target()?.appliedAt, { timeoutMs: 15_000, what: 'the target applied' });
});
test.after(async () => {
  await browser?.close();
  await r?.panel.stop().catch(() => {});
  await r?.agent.stop().catch(() => {});
  await f?.stop();
  cleanupTempDirs();
});

async function openPanel(): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ baseURL: r.url, viewport: PHONE, locale: 'en-US', timezoneId: 'UTC', hasTouch: true });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|409|429)/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto('/');
  await page.getByTestId('login-password').waitFor();
  return { context, page, problems };
}

async function logIn(page: Page): Promise<void> {
  await page.getByTestId('login-password').fill(r.password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('status-link').filter({ hasText: /\S/ }).waitFor();
}

const planRows = async (page: Page) => (await page.getByTestId('plan-item').allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim());

test('a wrong password is said in the page\u2019s language alone', async () => {
  const { page, context, problems } = await openPanel();
  await page.getByTestId('login-password').fill('sai');
  await page.getByTestId('login-submit').click();
  await page.getByTestId('login-error').filter({ hasText: /\S/ }).waitFor();
  assert.is(await page.getByTestId('login-error').textContent(), 'Sai mật khẩu.');
  await page.getByTestId('lang-switch').click();
  // The switch loads the language and then redraws the form: typing before that is typing into a form about to go.
  await page.getByTestId('login-submit').filter({ hasText: 'Log in' }).waitFor();
  await page.getByTestId('login-password').fill('wrong');
  await page.getByTestId('login-submit').click();
  await page.getByTestId('login-error').filter({ hasText: 'Wrong' }).waitFor();
  assert.is(await page.getByTestId('login-error').textContent(), 'Wrong password.');
  assert.equal(problems, []);
  await context.close();
});

test('today\u2019s plan: what is past says what happened (played; missed), what is to come what will; each item with its start and length', async () => {
  // The 10:00 item plays its 3 s: the journal has it.
  await waitFor(() => r.agent.store.recentJournal(10, 'play').find((x) => x.kind === 'play' && x.data.programme === 'muoi-gio' && x.data.outcome === 'played'), { timeoutMs: 20_000, what: 'the 10:00 item played' });
  const { page, context, problems } = await openPanel();
  await logIn(page);
  await page.getByTestId('plan-item').first().waitFor();
  assert.equal(await planRows(page), [
    '06:00 (0:03) Bản tin sáng Thường âm lượng 60 Lỡ',
    '10:00 (0:03) Tin 10 giờ Thường âm lượng 60 Đã phát',
    '15:00 (0:03) Tin chiều Thường âm lượng 60 Sẽ phát',
    '23:30 Bản tin đêm Thường Không phát: ngoài khung giờ được phát',
  ]);
  assert.equal(await page.getByTestId('plan-item').evaluateAll((els) => els.map((e) => (e as unknown as { dataset: { when: string; outcome: string } }).dataset).map((d) => `${d.when}:${d.outcome}`)), ['past:absent', 'past:played', 'next:', 'next:']);
  await page.getByTestId('lang-switch').click();
  await page.getByRole('heading', { name: "Today's plan" }).waitFor();
  await page.getByTestId('plan-item').filter({ hasText: 'Missed' }).waitFor();
  assert.equal((await planRows(page)).map((s) => s.replace(/^(\S+( \(\S+\))?) .*?(Missed|Played|Will play|Will not play)/, '$1 $3')), ['06:00 (0:03) Missed', '10:00 (0:03) Played', '15:00 (0:03) Will play', '23:30 Will not play: outside the broadcasting hours']);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.locator('section.card.plan').screenshot({ path: join(ARTIFACTS, 'panel-plan-en.png') });
  assert.equal(problems, []);
  await context.close();
});

test('a typed announcement is named by its first words, cut at a word boundary with an ellipsis; the storage line says what each figure is', async () => {
  const { page, context, problems } = await openPanel();
  await logIn(page);
  const disk = page.getByTestId('status-disk');
  await disk.filter({ hasText: /\S/ }).waitFor();
  assert.match((await disk.textContent())!, /^Âm thanh đã lưu: [\d,]+ (B|KB|MB) trong hạn mức [\d,]+ (MB|GB); thẻ nhớ còn trống [\d,]+ (MB|GB|TB)$/);
  const said = 'Thông báo khẩn: bão số 9 sắp đổ bộ, đề nghị bà con thôn Làng 1 “chằng chống nhà cửa” và không ra sông';
  await page.getByTestId('announce-text').fill(said);
  await page.getByTestId('announce-text-submit').click();
  const title = 'Thông báo khẩn: bão số 9 sắp đổ bộ, đề nghị bà con thôn…';
  await page.getByTestId('announce-message').filter({ hasText: title }).waitFor({ timeout: 30_000 });
  await page.getByTestId('now-playing').filter({ hasText: title }).waitFor({ timeout: 20_000 });
  await page.getByTestId('lang-switch').click();
  await page.getByTestId('status-disk').filter({ hasText: 'Stored audio' }).waitFor();
  assert.match((await page.getByTestId('status-disk').textContent())!, /^Stored audio: [\d.]+ (B|KB|MB) of its [\d.]+ (MB|GB) allowance; [\d.]+ (MB|GB|TB) free on the memory card$/);
  assert.equal(problems, []);
  await context.close();
});

test.run();
