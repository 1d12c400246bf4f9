import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { runLoa, spawnBroker, type SpawnedBroker } from '../helpers/processes.js';
import { spawnConsole, type SpawnedConsole } from '../helpers/console-process.js';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { ownerTag } from '../../lib/owned-temp.js';

// `loa console` as its own process, as a province runs it, next to a real
// `loa broker`: how it starts, fails and recovers — on a busy port, killed in
// the middle of an ingest, with its ffmpeg killed under it.

let p: TestProvince;
let broker: SpawnedBroker;
let env: NodeJS.ProcessEnv;

test.before(async () => {
  p = await makeProvince({ accounts: [['console', 'console'], ['dispatch', 'dispatch'], ['editor', 'editor']] });
  p.registry.close();
  broker = await spawnBroker(['--data', p.dir]);
  env = { LOA_CONSOLE_PASSWORD: p.accounts.console!.secret, LOA_DISPATCH_PASSWORD: p.accounts.dispatch!.secret };
});
test.after(async () => {
  await broker.stop();
  cleanupTempDirs();
});

test('on a busy HTTP port it says which address and port and what to change, exits non-zero, and leaves nothing running', async () => {
  const holder: Server = createServer((s) => s.end('held\n'));
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const port = (holder.address() as { port: number }).port;
  try {
    // runLoa waits for the process to end by itself: a broker connection or a registry poll left running would keep it alive.
    const r = await runLoa(['console', '--data', p.dir, '--broker', broker.url, '--port', String(port)], env, 25_000);
    assert.is(r.code, 1, `exit ${r.code}:\n${r.stderr}`);
    assert.is(r.stderr, `loa console: LOA_E_LISTEN: cannot listen on 127.0.0.1:${port}: the port is in use by another program (another console?); choose another with --port PORT\n`);
    assert.not.match(r.stdout, /"level":50|database connection is not open/, 'no error logged on the way out');
    // The program holding the port is untouched.
    const answer = await new Promise<string>((resolve, reject) => {
      let got = '';
      connect(port, '127.0.0.1')
        .on('data', (d: Buffer) => (got += d))
        .on('end', () => resolve(got))
        .on('error', reject);
    });
    assert.is(answer, 'held\n');
  } finally {
    holder.close();
  }
});

// The consoles' temporary folder: what they leave in it is observable here and nowhere else.
const TMP = tempDir('loa-console-tmp-');
const consoleArgs = () => ['--data', p.dir, '--broker', broker.url, '--port', '0'];
const consoleEnv = () => ({ ...env, TMPDIR: TMP });
let cons: SpawnedConsole | null = null;
test.after(async () => {
  await cons?.stop();
});

/** A 10-minute recording (19 MB as WAV): its ingest takes seconds, long enough to be cut. */
const LONG = join(tempDir(), 'hop-hoi-dong.wav');
execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=600:sample_rate=16000', '-ac', '1', LONG]);

type Sess = { cookie: string; csrf: string };
async function login(base: string, name: string): Promise<Sess> {
  const r = await fetch(new URL('/api/login', base), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password: p.accounts[name]!.secret }) });
  assert.is(r.status, 200);
  return { cookie: r.headers.get('set-cookie')!.split(';')[0]!, csrf: ((await r.json()) as { csrf: string }).csrf };
}
async function upload(base: string, s: Sess, file: string, title: string): Promise<string> {
  const form = new FormData();
  form.append('title', title);
  form.append('file', new Blob([new Uint8Array(readFileSync(file))]), 'hop.wav');
  const r = await fetch(new URL('/api/library', base), { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf }, body: form });
  const body = (await r.json()) as { job: string };
  assert.is(r.status, 200, JSON.stringify(body));
  return body.job;
}
type JobView = { status: number; job?: { status: string; progress: number; error: { code: string; message: string } | null } };
async function job(base: string, s: Sess, id: string): Promise<JobView> {
  const r = await fetch(new URL(`/api/jobs/${id}`, base), { headers: { cookie: s.cookie } });
  return { status: r.status, ...((await r.json()) as { job?: JobView['job'] }) };
}
/** Polls until the ingest is under way (pass 1 reports progress), well before its end. */
const ingesting = (base: string, s: Sess, id: string) => waitFor(async () => {
  const j = await job(base, s, id);
  assert.is(j.job?.status, 'running', JSON.stringify(j));
  return j.job!.progress > 0.02;
}, { timeoutMs: 30_000, what: 'the ingest under way' });

