import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { consoleFixture, type ConsoleFixture } from '../helpers/console.js';
import { goTo, launchBrowser, loginAs, startAgents, type ConsolePage } from '../helpers/browser.js';
import { cleanupTempDirs, sleep, tempDir, waitFor } from '../helpers/tmp.js';
import { readWav, toneLevel } from '../helpers/audio.js';
import { sine } from '../../audio/tones.js';
import { wavHeader } from '../../audio/wav-sink.js';
import { ROOT_DIR } from '../../lib/paths.js';

// The studio page (phát trực tiếp) in headless Chromium with a fake
// microphone — a WAV file of a 1 kHz tone, looped by Chromium — speaking
// through the console to two real village agents of Thôn 3 whose
// loudspeakers are WAV files: the tone is heard on both while on air, an
// emergency sent meanwhile cuts it and it comes back after the alert, and
// the end shows a summary and lands in both play logs. A viewer has no
// studio; a browser that refuses the microphone says so in Vietnamese.

const ZONE = 'qn/dak-ha/thon-3';
const VOICE_HZ = 1000;
const TITLE = 'Thông báo họp dân thôn 3';
const ARTIFACTS = join(ROOT_DIR, 'test-artifacts');

let f: ConsoleFixture;
let browser: Browser;
let agents: Awaited<ReturnType<typeof startAgents>> | null = null;
let editor: ConsolePage;

/** 8 s of a 1 kHz tone at half scale, 48 kHz mono s16le: a whole number of cycles, so Chromium's loop has no click. */
function micFile(): string {
  const pcm = sine(VOICE_HZ, 8000, 0.5);
  const file = join(tempDir('loa-mic-'), 'mic-1khz.wav');
  writeFileSync(file, Buffer.concat([wavHeader(pcm.length), pcm]));
  return file;
}
const FAKE_MIC = (ui: string) => [ui, '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${micFile()}`, '--autoplay-policy=no-user-gesture-required'];

test.before(async () => {
  f = await consoleFixture();
  agents = await startAgents(f, ['t3a', 't3b'], { output: 'wav', trustedClock: true });
  await waitFor(() => agents!.agents.every((a) => a.link.connected), { what: 'both agents connected' });
  browser = await launchBrowser({ args: FAKE_MIC('--use-fake-ui-for-media-stream') });
  editor = await loginAs(browser, f, 'editor');
});
test.after(async () => {
  await browser?.close();
  await agents?.stop();
  await f?.stop();
  cleanupTempDirs();
});

/** Level of `hz` in each 100 ms window of x[from, to). */
function windows(x: Int16Array, hz: number, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = Math.max(0, from); i + 4800 <= Math.min(x.length, to); i += 4800) out.push(toneLevel(x, i, 4800, hz));
  return out;
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? 0;

/** The console's sessions on air (it keeps an ended one for a minute, with its endedAt). */
const onAir = () => f.server.live!.active().filter((s) => s.endedAt === null);
/** 14:05:09 in Việt Nam, whatever this machine's zone. */
const vnTime = (iso: string) => new Intl.DateTimeFormat('vi-VN', { timeZone: 'Asia/Ho_Chi_Minh', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(new Date(iso));
const meterState = (page: Page) => page.getByTestId('level-meter').evaluate((e) => ({ ...(e as unknown as { dataset: Record<string, string> }).dataset }));

test('a viewer has no studio: not in the navigation, and #studio opens another section', async () => {
  const viewer = await loginAs(browser, f, 'viewer-son-tay');
  const nav = await viewer.page.getByRole('navigation').getByRole('link').allTextContents();
  assert.not.ok(nav.includes('Phát trực tiếp'), nav.join(', '));
  assert.ok(nav.includes('Khẩn cấp'));
  await viewer.page.goto('/#studio');
  await viewer.page.getByTestId('who').waitFor();
  assert.is.not(await viewer.page.locator('main').getAttribute('data-view'), 'studio');
  assert.is(await viewer.page.getByTestId('studio-form').count(), 0);
  // The editor has it, between the emergencies and the reports.
  const mine = await editor.page.getByRole('navigation').getByRole('link').allTextContents();
  assert.equal(mine.slice(mine.indexOf('Khẩn cấp'), mine.indexOf('Khẩn cấp') + 3), ['Khẩn cấp', 'Phát trực tiếp', 'Báo cáo']);
  await viewer.context.close();
});

test('before air: the title is prefilled, the microphone test moves the level meter, and nothing is on air', async () => {
  const { page } = editor;
  await goTo(page, 'Phát trực tiếp');
  assert.is(await page.getByLabel('Tiêu đề').inputValue(), 'Thông báo trực tiếp');
  assert.is(await page.getByTestId('meter-db').textContent(), 'Micrô chưa bật');
  await page.getByTestId('live-sessions').filter({ hasText: 'Hiện không có buổi phát trực tiếp nào.' }).waitFor();
  await page.getByRole('button', { name: 'Thử micrô' }).click();
  await page.locator('[data-testid="level-meter"][data-state="ok"]').waitFor();
  const a = await meterState(page);
  await sleep(500);
  const b = await meterState(page);
  assert.ok(Number(b.frames) >= Number(a.frames) + 15, `the meter keeps reading the microphone: ${a.frames} → ${b.frames} frames`);
  assert.ok(Number(b.db) > -30, `the 1 kHz tone reads ${b.db} dBFS`);
  assert.match((await page.getByTestId('meter-db').textContent())!, /^-?\d+ dBFS$/);
  assert.match((await page.getByTestId('studio-status').textContent())!, /chưa phát ra loa/);
  assert.equal(onAir(), [], 'a microphone test sends nothing');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'console-studio-form.png'), fullPage: true });
  // Going on air without a zone says so and asks nothing.
  await page.getByTestId('studio-go').click();
  assert.is(await page.getByTestId('studio-error').textContent(), 'Chọn ít nhất một vùng.');
  assert.is(await page.getByTestId('confirm-live').count(), 0);
});

