import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { consoleFixture, type ConsoleFixture } from '../helpers/console.js';
import { goTo, launchBrowser, loginAs, startAgents, type ConsolePage } from '../helpers/browser.js';
import { cleanupTempDirs } from '../helpers/tmp.js';
import { onsetOf, readWav } from '../helpers/audio.js';
import { ALERT_HZ } from '../../audio/tones.js';

// Emergency dispatch in two browsers: the `dispatch` account composes an
// exercise for Thôn 3 (this province makes exercises wait for a second
// person), `approver` approves it in another browser, and the composer's
// page — never reloaded — shows the ack roll-up of the two real village
// agents (one playing into a WAV file, one into nothing) go to "finished".
// The actual mode's confirmation is not the exercise's.

let f: ConsoleFixture;
let browser: Browser;
let agents: Awaited<ReturnType<typeof startAgents>> | null = null;
let composer: ConsolePage;
let approver: ConsolePage;
let exerciseText = '';
let dispatchId = '';

test.before(async () => {
  f = await consoleFixture({ approvalModes: ['exercise'] });
  agents = await startAgents(f, ['t3a', 't3b'], { output: { t3a: 'wav', t3b: 'null' } });
  browser = await launchBrowser();
  composer = await loginAs(browser, f, 'dispatch');
  approver = await loginAs(browser, f, 'approver');
});
test.after(async () => {
  await browser?.close();
  await agents?.stop();
  await f?.stop();
  cleanupTempDirs();
});

const bg = (page: Page, sel: string) => page.locator(sel).first().evaluate((e) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(e).backgroundColor);

async function fillCompose(page: Page, mode: 'THẬT' | 'DIỄN TẬP') {
  const form = page.getByTestId('compose-form');
  await form.getByText(mode, { exact: true }).click();
  await form.getByLabel('Tín hiệu chuẩn').check();
  await form.getByLabel('Tín hiệu', { exact: true }).selectOption('chime');
  await form.getByTestId('zone-qn/dak-ha/thon-3').check();
  await form.getByLabel('Số lần phát').fill('1');
  await form.getByLabel('Hết hạn sau (phút)').fill('10');
  await form.getByLabel('Tiêu đề (không bắt buộc)').fill('Diễn tập sơ tán lũ thôn 3');
}

test('the three modes look different: their own colour and their own word', async () => {
  const { page } = composer;
  await goTo(page, 'Khẩn cấp');
  const words = await page.locator('.mode-choice strong').allTextContents();
  assert.equal(words, ['THẬT', 'DIỄN TẬP', 'THỬ NGHIỆM']);
  const colours = [await bg(page, '.mode-choice.mode-actual'), await bg(page, '.mode-choice.mode-exercise'), await bg(page, '.mode-choice.mode-test')];
  assert.is(new Set(colours).size, 3, `three colours: ${colours.join(' / ')}`);
  // The send button says which mode it sends, in that mode's colour.
  const send = page.getByTestId('compose-submit');
  assert.is(await send.textContent(), 'Gửi DIỄN TẬP…');
  const exerciseButton = await bg(page, '[data-testid="compose-submit"]');
  await page.getByTestId('compose-form').getByText('THẬT', { exact: true }).click();
  assert.is(await send.textContent(), 'Gửi cảnh báo THẬT…');
  assert.is.not(await bg(page, '[data-testid="compose-submit"]'), exerciseButton);
});

test('an actual emergency asks to type the confirmation word, in words unlike the exercise\u2019s; backing out sends nothing', async () => {
  const { page } = composer;
  await fillCompose(page, 'THẬT');
  await page.getByTestId('compose-submit').click();
  const dlg = page.getByTestId('confirm-actual');
  await dlg.waitFor();
  const actualText = (await dlg.textContent())!;
  assert.match(actualText, /PHÁT CẢNH BÁO THẬT/);
  assert.match(actualText, /KHÔNG phải diễn tập/);
  const ok = dlg.getByTestId('confirm-ok');
  assert.ok(await ok.isDisabled(), 'cannot confirm without typing the word');
  await dlg.getByLabel('Gõ chữ THẬT để xác nhận').fill('thâ');
  assert.ok(await ok.isDisabled());
  await dlg.getByLabel('Gõ chữ THẬT để xác nhận').fill('thật');
  assert.ok(await ok.isEnabled(), 'typed (any case): now it can be confirmed');
  await page.keyboard.press('Escape');
  await dlg.waitFor({ state: 'detached' });
  await page.getByTestId('compose-status').filter({ hasText: 'Chưa gửi.' }).waitFor();
  assert.is(f.server.dispatcher.list({ name: 'admin', role: 'admin', zone: null }).length, 0, 'nothing was composed');
  // The exercise's dialog: other title, other words, other button, no word to type.
  await page.getByTestId('compose-form').getByText('DIỄN TẬP', { exact: true }).click();
  await page.getByTestId('compose-submit').click();
  const ex = page.getByTestId('confirm-exercise');
  await ex.waitFor();
  exerciseText = (await ex.textContent())!;
  assert.is.not(exerciseText, actualText);
  assert.match(exerciseText, /Gửi bài diễn tập/);
  assert.not.match(exerciseText, /THẬT/);
  assert.is(await ex.getByTestId('confirm-word').count(), 0);
  assert.is(await ex.getByTestId('confirm-ok').textContent(), 'Gửi diễn tập');
  assert.is(await page.getByTestId('confirm-actual').count(), 0);
  assert.not.ok(await ex.evaluate((e) => (e as unknown as { className: string }).className.includes('mode-actual')));
});

