import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { syncFixture, type SyncFixture } from '../helpers/sync-fixture.js';
import { startPanelAgent, type PanelAgent } from '../helpers/panel.js';
import { readWav, toneLevel } from '../helpers/audio.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { PCM } from '../../audio/types.js';
import type { RuleProfile } from '../../protocol/payloads.js';
import { localDate } from '../../schedules/time.js';

// Local announcements through the panel: typed Vietnamese text spoken by
// espeak-ng, an uploaded file (ingested like the province's library), bad
// uploads refused with nothing left behind, refusals outside the allowed
// hours — and a panel that keeps working with the broker down, its actions
// reaching the province once the broker is back.

let f: SyncFixture;
const running: PanelAgent[] = [];

test.before(async () => {
  f = await syncFixture({ beacons: false });
});
test.after(async () => {
  for (const r of running) await r.panel.stop().catch(() => {});
  for (const r of running) await r.agent.stop().catch(() => {});
  await f.stop();
  cleanupTempDirs();
});

const ALL_DAY: RuleProfile = { zone: 'qn', windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '00:00', volumeCap: 100 }], defaultVolume: 100, blackoutDates: [] };

async function start(id: string, opts: Parameters<typeof startPanelAgent>[2] = {}) {
  const r = await startPanelAgent(f, id, opts);
  running.push(r);
  return r;
}

