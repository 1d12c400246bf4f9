import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import { LOA_BIN } from '../helpers/processes.js';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { ownerTag } from '../../lib/owned-temp.js';

// `loa device` killed while the commune operator uploads an announcement to
// its local panel: the upload's temporary folder (up to the panel's upload
// limit, on a small SD card) must not stay for ever. The agent started again
// removes what dead processes left, and nothing of a running one.

const ID = 't3a';
let p: TestProvince;
const dir = tempDir('loa-orphan-');
/** The agent's temporary folder (TMPDIR): what it leaves is observable here. */
const TMP = join(dir, 'tmp');
mkdirSync(TMP);
let config = '';

test.before(async () => {
  p = await makeProvince({ devices: [[ID, 'qn/dak-ha/thon-3']], accounts: [] });
  p.registry.close();
  const bundle = p.devices[ID]!.bundle;
  config = join(dir, 'device.json');
  // No broker: the panel works without the province.
  writeFileSync(config, JSON.stringify({
    ...bundle,
    broker: { ...bundle.broker, urls: ['mqtt://127.0.0.1:9'] },
    data: join(dir, 'data'),
    agent: { audio: { output: 'wav', wavFile: join(dir, 'horn.wav') }, relay: { driver: 'noop' }, panel: { port: 0, bind: ['127.0.0.1'] } },
  }), { mode: 0o600 });
});
let agent: { child: ChildProcess; out: () => string } | null = null;
let upload: ClientRequest | null = null;
test.after(() => {
  upload?.destroy();
  agent?.child.kill('SIGKILL');
  cleanupTempDirs();
});

async function startAgent(): Promise<{ child: ChildProcess; out: () => string; panel: string }> {
  const child = spawn(process.execPath, [LOA_BIN, 'device', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOA_LOG_LEVEL: 'info', TMPDIR: TMP } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  agent = { child, out: () => out };
  const panel = await waitFor(() => /"urls":\["(http:\/\/127\.0\.0\.1:\d+\/)"\][^\n]*"msg":"local panel listening"/.exec(out)?.[1] ?? (child.exitCode !== null ? 'exited' : null), { timeoutMs: 20_000, what: 'the panel listening' });
  assert.is.not(panel, 'exited', out);
  return { child, out: () => out, panel };
}

test('killed in the middle of a panel upload and started again: the upload it left in the temporary folder is removed, a running process\'s kept', async () => {
  const first = await startAgent();
  const login = await fetch(new URL('/api/login', first.panel), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: p.devices[ID]!.panelPassword }) });
  assert.is(login.status, 200, await login.clone().text());
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const { csrf } = (await login.json()) as { csrf: string };

  // A phone on a slow Wi-Fi: the file's first megabyte is sent, the rest never comes.
  const boundary = '----loa-orphan';
  upload = request(new URL('/api/announce/upload', first.panel), { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(8 * 1024 * 1024) } });
  upload.on('error', () => {});
  upload.write(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="thong-bao.wav"\r\ncontent-type: audio/wav\r\n\r\n`);
  upload.write(Buffer.alloc(1024 * 1024, 1));
  const mine = `loa-upload-${first.child.pid}.`;
  const left = await waitFor(() => readdirSync(TMP).filter((n) => n.startsWith(mine)).find((n) => existsSync(join(TMP, n, 'upload'))), { what: 'the upload being written' });

  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  upload.destroy();
  assert.ok(existsSync(join(TMP, left, 'upload')), 'the killed agent left its upload');
  // Beside it, an upload of a process still running (this test).
  const alive = join(TMP, `loa-upload-${ownerTag()}-Alive1`);
  mkdirSync(alive);
  writeFileSync(join(alive, 'upload'), 'RIFF');

  const second = await startAgent();
  assert.not.ok(existsSync(join(TMP, left)), `what the killed agent left is gone: ${readdirSync(TMP).join(' ')}`);
  assert.ok(existsSync(join(alive, 'upload')), 'a running process\'s upload is kept');
  assert.match(second.out(), /"msg":"removed the temporary folder of a process that is gone"/, 'it says so in its log');
  assert.match(second.out(), /"msg":"agent started"/);
});

test.run();
