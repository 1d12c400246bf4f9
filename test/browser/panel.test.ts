import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { syncFixture, type SyncFixture } from '../helpers/sync-fixture.js';
import { quietNightTarget, startPanelAgent, type PanelAgent } from '../helpers/panel.js';
import { launchBrowser, toneFile, UI_TIMEOUT_MS } from '../helpers/browser.js';
import { connect, endAll } from '../helpers/mqtt.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { Signer } from '../../protocol/signing.js';
import { topics } from '../../protocol/topics.js';
import type { EmergencyStart, RuleProfile } from '../../protocol/payloads.js';
import { localDate } from '../../schedules/time.js';
import { readWav, toneLevel } from '../helpers/audio.js';
import { PCM } from '../../audio/types.js';
import { ROOT_DIR } from '../../lib/paths.js';

/** Where browser tests leave what people may want to look at (CI keeps the folder). */
const ARTIFACTS = join(ROOT_DIR, 'test-artifacts');

// The village panel (device/panel/ui) in headless Chromium on a 360×640
// phone whose clock runs in UTC, against real agents (real broker, WAV horn,
// ffmpeg ingest, espeak-ng) with their panels on loopback: logging in and
// the lockout, the status, the plan with its refusals, volume within the
// cap, a clip announced and stopped, an emergency only the province may
// stop (then only with a reason), uploads and typed text, the English
// switch, and a session that ends.

const PHONE = { width: 360, height: 640 };

let f: SyncFixture;
let browser: Browser;
let dispatch: Awaited<ReturnType<typeof connect>>;
let signer: Signer;
const running: PanelAgent[] = [];
// The lockout test drives its panel's clock (sessions and back-off), so it does not depend on how fast the browser is.
let lockNow = Date.now();

test.before(async () => {
  f = await syncFixture({ beacons: false });
  dispatch = await connect(f.broker.url, { clientId: 'dispatch', username: 'dispatch', password: f.p.accounts.dispatch!.secret });
  signer = new Signer(f.p.registry.readPrivateKey('dispatch'));
  browser = await launchBrowser();
});
test.after(async () => {
  await browser?.close();
  for (const r of running) await r.panel.stop().catch(() => {});
  for (const r of running) await r.agent.stop().catch(() => {});
  await endAll(dispatch);
  await f?.stop();
  cleanupTempDirs();
});

const ALL_DAY = (cap: number, extra: Partial<RuleProfile> = {}): RuleProfile => ({ zone: 'qn', windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '00:00', volumeCap: cap }], defaultVolume: 60, blackoutDates: [], ...extra });

async function start(id: string, opts: Parameters<typeof startPanelAgent>[2] = {}): Promise<PanelAgent> {
  const r = await startPanelAgent(f, id, opts);
  running.push(r);
  return r;
}

const applied = (r: PanelAgent, v: number) => waitFor(() => r.agent.target?.version === v && r.agent.store.target()?.appliedAt, { timeoutMs: 15_000, what: `target ${v} applied` });

interface PanelPage {
  context: BrowserContext;
  page: Page;
  /** Console errors, exceptions and CSP violations the page saw. */
  problems: string[];
}

/** A fresh phone-sized browser context (its own cookie and localStorage) on the panel's login page. */
async function openPanel(r: PanelAgent): Promise<PanelPage> {
  const context = await browser.newContext({ baseURL: r.url, viewport: PHONE, locale: 'vi-VN', timezoneId: 'UTC', hasTouch: true });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    // Refused logins and ended sessions are logged by the browser as resource errors; those are the tests' own doing.
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403|409|429)/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto('/');
  await page.getByTestId('login-password').waitFor();
  return { context, page, problems };
}

async function logIn(page: Page, password: string): Promise<void> {
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('status-link').filter({ hasText: /\S/ }).waitFor();
}

/** HH:MM of an instant in Việt Nam (UTC+7, no summer time). */
const vnTime = (iso: string) => new Date(Date.parse(iso) + 7 * 3600_000).toISOString().slice(11, 16);