function toneFile(seconds: number, hz: number, ext: string, args: string[] = []): Buffer {
  const file = join(tempDir(), `up-${hz}.${ext}`);
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${seconds}`, '-ac', '1', ...args, file]);
  return readFileSync(file);
}

const localFiles = (r: PanelAgent) => readdirSync(join(r.agent.config.data, 'local'));

test('an uploaded file and typed text become local announcements the village hears, logged like programmes', async () => {
  const v = f.setTarget('t3a', { rules: [ALL_DAY] });
  const r = await start('t3a');
  await waitFor(() => r.agent.store.target()?.version === v && r.agent.store.target()?.appliedAt, { what: 'target applied' });
  const c = r.client();
  await c.login(r.password);
  const up = await c.upload('/api/announce/upload', 'hop-thon.mp3', toneFile(4, 1000, 'mp3'), 'Họp thôn tối nay');
  assert.is(up.status, 202, JSON.stringify(up.body));
  assert.ok(Math.abs(up.body.durationMs - 4000) < 100);
  const said = await c.req('POST', '/api/announce', { text: 'Thông báo: ngày 27/11/2026 lúc 19 giờ 30 họp thôn tại nhà văn hoá.' });
  assert.is(said.status, 202, JSON.stringify(said.body));
  assert.is(said.body.status, 'queued', 'same level: it waits for the first');
  const done = await waitFor(() => r.sink.timeline.find((e) => e.id === said.body.id && e.endFrame !== null), { timeoutMs: 40_000, what: 'the spoken announcement finishing' });
  const first = r.sink.timeline.find((e) => e.id === up.body.id)!;
  assert.is(first.reason, 'finished');
  assert.ok(done.startFrame! >= first.endFrame!, 'one after the other');
  // In the WAV: the chime, then the uploaded 1 kHz tone (loudness-normalised), then speech.
  const x = await waitFor(() => {
    const w = readWav(r.wav).samples;
    return w.length >= done.endFrame! ? w : null;
  }, { what: 'the WAV written up to the end of the speech' });
  const mid = first.startFrame! + Math.round(((first.endFrame! - first.startFrame!) * 2) / 3);
  assert.ok(toneLevel(x, mid, PCM.sampleRate / 10, 1000) > 0.05, 'the uploaded tone is heard');
  let speech = 0;
  for (let i = done.startFrame! + 4 * PCM.sampleRate; i < done.endFrame!; i++) speech = Math.max(speech, Math.abs(x[i]!));
  assert.ok(speech > 3000, `the spoken text is heard (peak ${speech})`);
  const log = (await c.req('GET', '/api/log?limit=5')).body.records;
  assert.equal(log.slice(0, 2).map((l: { outcome: string; source: string; level: string }) => [l.outcome, l.source, l.level]), [['played', 'local', 'priority'], ['played', 'local', 'priority']]);
  assert.is(log[1].title, 'Họp thôn tối nay');
  // Reported to the province: the announcements with the operator's session.
  const ops = await waitFor(() => {
    const o = f.reports.records('t3a', 'operator').filter((x) => (x.data as { action: string }).action === 'announce');
    return o.length === 2 ? o : null;
  }, { what: 'the announcements at the province' });
  assert.ok(ops.every((o) => /^panel:/.test((o.data as { session: string }).session)));
  await waitFor(() => f.reports.records('t3a', 'play').filter((x) => (x.data as { source: string }).source === 'local').length === 2, { what: 'the plays at the province' });
});

test('bad uploads and bad text are refused with a reason, leaving nothing behind', async () => {
  const r = running[0]!;
  const c = r.client();
  await c.login(r.password);
  const before = localFiles(r).sort();
  const cases: [string, Buffer, RegExp][] = [
    ['trong.mp3', Buffer.alloc(0), /empty|no audio|too short/i],
    ['thu.mp3', Buffer.from('Đây không phải là âm thanh\n'.repeat(50)), /not an audio|not audio|text/i],
    ['cut.wav', toneFile(3, 500, 'wav').subarray(0, 30_000 + 44).subarray(0, 20), /truncated|not an audio|too short|cannot/i],
    ['im-lang.wav', toneFile(3, 500, 'wav', ['-af', 'volume=0']), /silent|silence/i],
  ];
  for (const [name, bytes, why] of cases) {
    const res = await c.upload('/api/announce/upload', name, bytes);
    assert.is(res.status, 400, `${name}: ${JSON.stringify(res.body)}`);
    assert.is(res.body.error.code, 'LOA_E_AUDIO_INVALID', name);
    assert.match(res.body.error.message, why, name);
  }
  const small = await start('t3b', { maxUploadBytes: 64 * 1024 });
  const c2 = small.client();
  await c2.login(small.password);
  const big = await c2.upload('/api/announce/upload', 'dai.wav', toneFile(5, 500, 'wav'));
  assert.is(big.status, 400);
  assert.is(big.body.error.reason, 'too-large');
  assert.is((await c.req('POST', '/api/announce', { text: '   ' })).status, 400);
  assert.is((await c.req('POST', '/api/announce', { clip: 'ab'.repeat(32) })).status, 404);
  assert.is((await c.req('POST', '/api/announce', { clip: 'x', text: 'a' })).status, 400);
  assert.is((await c.req('POST', '/api/announce/upload', { file: 'x' })).status, 400, 'not multipart');
  assert.equal(localFiles(r).sort(), before, 'nothing left in the local folder');
});

test('outside the allowed hours an announcement is refused with the rule, and the refusal is logged', async () => {
  const today = localDate(Date.now());
  const v = f.setTarget('t4a', { rules: [{ ...ALL_DAY, windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '05:00', end: '21:00', volumeCap: 80 }] }] });
  // 23:00 in Việt Nam on the agent's clock.
  const r = await start('t4a', { offsetMs: Date.parse(`${today}T16:00:00Z`) - Date.now() });
  await waitFor(() => r.agent.store.target()?.version === v && r.agent.store.target()?.appliedAt, { what: 'target applied' });
  const c = r.client();
  await c.login(r.password);
  const s = (await c.req('GET', '/api/status')).body;
  assert.is(s.volume.cap, 0, 'quiet hours: no volume allowed now');
  const res = await c.req('POST', '/api/announce', { text: 'Thông báo khẩn của thôn' });
  assert.is(res.status, 409);
  assert.is(res.body.error.code, 'LOA_E_ANNOUNCE_REFUSED');
  assert.is(res.body.error.rule, 'quiet-hours');
  const log = (await c.req('GET', '/api/log?limit=1')).body.records[0];
  assert.equal([log.outcome, log.rule, log.source], ['refused', 'quiet-hours', 'local']);
  // The volume can still be set for the next window, within its cap.
  assert.equal((await c.req('POST', '/api/volume', { volume: 90 })).body, { volume: 80, requested: 90, cap: 80, clamped: true });
});

test('with the broker down the panel keeps working; what the operator did reaches the province when it is back', async () => {
  const v = f.setTarget('l1a', { rules: [ALL_DAY] });
  const r = await start('l1a');
  await waitFor(() => r.agent.store.target()?.version === v && r.agent.store.target()?.appliedAt, { what: 'target applied' });
  const port = f.broker.port;
  await f.broker.stop();
  await waitFor(() => !r.agent.link.connected, { what: 'the link down' });
  const c = r.client();
  assert.is((await c.login(r.password)).status, 200);
  const s = (await c.req('GET', '/api/status')).body;
  assert.is(s.link.connected, false);
  assert.equal((await c.req('POST', '/api/volume', { volume: 55 })).body.volume, 55);
  const a = await c.req('POST', '/api/announce', { text: 'Mất điện lưới từ 14 giờ đến 16 giờ.' });
  assert.is(a.status, 202);
  await waitFor(() => r.sink.timeline.find((e) => e.id === a.body.id && e.endFrame !== null), { timeoutMs: 30_000, what: 'heard while offline' });
  assert.ok((await c.req('GET', '/api/status')).body.outbox.pending >= 3, 'reports wait in the outbox');
  assert.is(f.reports.records('l1a', 'operator').length, 0);
  await f.restartBroker();
  assert.is(f.broker.port, port);
  const ops = await waitFor(() => {
    const o = f.reports.records('l1a', 'operator').map((x) => (x.data as { action: string }).action);
    return o.includes('volume') && o.includes('announce') && o.includes('login') ? o : null;
  }, { timeoutMs: 30_000, what: 'the offline actions at the province' });
  assert.ok(ops.length >= 3);
  await waitFor(() => f.reports.records('l1a', 'play').some((x) => (x.data as { source: string; outcome: string }).source === 'local' && (x.data as { outcome: string }).outcome === 'played'), { what: 'the offline announcement at the province' });
  await waitFor(async () => (await c.req('GET', '/api/status')).body.outbox.pending === 0, { timeoutMs: 15_000, what: 'the outbox emptied' });
});

test.run();