test('the exercise waits for a second person: no Approve button for its composer', async () => {
  const { page } = composer;
  await page.getByTestId('confirm-exercise').getByTestId('confirm-ok').click();
  await page.getByTestId('compose-status').filter({ hasText: 'Đã tạo lệnh, đang chờ người thứ hai phê duyệt.' }).waitFor();
  const card = page.locator('[data-testid^="dispatch-"][data-kind="start"]');
  await card.waitFor();
  dispatchId = (await card.getAttribute('data-dispatch'))!;
  assert.is(await card.getAttribute('data-status'), 'pending');
  assert.is(await card.getByTestId('mode-badge').textContent(), 'DIỄN TẬP');
  assert.match((await card.getByTestId('pending-note').textContent())!, /người soạn không tự phê duyệt/);
  assert.is(await card.getByTestId('approve').count(), 0, 'the composer cannot approve');
  assert.is(f.server.dispatcher.get(dispatchId)!.status, 'pending');
  await page.evaluate('window.__sameDocument = true');
});

test('the approver approves in another browser; the composer\u2019s page shows both devices of Thôn 3 play it to the end, live', async () => {
  const a = approver.page;
  await goTo(a, 'Khẩn cấp');
  assert.is(await a.getByTestId('compose-form').count(), 0, 'approvers do not compose');
  const theirs = a.getByTestId(`dispatch-${dispatchId}`);
  await theirs.getByTestId('approve').click();
  const dlg = a.getByTestId('approve-exercise');
  await dlg.waitFor();
  assert.match((await dlg.textContent())!, /Phê duyệt bài diễn tập.*Người soạn: dispatch\. Vùng: Thôn 3\./);
  await dlg.getByTestId('confirm-ok').click();
  await a.locator(`[data-testid="dispatch-${dispatchId}"][data-status="sent"]`).waitFor();
  assert.match((await theirs.textContent())!, /phê duyệt bởi approver/);

  const { page } = composer;
  const mine = page.locator(`[data-testid="dispatch-${dispatchId}"]`);
  const row = mine.locator('[data-testid="rollup-row"][data-zone="qn/dak-ha/thon-3"]');
  const count = (ack: string) => row.getByTestId(`count-${ack}`);
  await page.locator(`[data-testid="dispatch-${dispatchId}"][data-status="sent"]`).waitFor();
  // Alert tone, drill preamble and chime take about ten seconds: "playing" shows on the way.
  await row.locator('[data-testid="count-playing"]', { hasText: /^2$/ }).waitFor({ timeout: 15_000 });
  await row.locator('[data-testid="count-finished"]', { hasText: /^2$/ }).waitFor({ timeout: 30_000 });
  for (const ack of ['received', 'playing', 'cancelled', 'rejected', 'silent']) assert.is(await count(ack).textContent(), '0', ack);
  assert.equal(await mine.locator('[data-testid^="ack-"]').evaluateAll((els) => els.map((e) => (e as unknown as { textContent: string }).textContent)), ['t3a: Đã phát xong', 't3b: Đã phát xong']);
  assert.is(await page.evaluate('window.__sameDocument'), true, 'no reload: the live stream brought it');
  assert.match((await mine.textContent())!, /phê duyệt bởi approver/);
  assert.equal(composer.problems, []);
  assert.equal(approver.problems, []);
  // And t3a's loudspeaker (a WAV file) really sounded: the alert tone that opens every emergency is in it.
  const t3a = agents!.agents[0]!;
  await t3a.stop();
  const wav = readWav(join(t3a.config.data, 'output.wav'));
  assert.ok(onsetOf(wav.samples, ALERT_HZ[0], { level: 0.05 }) >= 0, 'the alert tone is in the WAV file');
});

test.run();
