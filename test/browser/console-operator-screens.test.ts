import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { consoleFixture, type ConsoleFixture } from '../helpers/console.js';
import { goTo, launchBrowser, loginAs, openConsole, startAgents, toneFile } from '../helpers/browser.js';
import { cleanupTempDirs } from '../helpers/tmp.js';
import { addDays, localDate, localToEpoch } from '../../schedules/time.js';

// What commune and province operators met on the console screens (issue
// 11), in a browser whose own locale is en-US: a day plan that says what
// happened to items already past, items shown with start and length, the
// province's programmes a commune inherits, forms that start afresh after
// a save or a send, a pending alert with no devices "silent" yet, a login
// error in one language, dates and times as Việt Nam writes them, and a
// disk line that says what each figure is.

let f: ConsoleFixture;
let browser: Browser;
let agents: Awaited<ReturnType<typeof startAgents>> | null = null;
const today = localDate(Date.now());
const yesterday = addDays(today, -1);
const tomorrow = addDays(today, 1);
/** 'YYYY-MM-DD' as Việt Nam writes it. */
const vn = (d: string) => d.split('-').reverse().join('/');
const text = async (page: Page, testid: string) => ((await page.getByTestId(testid).innerText()) ?? '').replace(/\s+/g, ' ').trim();

test.before(async () => {
  f = await consoleFixture();
  browser = await launchBrowser();
  // A 20 s bulletin and three programmes of the province that play in Thôn 3 (one aimed at it, one at its commune, one at the whole province).
  const tone = f.server.library.add(readFileSync(toneFile(20, 'ogg')), { title: 'Bản tin 20 giây', mime: 'audio/ogg', durationMs: 20_000, actor: 'test' });
  const admin = await f.as('admin');
  const daily = (id: string, title: string, time: string, zones: string[]) => admin.put(`/api/programmes/${id}`, { zone: 'qn', programme: { title, level: 'normal', playlist: [tone.sha256], recurrence: { kind: 'daily', time }, resumable: false, zones } });
  for (const r of [await daily('ban-tin-sang', 'Bản tin sáng của tỉnh', '06:30', ['qn/dak-ha/thon-3']), await daily('tin-trua', 'Tin trưa', '11:00', ['qn/dak-ha']), await daily('tin-toi', 'Tin tối', '19:00', ['qn'])]) assert.is(r.statusCode, 200, r.body);
  // What t3a reported of yesterday: the morning bulletin played; the noon news refused by the quiet hours; nothing yet of the evening's.
  const at = (hhmm: string, s = 0) => new Date(localToEpoch(yesterday, hhmm) + s * 1000).toISOString();
  f.server.reports.storeBatch('t3a', { batch: randomUUID(), records: [
    { key: 'k1:0000000001', at: at('06:30', 20), kind: 'play', data: { outcome: 'played', level: 'normal', source: 'programme', programme: 'ban-tin-sang', title: 'Bản tin sáng của tỉnh', start: at('06:30'), end: at('06:30', 20), volume: 60 } },
    { key: 'k1:0000000002', at: at('11:00'), kind: 'play', data: { outcome: 'refused', level: 'normal', source: 'programme', programme: 'tin-trua', title: 'Tin trưa', start: at('11:00'), rule: 'quiet-hours', reason: 'outside the allowed hours' } },
  ] }, new Date().toISOString());
});
test.after(async () => {
  await browser?.close();
  await agents?.stop();
  await f?.stop();
  cleanupTempDirs();
});

test('login: a wrong password is said in the page\u2019s language alone, with nothing about sessions', async () => {
  const { page, context, problems } = await openConsole(browser, f, { locale: 'en-US' });
  await page.getByTestId('login-name').fill('editor-dak-ha');
  await page.getByTestId('login-password').fill('sai mật khẩu');
  await page.getByTestId('login-submit').click();
  await page.getByTestId('login-error').waitFor();
  assert.is(await page.getByTestId('login-error').textContent(), 'Sai tên tài khoản hoặc mật khẩu.');
  await page.getByTestId('lang-switch').click();
  // The switch loads the language and then redraws the form: typing before that is typing into a form about to go.
  await page.getByTestId('login-submit').filter({ hasText: 'Log in' }).waitFor();
  await page.getByTestId('login-name').fill('editor-dak-ha');
  await page.getByTestId('login-password').fill('wrong');
  await page.getByTestId('login-submit').click();
  await page.getByTestId('login-error').filter({ hasText: 'Wrong' }).waitFor();
  assert.is(await page.getByTestId('login-error').textContent(), 'Wrong account name or password.');
  assert.equal(problems, []);
  await context.close();
});