/**
 * The ffmpeg processes `pid` runs that read an upload (Linux /proc): the
 * decoder at the head of each pass. Not the meter it feeds through a pipe:
 * killed alone, that one can leave the ingest waiting for ever (the
 * decoder's output is paused behind the full pipe, so its end is never read;
 * audio/ingest-ffmpeg.ts, reported, not the console's to fix).
 */
function uploadDecoders(pid: number): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const args = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      return ppid === pid && comm === 'ffmpeg' && args.some((a) => a.startsWith(join(TMP, 'loa-upload-'))) ? [Number(d)] : [];
    } catch {
      return [];
    }
  });
}

let editor: Sess;
let killedJob = '';

test('killed in the middle of an ingest and started again: its upload is removed, the job the browser polls says it was interrupted', async () => {
  const before = new Set(readdirSync(TMP));
  cons = await spawnConsole(consoleArgs(), consoleEnv());
  editor = await login(cons.url, 'editor');
  killedJob = await upload(cons.url, editor, LONG, 'Họp hội đồng nhân dân');
  await ingesting(cons.url, editor, killedJob);
  const left = readdirSync(TMP).filter((n) => !before.has(n));
  assert.ok(left.some((n) => n.startsWith('loa-upload-')), `the upload is on disk: ${left.join(' ')}`);
  await cons.stop('SIGKILL');
  cons = null;
  // Beside it: a folder of a process still running (this test) and one that names no owner (an older Loa).
  const alive = join(TMP, `loa-upload-${ownerTag()}-Alive1`);
  const unnamed = join(TMP, 'loa-upload-Old001');
  for (const d of [alive, unnamed]) {
    mkdirSync(d);
    writeFileSync(join(d, 'upload'), 'RIFF');
  }

  cons = await spawnConsole(consoleArgs(), consoleEnv());
  assert.equal(left.filter((n) => existsSync(join(TMP, n))), [], 'what the killed console left is gone');
  assert.ok(existsSync(join(alive, 'upload')), 'a running process\'s upload is kept');
  assert.ok(existsSync(join(unnamed, 'upload')), 'a folder naming no owner is kept');
  // The same browser session, polling the same job.
  const j = await job(cons.url, editor, killedJob);
  assert.is(j.status, 200, JSON.stringify(j));
  assert.equal(j.job!.error, { code: 'LOA_E_INGEST_INTERRUPTED', message: 'interrupted: the console restarted; upload the file again' });
  assert.is(j.job!.status, 'failed');
});

test('its ffmpeg killed in the middle of an ingest: the job fails saying so, not blaming the file, and nothing is left behind', async () => {
  const before = new Set(readdirSync(TMP));
  const id = await upload(cons!.url, editor, LONG, 'Họp hội đồng nhân dân');
  await ingesting(cons!.url, editor, id);
  const kids = await waitFor(() => {
    const k = uploadDecoders(cons!.pid);
    return k.length ? k : null;
  }, { what: 'ffmpeg decoding the upload under the console' });
  for (const k of kids) process.kill(k, 'SIGKILL');
  const v = await waitFor(async () => {
    const v = await job(cons!.url, editor, id);
    return v.job?.status !== 'running' ? v : null;
  }, { timeoutMs: 30_000, what: 'the job ending' });
  const j = v.job!;
  assert.is(j.status, 'failed', JSON.stringify(v));
  assert.is(j.error!.code, 'LOA_E_INGEST_INTERRUPTED');
  assert.match(j.error!.message, /^interrupted: ffmpeg was killed before the ingest finished \(the file is not at fault\); upload the file again$/);
  assert.equal(readdirSync(TMP).filter((n) => !before.has(n)), [], 'no upload or ingest folder left');
  // The console carries on; the job interrupted by the restart still answers.
  assert.is((await job(cons!.url, editor, killedJob)).job?.status, 'failed');
  const lib = await fetch(new URL('/api/library', cons!.url), { headers: { cookie: editor.cookie } });
  assert.equal(((await lib.json()) as { assets: unknown[] }).assets, []);
});

test.run();
