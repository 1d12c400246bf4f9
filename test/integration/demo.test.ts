import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { LOA_BIN } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';

// `npm start` runs `loa demo`: it must provision, serve and sync on a fresh
// machine, and start again on the state it left.
test.after(cleanupTempDirs);

async function runDemo(dir: string, expectApplied: boolean, during: (out: string) => Promise<void> = async () => {}): Promise<string> {
  const child = spawn(process.execPath, [LOA_BIN, 'demo', '--port', '0', '--http-port', '0', '--panel-port', '0', '--data', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  try {
    await waitFor(() => out.includes('press Ctrl-C to stop'), { timeoutMs: 30_000, what: `demo start:\n${out}` });
    if (expectApplied) await waitFor(() => (out.match(/target 1 applied\), 1 tệp âm thanh/g) ?? []).length === 3, { timeoutMs: 30_000, what: `three villages synced:\n${out}` });
    await during(out);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  assert.is(child.exitCode, 0, out);
  return out;
}

test('the demo provisions a province and its three villages sync the spoken bulletin', async () => {
  const dir = tempDir('loa-demo-');
  const first = await runDemo(dir, true, async (out) => {
    // Each village's local panel is printed with its password, and lets the operator in.
    const panels = [...out.matchAll(/^ {4}(\S+) +(http:\/\/127\.0\.0\.1:\d+\/) +mật khẩu \(password\) (\S+)$/gm)];
    assert.is(panels.length, 3, out);
    for (const [, , url, password] of panels) {
      const res = await fetch(new URL('/api/login', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
      assert.is(res.status, 200, `${url}: ${await res.text()}`);
    }
  });
  assert.match(first, /demo province provisioned/);
  assert.match(first, /son-tay-lang-ra: bản kế hoạch 1 đã áp dụng/);
  const second = await runDemo(dir, false);
  assert.not.match(second, /provisioned/);
});

test.run();