test('a commune editor sees the province\u2019s programmes that play in it, read-only, with the zone they come from', async () => {
  const { page, context, problems } = await loginAs(browser, f, 'editor-dak-ha', { locale: 'en-US' });
  await goTo(page, 'Chương trình');
  await page.getByTestId('programme-inherited').locator('tbody tr').first().waitFor();
  assert.match(await text(page, 'programme-none'), /^Vùng của bạn chưa có chương trình riêng\./);
  const rows = page.getByTestId('programme-inherited').locator('tbody tr');
  assert.equal(await rows.evaluateAll((rs) => rs.map((r) => (r as unknown as { dataset: { testid: string } }).dataset.testid)), ['inherited-ban-tin-sang', 'inherited-tin-toi', 'inherited-tin-trua']);
  for (const id of ['ban-tin-sang', 'tin-trua', 'tin-toi']) assert.is(await page.getByTestId(`inherited-${id}`).getByTestId('inherited-from').textContent(), 'Quảng Ngãi (qn)');
  assert.match(await text(page, 'inherited-ban-tin-sang'), /Bản tin sáng của tỉnh chỉ xem Quảng Ngãi \(qn\) Thôn 3 \(qn\/dak-ha\/thon-3\) thường Hằng ngày lúc 06:30/);
  assert.match(await text(page, 'inherited-tin-toi'), /Quảng Ngãi \(qn\) Quảng Ngãi \(qn\)/, 'aimed at the whole province');
  assert.is(await page.getByTestId('programme-inherited').getByRole('button').count(), 0, 'nothing to edit or delete');
  assert.equal(problems, []);
  await context.close();
});

test('the day plan in an en-US browser: dates dd/mm/yyyy, start and length; past items say what happened, items to come what will', async () => {
  const { page, context, problems } = await loginAs(browser, f, 'editor-dak-ha', { locale: 'en-US' });
  await goTo(page, 'Chương trình');
  assert.is(await page.locator('input[type="date"], input[type="time"]').count(), 0, 'no native date or time field: they follow the browser\u2019s locale');
  const plan = page.getByTestId('plan');
  assert.is(await plan.getByLabel('Ngày').inputValue(), vn(today));
  assert.is(await plan.getByLabel('Ngày').getAttribute('placeholder'), 'dd/mm/yyyy');
  await plan.getByLabel('Thiết bị').selectOption('t3a');
  await plan.getByLabel('Ngày').fill(vn(yesterday));
  await plan.getByRole('button', { name: 'Xem kế hoạch' }).click();
  await plan.locator('caption').filter({ hasText: `Kế hoạch của t3a ngày ${vn(yesterday)}` }).waitFor();
  const rows = async () => (await plan.locator('tbody tr').allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim());
  assert.equal(await rows(), [
    '06:30 (0:20) Bản tin sáng của tỉnh thường 100% Đã phát —',
    '11:00 (0:20) Tin trưa thường 100% Bị từ chối ngoài khung giờ được phát — outside the allowed hours',
    '19:00 (0:20) Tin tối thường 100% Chưa có báo cáo thiết bị chưa gửi nhật ký phát của giờ này',
  ]);
  assert.equal(await plan.locator('tbody tr').evaluateAll((rs) => rs.map((r) => (r as unknown as { dataset: { when: string; outcome: string } }).dataset).map((d) => `${d.when}:${d.outcome}`)), ['past:played', 'past:refused', 'past:absent']);
  // Tomorrow: what will happen.
  await plan.getByLabel('Ngày').fill(vn(tomorrow));
  await plan.getByRole('button', { name: 'Xem kế hoạch' }).click();
  await plan.locator('caption').filter({ hasText: vn(tomorrow) }).waitFor();
  assert.equal(await rows(), ['06:30 (0:20) Bản tin sáng của tỉnh thường 100% Sẽ phát —', '11:00 (0:20) Tin trưa thường 100% Sẽ phát —', '19:00 (0:20) Tin tối thường 100% Sẽ phát —']);
  // A date that is not one says so in Vietnamese, and nothing is asked of the server.
  await plan.getByLabel('Ngày').fill('31/02/2026');
  assert.is(await plan.getByLabel('Ngày').evaluate((e) => (e as unknown as { validationMessage: string }).validationMessage), 'Ngày không hợp lệ: gõ theo dạng ngày/tháng/năm, ví dụ 27/11/2026.');
  assert.equal(problems, []);
  await context.close();
});