test('the page keeps its CSP: no inline script or style, nothing from another site; the shared modules are served', async () => {
  const r = await start('t3b', { now: () => lockNow });
  const res = await fetch(r.url);
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const html = await res.text();
  assert.not.match(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script');
  assert.not.match(html, /\sstyle=/i, 'no inline style attribute');
  assert.not.match(html, /https?:\/\//i, 'no CDN');
  for (const path of ['/ui/common/dom.js', '/ui/common/api.js', '/ui/common/i18n.js', '/ui/common/base.css', '/ui/app.js', '/ui/style.css']) assert.is((await fetch(new URL(path, r.url))).status, 200, path);
});

test('login on a phone: a wrong password says so; after five the wait is shown in words and the button waits; then the operator gets in', async () => {
  const r = running.find((x) => x.agent.config.device.id === 't3b')!;
  const { page, problems } = await openPanel(r);
  assert.is(await page.getAttribute('html', 'lang'), 'vi');
  assert.is(await page.getByRole('heading', { level: 1 }).textContent(), 'Đăng nhập');
  await page.getByLabel('Mật khẩu').fill('sai mật khẩu');
  await page.getByRole('button', { name: 'Đăng nhập' }).click();
  const msg = page.getByTestId('login-error');
  await msg.filter({ hasText: 'Sai mật khẩu.' }).waitFor();
  for (let i = 2; i <= 5; i++) {
    await page.getByTestId('login-password').fill(`sai-${i}`);
    await page.getByTestId('login-submit').click();
    await page.locator('[data-testid="login-submit"]:enabled').waitFor();
  }
  // The sixth attempt, even with the right password, waits (429, Retry-After: 1).
  await page.getByTestId('login-password').fill(r.password);
  await page.getByTestId('login-submit').click();
  await msg.filter({ hasText: 'Đăng nhập sai quá nhiều lần. Vui lòng chờ 1 giây rồi thử lại.' }).waitFor();
  assert.is(await page.getByTestId('login-submit').isDisabled(), true, 'the button waits too');
  lockNow += 2000;
  await msg.filter({ hasText: 'Bạn có thể thử đăng nhập lại.' }).waitFor();
  await logIn(page, r.password);
  await page.getByTestId('now-playing').filter({ hasText: 'Không phát gì.' }).waitFor();
  assert.equal(problems, []);
});

test('the main page on a phone: status, the plan with its refusal, volume clamped to the cap, a clip announced then stopped, the log; Việt Nam times', async () => {
  const tone = f.library.add(readFileSync(oggTone(20, 440)), { title: 'Âm thử 440 Hz', mime: 'audio/ogg', durationMs: 20_000, actor: 'test' });
  // The night bulletin falls in quiet hours; the agent's clock says 10:00 today in Việt Nam, inside the window.
  const { version: v, offsetMs } = quietNightTarget(f, 'l1a', 'qn/son-tay', tone.sha256);
  const r = await start('l1a', { offsetMs });
  await applied(r, v);
  const { page, problems } = await openPanel(r);
  await logIn(page, r.password);

  await page.getByTestId('status-link').filter({ hasText: /^Đã kết nối từ \d\d:\d\d/ }).waitFor();
  assert.is(await page.getByTestId('status-clock').textContent(), 'Tin cậy (nguồn: NTP qua mạng)');
  assert.is(await page.getByTestId('status-volume').textContent(), '60 (giới hạn hiện tại 70)');
  assert.match((await page.getByTestId('device-name').textContent())!, /^l1a · qn\/son-tay\/lang-1$/);

  // The night bulletin is refused by the quiet hours, shown in words and set apart.
  const night = page.getByTestId('plan-item').filter({ hasText: 'Bản tin đêm' });
  await night.waitFor();
  assert.is(await night.getAttribute('data-status'), 'refused');
  assert.match((await night.textContent())!, /^23:30.*Bản tin đêm.*Không phát: ngoài khung giờ được phát$/);
  const struck = await night.locator('.title').evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { textDecorationLine: string } }).getComputedStyle(el).textDecorationLine);
  assert.is(struck, 'line-through', 'a refused item looks refused, not only by its word');

  // A clip of the province's library, announced from the phone.
  const select = page.getByTestId('announce-clip-select');
  await select.locator('option', { hasText: 'Âm thử 440 Hz (0:20)' }).waitFor({ state: 'attached' });
  await page.getByTestId('announce-clip-submit').click();
  await page.getByTestId('announce-message').filter({ hasText: 'Đang phát thông báo: Âm thử 440 Hz.' }).waitFor();
  const playing = page.getByTestId('now-playing');
  await playing.filter({ hasText: 'Âm thử 440 Hz' }).waitFor();
  assert.match((await playing.textContent())!, /Ưu tiên.*Thông báo tại chỗ.*Âm thử 440 Hz.*Từ 10:0\d/);

  // Up to 95: the agent clamps to the window's cap and the page says so.
  await page.getByTestId('volume-input').fill('95');
  await page.getByTestId('volume-apply').click();
  await page.getByTestId('volume-message').filter({ hasText: 'Đã giảm xuống 70 vì giới hạn hiện tại là 70 (bạn chọn 95).' }).waitFor();
  assert.is(r.agent.playback?.volume, 70, 'applied to what plays');
  await page.getByTestId('status-volume').filter({ hasText: '70 (giới hạn hiện tại 70) · đang phát ở mức 70' }).waitFor();

  // The main page as the operator sees it, kept for people to look at.
  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, 'panel-main-phone.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 10_000, 'a screenshot of the main page is kept');

  // The layout fits the phone: no sideways scrolling, thumb-sized buttons.
  assert.ok(Number(await page.evaluate('document.scrollingElement.scrollWidth')) <= PHONE.width, 'no horizontal scroll at 360 px');
  const heights = await page.locator('button:visible').evaluateAll((bs) => bs.map((b) => b.getBoundingClientRect().height));
  assert.ok(heights.length > 5 && heights.every((x) => x >= 44), `buttons at least 44 px high: ${heights.join(', ')}`);

  // Stop asks first, then stops; the log shows it interrupted, at Việt Nam's time.
  await page.getByTestId('stop-button').click();
  await page.getByTestId('stop-confirm').waitFor();
  await page.getByTestId('confirm-ok').click();
  await page.getByTestId('stop-message').filter({ hasText: 'Đã dừng: Âm thử 440 Hz.' }).waitFor();
  await playing.filter({ hasText: 'Không phát gì.' }).waitFor();
  assert.is(await page.getByTestId('stop-button').count(), 0, 'nothing to stop');
  const first = page.getByTestId('log-item').first();
  await first.filter({ hasText: 'Bị ngắt' }).waitFor();
  const rec = r.agent.store.recentJournal(1, 'play')[0]!.data as { start: string };
  assert.match((await first.textContent())!, new RegExp(`^${vnTime(rec.start)}Âm thử 440 HzƯu tiên Thông báo tại chỗBị ngắt`));
  const text = await page.locator('body').innerText();
  assert.is(text, text.normalize('NFC'), 'Vietnamese text is NFC');
  assert.equal(problems, []);
});