let sessionId = '';
let onAirAt = 0;

test('going on air asks first, naming the zones; then ĐANG PHÁT TRỰC TIẾP with the time, the zones and a moving meter', async () => {
  const { page } = editor;
  await page.getByTestId(`zone-${ZONE}`).check();
  await page.getByLabel('Tiêu đề').fill(TITLE);
  await page.getByTestId('studio-go').click();
  const dlg = page.getByTestId('confirm-live');
  await dlg.waitFor();
  const text = (await dlg.textContent())!;
  assert.match(text, /Lên sóng trực tiếp ngay bây giờ\?/);
  assert.match(text, /Mọi loa ở Thôn 3 sẽ phát tiếng của bạn ngay bây giờ\./);
  assert.match(text, new RegExp(`Tiêu đề: “${TITLE}”`));
  // Backing out sends nothing.
  await dlg.getByTestId('confirm-cancel').click();
  await page.getByTestId('studio-status').filter({ hasText: 'Chưa lên sóng.' }).waitFor();
  assert.equal(onAir(), []);

  await page.getByTestId('studio-go').click();
  await page.getByTestId('confirm-live').getByTestId('confirm-ok').click();
  const panel = page.getByTestId('studio-onair');
  await panel.waitFor();
  onAirAt = Date.now();
  assert.is(await page.getByTestId('onair-badge').textContent(), 'ĐANG PHÁT TRỰC TIẾP');
  assert.is(await page.getByTestId('onair-title').textContent(), TITLE);
  assert.is(await page.getByTestId('onair-zones').textContent(), 'Tới: Thôn 3');
  assert.ok(await page.getByTestId('studio-form').isHidden(), 'the form is put away while on air');
  const [s] = onAir();
  assert.ok(s, 'the console has the session');
  sessionId = s.id;
  assert.equal([s.zones, s.title, s.by, s.source], [[ZONE], TITLE, 'editor', 'studio']);
  const a = await meterState(page);
  await page.getByTestId('onair-elapsed').filter({ hasText: '0:03' }).waitFor({ timeout: 6000 });
  const b = await meterState(page);
  assert.ok(Number(b.frames) >= Number(a.frames) + 50, `the meter moves on air: ${a.frames} → ${b.frames} frames`);
  assert.ok(Number(b.db) > -30, `${b.db} dBFS on air`);
  // The PCM reaches the console in real time: about 50 Opus frames a second go out.
  const sent = onAir()[0]!.framesSent;
  assert.ok(sent >= 80, `${sent} frames sent in ~2.5 s`);
  // Who is on air where, from the sessions list.
  const row = page.locator(`[data-testid="live-session"][data-session="${sessionId}"]`);
  await row.waitFor();
  assert.match((await row.textContent())!, new RegExp(`^${TITLE}của bạneditor · Thôn 3 · từ ${vnTime(s.startedAt)} · qua trang phát trực tiếp`));
  // How many clusters of the zone play it, from their telemetry: both of Thôn 3.
  await row.getByTestId('live-receiving').filter({ hasText: 'Đang phát ở 2/2 cụm loa' }).waitFor({ timeout: 10_000 });
  const shot = join(ARTIFACTS, 'console-studio-on-air.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 10_000);
});

test('both agents of Thôn 3 sound the voice; an emergency cuts it and it comes back after the alert', async () => {
  await sleep(3000);
  const dispatch = await f.as('dispatch');
  const r = await dispatch.post('/api/dispatches', { mode: 'exercise', level: 3, zones: [ZONE], repeat: 1, expiresMinutes: 10, title: 'Diễn tập giữa buổi phát', content: { kind: 'standard', clip: 'chime' } });
  assert.is(r.statusCode, 200, r.body);
  const alertId = (r.json() as { dispatch: { id: string; command: { id: string } } }).dispatch.command.id;
  const sinks = agents!.sinks.map((s) => s!);
  // Alert tone, drill preamble and chime: ten seconds; then the voice again for a few.
  await waitFor(() => sinks.every((s) => s.timeline.some((e) => e.id === alertId && e.endFrame !== null)), { timeoutMs: 20_000, what: 'the alert played on both' });
  await sleep(3000);
  for (const sink of sinks) {
    const tl = sink.timeline;
    const parts = tl.filter((e) => e.id === sessionId);
    const alert = tl.find((e) => e.id === alertId)!;
    assert.ok(parts.length >= 2, `${sink.file}: live, cut, live again: ${JSON.stringify(tl)}`);
    const [first, again] = parts;
    assert.is(first!.reason, 'preempted');
    assert.ok(alert.startFrame! >= first!.endFrame! && again!.startFrame! >= alert.endFrame!, 'live, the alert, live again');
    const x = readWav(sink.file).samples;
    // The browser's noise suppression and gain control take the steady tone down to some level: the voice is what
    // sounds steadily after the alert, and "heard" is half of that or more.
    const voice = median(windows(x, VOICE_HZ, again!.startFrame!, x.length));
    assert.ok(voice > 0.01, `${sink.file}: the tone is in the file after the alert (${voice.toFixed(3)})`);
    const under = toneLevel(x, alert.startFrame!, alert.endFrame! - alert.startFrame!, VOICE_HZ);
    assert.ok(under < 0.2 * voice, `no live voice under the alert (${under.toFixed(3)} against ${voice.toFixed(3)})`);
    // Most of the time on air, the tone: before the alert (less the first frames' way through the console, ~0.6 s) and after it.
    for (const [what, from, to] of [['before', first!.startFrame!, first!.endFrame!], ['after', again!.startFrame!, x.length]] as const) {
      const w = windows(x, VOICE_HZ, from, to);
      const n = w.filter((l) => l >= 0.5 * voice).length;
      assert.ok(w.length >= 20 && n >= 0.8 * w.length - 8, `${sink.file}: heard ${n / 10} s of ${w.length / 10} s ${what} the alert: ${w.map((l) => l.toFixed(2)).join(' ')}`);
    }
  }
  assert.ok(await editor.page.getByTestId('studio-onair').isVisible(), 'the page stays on air through the emergency');
});

test('Kết thúc: the summary (duration, frames sent), the form reset, and the session in both play logs', async () => {
  const { page } = editor;
  await page.getByRole('button', { name: 'Kết thúc' }).click();
  const summary = page.getByTestId('studio-summary');
  await summary.waitFor();
  const airMs = Date.now() - onAirAt;
  assert.match((await summary.textContent())!, /^Đã kết thúc phát trực tiếp/);
  assert.is(await page.getByTestId('summary-line').textContent(), `“${TITLE}” tới Thôn 3.`);
  const figures = (await page.getByTestId('summary-figures').textContent())!;
  const m = /^Thời lượng (\d+):(\d\d); đã gửi ([\d.]+) khung âm thanh \(tổng cộng (\d+):(\d\d)\)\.$/.exec(figures);
  assert.ok(m, figures);
  const frames = Number(await page.getByTestId('summary-figures').getAttribute('data-frames'));
  assert.is(Number(m![3]!.replace(/\./g, '')), frames);
  const shownS = Number(m![1]) * 60 + Number(m![2]);
  assert.ok(Math.abs(shownS - airMs / 1000) <= 2, `duration shown ${shownS} s, on air ~${Math.round(airMs / 1000)} s`);
  assert.ok(frames * 20 >= airMs - 1500 && frames * 20 <= airMs + 1000, `${frames} frames for ~${airMs} ms on air`);
  // The form is back, reset; the microphone closed.
  assert.ok(await page.getByTestId('studio-onair').isHidden());
  assert.is(await page.getByLabel('Tiêu đề').inputValue(), 'Thông báo trực tiếp');
  assert.not.ok(await page.getByTestId(`zone-${ZONE}`).isChecked());
  assert.is(await page.getByTestId('meter-db').textContent(), 'Micrô chưa bật');
  assert.equal(onAir(), []);
  await page.getByTestId('live-sessions').filter({ hasText: 'Hiện không có buổi phát trực tiếp nào.' }).waitFor();
  for (const id of ['t3a', 't3b']) {
    await waitFor(() => f.server.reports.records(id, 'play').some((r) => (r.data as { source: string; outcome: string }).source === 'live' && (r.data as { outcome: string }).outcome === 'played'), { timeoutMs: 15_000, what: `${id} reported the live session played` });
    const recs = f.server.reports.records(id, 'play').map((r) => r.data as { source: string; outcome: string; title?: string; id?: string });
    const played = recs.find((d) => d.source === 'live' && d.outcome === 'played')!;
    assert.is(played.title, TITLE);
  }
  await page.screenshot({ path: join(ARTIFACTS, 'console-studio-summary.png'), fullPage: true });
  assert.equal(editor.problems, []);
});

test('the capture worklet makes 48 kHz frames from a context at another rate (44.1 kHz): the tone keeps its pitch', async () => {
  // An offline context renders one second of a 1 kHz oscillator at 44.1 kHz through /ui/studio-worklet.js, as fast as it can.
  const out = (await editor.page.evaluate(`(async () => {
    const ac = new OfflineAudioContext(1, 44100, 44100);
    await ac.audioWorklet.addModule('/ui/studio-worklet.js');
    const osc = new OscillatorNode(ac, { frequency: 1000 });
    const gain = new GainNode(ac, { gain: 0.5 });
    const node = new AudioWorkletNode(ac, 'loa-capture');
    const frames = [];
    node.port.onmessage = (e) => frames.push(Array.from(new Int16Array(e.data.pcm)));
    osc.connect(gain).connect(node).connect(ac.destination);
    osc.start();
    await ac.startRendering();
    await new Promise((r) => setTimeout(r, 200));
    return frames;
  })()`)) as number[][];
  assert.ok(out.length >= 48 && out.length <= 50, `${out.length} frames of 20 ms from 1 s`);
  assert.ok(out.every((f) => f.length === 960));
  const x = Int16Array.from(out.flat());
  assert.ok(toneLevel(x, 960, 48000 - 1920, VOICE_HZ) > 0.45, `1 kHz at 48 kHz: ${toneLevel(x, 960, 48000 - 1920, VOICE_HZ).toFixed(3)}`);
  assert.ok(toneLevel(x, 960, 48000 - 1920, 1088) < 0.05, 'not played back at the wrong rate (1088 Hz)');
});

test('a browser that refuses the microphone: the Vietnamese message, nothing on air', async () => {
  const denying = await launchBrowser({ args: FAKE_MIC('--use-fake-ui-for-media-stream=deny') });
  try {
    const c = await loginAs(denying, f, 'editor');
    await goTo(c.page, 'Phát trực tiếp');
    await c.page.getByTestId(`zone-${ZONE}`).check();
    await c.page.getByTestId('studio-go').click();
    await c.page.getByTestId('confirm-live').getByTestId('confirm-ok').click();
    const err = c.page.getByTestId('studio-error');
    await err.filter({ hasText: 'Trình duyệt không cho trang này dùng micrô' }).waitFor();
    assert.is(
      await err.textContent(),
      'Trình duyệt không cho trang này dùng micrô nên chưa lên sóng. Hãy cho phép dùng micrô (bấm biểu tượng ổ khoá hoặc micrô cạnh địa chỉ trang) rồi thử lại.',
    );
    assert.ok(await c.page.getByTestId('studio-onair').isHidden());
    assert.ok(await c.page.getByTestId('studio-form').isVisible(), 'the form stays, to try again');
    assert.equal(onAir(), []);
  } finally {
    await denying.close();
  }
});

test.run();