test('the programme form starts afresh after a save and the list marks what was saved; rule times and blackout dates typed as Việt Nam writes them', async () => {
  const { page, context, problems } = await loginAs(browser, f, 'editor-dak-ha', { locale: 'en-US' });
  await goTo(page, 'Chương trình');
  const ed = page.getByTestId('programme-editor');
  await ed.getByLabel('Thuộc vùng').selectOption('qn/dak-ha/thon-3');
  await ed.getByLabel('Tên chương trình').fill('Họp dân thôn 3');
  await ed.getByLabel('Tệp âm thanh').selectOption({ label: 'Bản tin 20 giây (0:20)' });
  await ed.getByRole('button', { name: 'Thêm vào danh sách' }).click();
  await ed.getByLabel('Lặp lại').selectOption('once');
  await ed.getByLabel('Ngày', { exact: true }).fill('15/12/2026');
  await ed.getByLabel('Giờ phát').fill('19h30');
  await ed.getByRole('button', { name: 'Lưu' }).click();
  await page.getByTestId('prog-status').filter({ hasText: 'Đã lưu “Họp dân thôn 3”' }).waitFor();
  // The form is a new one again; the saved programme is in the list, marked.
  assert.is(await page.getByTestId('programme-editor').getByRole('heading').textContent(), 'Chương trình mới');
  assert.is(await page.getByTestId('prog-title').inputValue(), '');
  assert.is(await page.getByTestId('prog-id').inputValue(), '');
  assert.equal(await page.getByTestId('prog-playlist').innerText(), 'Chưa có tệp nào.');
  const row = page.getByTestId('programme-hop-dan-thon-3');
  assert.is(await row.getAttribute('data-saved'), 'true');
  assert.match((await row.innerText()).replace(/\s+/g, ' '), /15\/12\/2026 lúc 19:30/);
  const saved = ((await (await f.as('admin')).get('/api/programmes')).json() as { programmes: { programme: { id: string; recurrence: unknown } }[] }).programmes.find((p) => p.programme.id === 'hop-dan-thon-3');
  assert.equal(saved?.programme.recurrence, { kind: 'once', date: '2026-12-15', time: '19:30' });

  // The village's rules: a window typed 5:00–21h, a blackout day typed 01/01/2027; the hint and the placeholder agree.
  const rules = page.getByTestId('rules');
  await rules.getByLabel('Vùng').selectOption('qn/dak-ha/thon-3');
  await rules.getByTestId('rules-none').waitFor();
  const blackout = rules.getByTestId('rules-blackout');
  assert.is(await blackout.getAttribute('placeholder'), 'dd/mm/yyyy, dd/mm/yyyy, …');
  assert.match((await rules.getByText(/^Dạng ngày\/tháng\/năm/).textContent())!, /\(dd\/mm\/yyyy\)/);
  await rules.getByRole('button', { name: 'Thêm khung giờ' }).click();
  assert.is(await rules.getByTestId('window-start').inputValue(), '05:00');
  await rules.getByTestId('window-start').fill('5:00');
  await rules.getByTestId('window-end').fill('21h');
  await blackout.fill('01/01/2027, 2/9/2027');
  await rules.getByRole('button', { name: 'Lưu' }).click();
  await rules.getByTestId('rules-status').filter({ hasText: 'Đã lưu quy định' }).waitFor();
  const profile = ((await (await f.as('admin')).get('/api/rules/qn/dak-ha/thon-3')).json() as { profile: { windows: { start: string; end: string }[]; blackoutDates: string[] } }).profile;
  assert.equal(profile.windows.map((w) => [w.start, w.end]), [['05:00', '21:00']]);
  assert.equal(profile.blackoutDates, ['2027-01-01', '2027-09-02']);
  // Shown back as typed, the Việt Nam way.
  await rules.getByLabel('Vùng').selectOption('qn/dak-ha');
  await rules.getByTestId('rules-none').waitFor();
  await rules.getByLabel('Vùng').selectOption('qn/dak-ha/thon-3');
  await rules.getByTestId('window-start').waitFor();
  assert.is(await rules.getByTestId('rules-blackout').inputValue(), '01/01/2027, 02/09/2027');
  assert.is(await rules.getByTestId('window-end').inputValue(), '21:00');
  assert.equal(problems, []);
  await context.close();
});