test('an emergency: Stop is disabled and says only the province can stop it; where the rules allow it, a reason is asked first and reaches the province', async () => {
  const v = f.setTarget('t3a', { rules: [ALL_DAY(80)] });
  const r = await start('t3a');
  await applied(r, v);
  const { page, problems } = await openPanel(r);
  await logIn(page, r.password);
  const now = Date.now();
  const e: EmergencyStart = { type: 'start', id: randomUUID(), issuedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 600_000).toISOString(), scope: { zones: ['qn/dak-ha/thon-3'], devices: [] }, level: 4, mode: 'actual', content: { kind: 'standard', clip: 'siren' }, repeat: 3, title: 'Lũ quét' };
  await dispatch.publishAsync(topics.zoneEmergency('qn/dak-ha'), JSON.stringify(signer.sign('emergency', e)), { qos: 1 });
  const playing = page.getByTestId('now-playing');
  await playing.filter({ hasText: 'Lũ quét' }).waitFor();
  assert.is(await playing.getAttribute('data-level'), 'emergency');
  assert.match((await playing.textContent())!, /Khẩn cấp/);
  assert.is(await page.getByTestId('stop-button').isDisabled(), true);
  assert.is(await page.getByTestId('stop-why').textContent(), 'Chỉ tỉnh mới dừng được bản tin khẩn cấp này.');
  assert.is(await page.getByTestId('stop-reason').count(), 0);

  // The province lets this zone's panel stop emergencies: a reason is then required.
  const v2 = f.setTarget('t3a', { rules: [ALL_DAY(80, { panelMayStopEmergency: true })] });
  await waitFor(() => r.agent.target?.version === v2, { what: 'the permissive target' });
  const reason = page.getByTestId('stop-reason');
  await reason.waitFor();
  await page.getByTestId('stop-button').click();
  await page.getByTestId('stop-message').filter({ hasText: 'Hãy nhập lý do dừng (ít nhất 3 ký tự).' }).waitFor();
  assert.is(r.agent.playback?.playingRequest?.level, 'emergency', 'still sounding');
  await reason.fill('Báo động nhầm, đã xác nhận với xã');
  await page.getByTestId('stop-button').click();
  await page.getByTestId('stop-message').filter({ hasText: /^Đã dừng: .*Lũ quét\.$/ }).waitFor();
  await playing.filter({ hasText: 'Không phát gì.' }).waitFor();
  const rec = await waitFor(() => f.reports.records('t3a', 'operator').find((x) => (x.data as { action: string }).action === 'stop'), { what: 'the stop at the province' });
  assert.is((rec.data as { detail: Record<string, unknown> }).detail.reason, 'Báo động nhầm, đã xác nhận với xã');
  assert.equal(problems, []);
});

