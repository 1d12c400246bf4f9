import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { consoleFixture } from '../helpers/console.js';
import { syncFixture } from '../helpers/sync-fixture.js';
import { startPanelAgent } from '../helpers/panel.js';

// An audio upload is multipart: a `file` part and a `title` field, in
// whatever order the sender put them (a browser keeps the order of its
// FormData, curl the order of its -F options). The console's library and the
// village panel share the receiving end (lib/upload.ts); both keep the title
// whichever comes first, keep the size limit, and leave no temporary file.

// Every temporary folder of this process goes here (os.tmpdir() reads TMPDIR at each call), so "nothing left behind" is observable.
const TMP = tempDir('loa-upload-fields-');
process.env.TMPDIR = TMP;
const leftovers = () => readdirSync(TMP).filter((n) => n.startsWith('loa-upload-'));

type Part = { field: string; value: string } | { file: string; bytes: Buffer };

/** A browser's FormData with its parts in the order given (fetch sends them in that order). */
function form(parts: Part[]): FormData {
  const data = new FormData();
  for (const p of parts) {
    if ('field' in p) data.append(p.field, p.value);
    else data.append('file', new Blob([new Uint8Array(p.bytes)]), p.file);
  }
  return data;
}

function tone(seconds: number, hz: number, ext: string): Buffer {
  const file = join(tempDir(), `tone-${hz}.${ext}`);
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${seconds}`, '-ac', '1', file]);
  return readFileSync(file);
}

test.after(() => cleanupTempDirs());

test('console library: the title is kept whether it comes before or after the file; nothing is left behind', async () => {
  const f = await consoleFixture();
  try {
    const editor = await f.as('editor');
    // Over the console's HTTP listener as a browser sends it: the body streams in, the title after a large file arrives last.
    const upload = async (parts: Part[]) => {
      const res = await fetch(`http://127.0.0.1:${f.server.address!.port}/api/library`, { method: 'POST', headers: { cookie: editor.cookie, 'x-csrf-token': editor.csrf }, body: form(parts) });
      return { status: res.status, body: (await res.json()) as { job?: string; error?: { code: string; message: string } } };
    };
    const job = async (parts: Part[]) => {
      const r = await upload(parts);
      assert.is(r.status, 200, JSON.stringify(r.body));
      return waitFor(async () => {
        const j = ((await editor.get(`/api/jobs/${r.body.job}`)).json() as { job: { status: string; result: { title: string } | null; error: { code: string } | null } }).job;
        return j.status !== 'running' ? j : null;
      }, { timeoutMs: 30_000, what: 'the ingest job' });
    };
    const wav = tone(30, 500, 'wav');
    const before = await job([{ field: 'title', value: 'Bản tin sáng' }, { file: 'ban-tin.wav', bytes: wav }]);
    assert.is(before.result?.title, 'Bản tin sáng');
    const after = await job([{ file: 'thong-bao.wav', bytes: tone(30, 700, 'wav') }, { field: 'title', value: 'Thông báo họp thôn' }]);
    assert.is(after.status, 'done', JSON.stringify(after.error));
    assert.is(after.result?.title, 'Thông báo họp thôn', 'the title after the file, not the file name');
    // Decomposed Vietnamese from a keyboard is stored composed (NFC), after the file too.
    const nfd = await job([{ file: 'x.wav', bytes: tone(30, 900, 'wav') }, { field: 'title', value: '  Lịch tiêm phòng  '.normalize('NFD') }]);
    assert.is(nfd.result?.title, 'Lịch tiêm phòng');
    // No title at all: the file name, without its extension.
    assert.is((await job([{ file: 'Tin chiều.ogg', bytes: tone(2, 1100, 'ogg') }])).result?.title, 'Tin chiều');
    const titles = ((await editor.get('/api/library')).json() as { assets: { title: string }[] }).assets.map((a) => a.title).sort();
    assert.equal(titles, ['Bản tin sáng', 'Lịch tiêm phòng', 'Thông báo họp thôn', 'Tin chiều']);
    // Not audio, title last: the job fails and the upload is gone.
    const junk = await job([{ file: 'x.mp3', bytes: Buffer.from('%PDF-1.4 not audio') }, { field: 'title', value: 'Không phải âm thanh' }]);
    assert.is(junk.error?.code, 'LOA_E_AUDIO_INVALID');
    // Two files in one upload: refused with the reason, neither kept.
    const two = await upload([{ file: 'a.wav', bytes: wav }, { file: 'b.wav', bytes: wav }, { field: 'title', value: 'Hai tệp' }]);
    assert.is(two.status, 400, JSON.stringify(two.body));
    assert.match(two.body.error!.message, /one file/);
    assert.equal(leftovers(), []);
  } finally {
    await f.stop();
  }
});

test('village panel: the title is kept whether it comes before or after the file; the size limit holds either way', async () => {
  const f = await syncFixture({ beacons: false });
  const r = await startPanelAgent(f, 't3a', { maxUploadBytes: 256 * 1024 });
  try {
    const v = f.setTarget('t3a', { rules: [{ zone: 'qn', windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '00:00', volumeCap: 100 }], defaultVolume: 100, blackoutDates: [] }] });
    await waitFor(() => r.agent.store.target()?.version === v && r.agent.store.target()?.appliedAt, { what: 'target applied' });
    const c = r.client();
    await c.login(r.password);
    const send = (parts: Part[]) => c.req('POST', '/api/announce/upload', form(parts));
    const first = await send([{ field: 'title', value: 'Họp thôn tối nay' }, { file: 'hop.wav', bytes: tone(2, 1000, 'wav') }]);
    assert.is(first.status, 202, JSON.stringify(first.body));
    const second = await send([{ file: 'loa.wav', bytes: tone(2, 800, 'wav') }, { field: 'title', value: 'Tiêm phòng cho trẻ' }]);
    assert.is(second.status, 202, JSON.stringify(second.body));
    // What the operator reads in the panel's play log once both have played.
    const log = await waitFor(async () => {
      const recs = (await c.req('GET', '/api/log?limit=10')).body.records as { title: string; outcome: string; source: string }[];
      const local = recs.filter((x) => x.source === 'local' && x.outcome === 'played');
      return local.length >= 2 ? local : null;
    }, { timeoutMs: 30_000, what: 'both announcements played' });
    assert.equal(log.map((x) => x.title).sort(), ['Họp thôn tối nay', 'Tiêm phòng cho trẻ']);
    // Over the limit, the title after the file or before it: refused as too large, nothing kept.
    const big = tone(10, 500, 'wav');
    for (const parts of [[{ file: 'dai.wav', bytes: big }, { field: 'title', value: 'Quá dài' }], [{ field: 'title', value: 'Quá dài' }, { file: 'dai.wav', bytes: big }]] as Part[][]) {
      const res = await send(parts);
      assert.is(res.status, 400, JSON.stringify(res.body));
      assert.is(res.body.error.reason, 'too-large');
    }
    assert.equal(leftovers(), []);
  } finally {
    await r.panel.stop();
    await r.agent.stop();
    await f.stop();
  }
});

test.run();