test('an ACTUAL alert waiting for approval shows no devices "silent"; the form goes back to an exercise with no zone ticked and says what it sent', async () => {
  const { page, context, problems } = await loginAs(browser, f, 'dispatch', { locale: 'en-US' });
  await goTo(page, 'Khẩn cấp');
  const form = page.getByTestId('compose-form');
  await form.getByText('THẬT', { exact: true }).click();
  await form.getByTestId('zone-qn/dak-ha/thon-3').check();
  await form.getByLabel('Tiêu đề (không bắt buộc)').fill('Lũ quét thôn 3');
  await page.getByTestId('compose-submit').click();
  const dlg = page.getByTestId('confirm-actual');
  await dlg.getByLabel('Gõ chữ THẬT để xác nhận').fill('THẬT');
  await dlg.getByTestId('confirm-ok').click();
  const status = page.getByTestId('compose-status');
  await status.filter({ hasText: 'Đã tạo lệnh' }).waitFor();
  assert.is((await status.textContent())!, 'Đã tạo lệnh, đang chờ người thứ hai phê duyệt. Lệnh: THẬT, “Lũ quét thôn 3”. Vùng: Thôn 3. Cấp 3, phát 2 lần, hết hạn sau 60 phút.');
  assert.ok(await form.getByTestId('mode-exercise').isChecked(), 'back to an exercise');
  assert.not.ok(await form.getByTestId('mode-actual').isChecked());
  assert.not.ok(await form.getByTestId('zone-qn/dak-ha/thon-3').isChecked(), 'no zone left ticked');
  assert.is(await form.getByLabel('Tiêu đề (không bắt buộc)').inputValue(), '');
  assert.is(await form.getAttribute('data-mode'), 'exercise');
  const pending = page.locator('[data-kind="start"][data-status="pending"]');
  await pending.waitFor();
  // An exercise to Thôn 4 goes at once; once its roll-up has come down the live stream, so has every earlier event (one stream, in order).
  await form.getByTestId('zone-qn/dak-ha/thon-4').check();
  await page.getByTestId('compose-submit').click();
  await page.getByTestId('confirm-exercise').getByTestId('confirm-ok').click();
  await page.locator('[data-kind="start"][data-status="sent"]').getByTestId('rollup').waitFor();
  assert.is(await page.locator('[data-kind="start"][data-status="sent"]').getByTestId('count-silent').textContent(), '1', 'sent: Thôn 4\u2019s device has not answered');
  assert.is(await pending.getByTestId('rollup').count(), 0, 'pending: nobody is expected to answer yet');
  assert.not.match(await pending.innerText(), /Chưa phản hồi/);
  assert.equal(problems, []);
  await context.close();
});

test('the disk line says what each figure is', async () => {
  agents = await startAgents(f, ['t3a']);
  const { page, context, problems } = await loginAs(browser, f, 'admin', { locale: 'en-US' });
  const disk = page.getByTestId('device-t3a').getByTestId('device-disk');
  await disk.waitFor({ timeout: 20_000 });
  assert.match((await disk.textContent())!, /^Âm thanh đã lưu: [\d,]+ (B|KB|MB) trong hạn mức [\d,]+ (MB|GB); thẻ nhớ còn trống [\d,]+ (MB|GB|TB)$/);
  await page.getByTestId('lang-switch').click();
  await page.getByTestId('device-t3a').getByTestId('device-disk').filter({ hasText: 'Stored audio' }).waitFor();
  assert.match((await page.getByTestId('device-t3a').getByTestId('device-disk').textContent())!, /^Stored audio: [\d.]+ (B|KB|MB) of its [\d.]+ (MB|GB) allowance; [\d.]+ (MB|GB|TB) free on the memory card$/);
  assert.equal(problems, []);
  await context.close();
});

test.run();