test('local announcements from the phone: an uploaded 10 s MP3 with its progress, typed Vietnamese text; on a blackout day refused with the rule in words', async () => {
  const v = f.setTarget('t4a', { rules: [ALL_DAY(100)] });
  const r = await start('t4a');
  await applied(r, v);
  const { page, problems } = await openPanel(r);
  await logIn(page, r.password);

  await page.getByLabel('Tệp âm thanh (MP3, WAV, Ogg, M4A…)').setInputFiles(toneFile(10, 'mp3', 880));
  await page.getByTestId('announce-file-name').filter({ hasText: /^tone-880-10s\.mp3 \(/ }).waitFor();
  await page.getByTestId('announce-title').fill('Họp thôn tối nay');
  await page.getByTestId('announce-upload-submit').click();
  await page.getByTestId('announce-message').filter({ hasText: 'Đang phát thông báo: Họp thôn tối nay.' }).waitFor({ timeout: 30_000 });
  assert.is(await page.getByTestId('announce-progress').evaluate((p) => (p as unknown as { value: number }).value), 1, 'every byte sent');
  await page.getByTestId('now-playing').filter({ hasText: 'Họp thôn tối nay' }).waitFor();
  // The village hears it: after the chime, the uploaded 880 Hz tone in the WAV horn.
  const heard = await waitFor(() => r.sink.timeline.find((e) => e.id.startsWith('local-') && e.startFrame !== null), { what: 'the announcement in the sink' });
  const at = heard.startFrame! + Math.round(5 * PCM.sampleRate);
  const x = await waitFor(() => {
    const w = readWav(r.wav).samples;
    return w.length > at + PCM.sampleRate ? w : null;
  }, { timeoutMs: 20_000, what: 'the WAV written 5 s into the announcement' });
  const level = toneLevel(x, at, PCM.sampleRate / 10, 880);
  // Volume 60 is a gain of 0.22 (cubic taper) on a tone normalised to -16 LUFS.
  assert.ok(level > 0.01 && level > 10 * toneLevel(x, at, PCM.sampleRate / 10, 440), `the uploaded tone is in the WAV file (880 Hz level ${level})`);

  // Typed text, spoken by espeak-ng on the cluster: it waits for the upload to finish.
  const said = 'Thông báo: tối nay lúc 19 giờ 30 họp thôn tại nhà văn hoá.';
  await page.getByTestId('announce-text').fill(said);
  await page.getByTestId('announce-text-submit').click();
  // Named by the cluster from its words, without the full stop a title does not need.
  await page.getByTestId('announce-message').filter({ hasText: /^Thông báo “Thông báo: tối nay lúc 19 giờ 30 họp thôn tại nhà văn hoá” đã vào hàng chờ/ }).waitFor({ timeout: 30_000 });
  await page.getByTestId('now-playing').filter({ hasText: said.slice(0, -1) }).waitFor({ timeout: 20_000 });

  // Today is declared a no-broadcast day: refused, with the rule in Vietnamese.
  const v2 = f.setTarget('t4a', { rules: [ALL_DAY(100, { blackoutDates: [localDate(Date.now())] })] });
  await waitFor(() => r.agent.target?.version === v2, { what: 'the blackout target' });
  await page.getByTestId('announce-text').fill('Thử lần nữa');
  await page.getByTestId('announce-text-submit').click();
  await page.getByTestId('announce-message').filter({ hasText: /^Không được phát: hôm nay là ngày không phát\./ }).waitFor();
  assert.is(await page.getByTestId('announce-message').getAttribute('data-kind'), 'error');
  await page.getByTestId('log-item').filter({ hasText: 'Không phát' }).filter({ hasText: 'hôm nay là ngày không phát' }).first().waitFor({ timeout: 20_000 });
  assert.equal(problems, []);
});

test('the English switch translates the page and this browser remembers it; both dictionaries have the same keys', async () => {
  const r = running.find((x) => x.agent.config.device.id === 'l1a')!;
  const { page, context, problems } = await openPanel(r);
  await logIn(page, r.password);
  await page.getByTestId('lang-switch').click();
  await page.getByRole('heading', { name: 'Now playing' }).waitFor();
  assert.is(await page.getAttribute('html', 'lang'), 'en');
  await page.getByTestId('status-clock').filter({ hasText: 'Trusted (source: NTP over the network)' }).waitFor();
  const other = await context.newPage();
  await other.goto('/');
  await other.getByRole('heading', { name: "Today's plan" }).waitFor();
  assert.is(await other.getByTestId('lang-switch').textContent(), 'Tiếng Việt');
  await other.close();
  const dicts = (await page.evaluate(`Promise.all([import('/ui/lang/vi.js'), import('/ui/lang/en.js')]).then(([v, e]) => [v.default, e.default])`)) as [Record<string, string>, Record<string, string>];
  assert.equal(Object.keys(dicts[1]).sort(), Object.keys(dicts[0]).sort());
  assert.ok(Object.values(dicts[0]).every((s) => s === s.normalize('NFC')));
  await page.getByTestId('lang-switch').click();
  await page.getByRole('heading', { name: 'Đang phát' }).waitFor();
  assert.equal(problems, []);
});

test('a session that ends (here: its cookie gone) takes the page back to the login, saying why', async () => {
  const r = running.find((x) => x.agent.config.device.id === 'l1a')!;
  const { page, context, problems } = await openPanel(r);
  await logIn(page, r.password);
  await context.clearCookies();
  await page.getByTestId('login-error').filter({ hasText: 'Phiên đăng nhập đã hết. Vui lòng đăng nhập lại.' }).waitFor();
  await page.getByTestId('login-password').waitFor();
  assert.equal(problems, []);
});

function oggTone(seconds: number, hz: number): string {
  const file = join(tempDir(), `tone-${hz}-${seconds}.ogg`);
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${seconds}`, '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '48k', file]);
  return file;
}

test('a full disk is said on the panel in Vietnamese, with the records held; when there is room again it says so too', async () => {
  const r = running.find((x) => x.agent.config.device.id === 't4a') ?? (await start('t4a'));
  const { page, problems } = await openPanel(r);
  await logIn(page, r.password);
  await page.getByTestId('status-store').filter({ hasText: 'Bình thường' }).waitFor();
  // SQLite's own page limit refuses the next page it needs, as a full SD card does; the headroom file goes first.
  const db = r.agent.store.db;
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  const fillUp = () => {
    for (let i = 0; i < 30 && r.agent.store.health.state !== 'full'; i++) r.agent.record('operator', { action: 'test-fill', session: 'browser-test', detail: { note: 'x'.repeat(400) } });
  };
  fillUp();
  assert.is(r.agent.store.health.state, 'full');
  // The real disk has room, so the agent's look every 5 s finds room and, with nothing left to write (the province
  // acknowledged what was held), says the store is well again; a full card would not. So the operator keeps "working".
  const working = setInterval(fillUp, 200);
  try {
    // Held records go to the province from memory, so the count falls as it acknowledges them.
    const held = page.getByTestId('status-store').filter({ hasText: /^Ổ ĐẦY: (\d+ bản ghi đang giữ tạm trong bộ nhớ, sẽ ghi khi có chỗ|bản ghi mới được giữ tạm trong bộ nhớ và gửi lên tỉnh, sẽ ghi khi có chỗ)\. Còi khẩn cấp vẫn hoạt động/ });
    await held.waitFor();
    assert.is(await page.getByTestId('status-store').getAttribute('data-state'), 'full');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'panel-disk-full-phone.png'), fullPage: true });
  } finally {
    clearInterval(working);
  }
  db.pragma('max_page_count = 1073741823');
  await page.getByTestId('status-store').filter({ hasText: 'Bình thường' }).waitFor({ timeout: 30_000 });
  assert.is(r.agent.store.heldCount, 0);
  assert.equal(problems, []);
  await page.context().close();
});

test.run();
