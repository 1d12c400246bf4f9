import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LOA_BIN } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { nextDaily } from '../../cli/demo-text.js';

// `npm start` runs `loa demo`: it must provision, serve and sync on a fresh
// machine, and start again on the state it left.
test.after(cleanupTempDirs);

async function runDemo(dir: string, expectApplied: boolean, during: (out: string, readyAt: number) => Promise<void> = async () => {}): Promise<string> {
  const child = spawn(process.execPath, [LOA_BIN, 'demo', '--port', '0', '--http-port', '0', '--panel-port', '0', '--data', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  try {
    let readyAt = 0;
    await waitFor(() => out.includes('press Ctrl-C to stop') && (readyAt = Date.now()), { timeoutMs: 30_000, what: `demo start:\n${out}` });
    if (expectApplied) await waitFor(() => (out.match(/target 1 applied\), 1 tệp âm thanh/g) ?? []).length === 3, { timeoutMs: 30_000, what: `three villages synced:\n${out}` });
    await during(out, readyAt);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  assert.is(child.exitCode, 0, out);
  return out;
}

test('the demo provisions a province and its three villages sync the spoken bulletin', async () => {
  const dir = tempDir('loa-demo-');
  const first = await runDemo(dir, true, async (out, readyAt) => {
    // Times are Vietnam's, hours off a machine in UTC: each says how far away it is, and that agrees with the clock.
    const m = /phát lúc (\d\d:\d\d) giờ Việt Nam, sau (?:(\d+) phút )?(\d+) giây \(in (?:\d+ min )?\d+ s\)$/m.exec(out);
    assert.ok(m, out);
    const inMs = (Number(m[2] ?? 0) * 60 + Number(m[3])) * 1000;
    const at = nextDaily(readyAt - 60_000, m[1]!);
    // Printed a moment before the test read it, rounded to the second.
    assert.ok(Math.abs(readyAt + inMs - at) < 5000, `"${m[0]}" read at ${new Date(readyAt).toISOString()}`);
    assert.match(out, /và hằng ngày lúc 06:30 \(and every day at 06:30\): lần tới sau \d+ (giờ|phút|giây)/);
    // Each village's local panel is printed with its password, and lets the operator in.
    const panels = [...out.matchAll(/^ {4}(\S+) +(http:\/\/127\.0\.0\.1:\d+\/) +mật khẩu \(password\) (\S+)$/gm)];
    assert.is(panels.length, 3, out);
    for (const [, , url, password] of panels) {
      const res = await fetch(new URL('/api/login', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
      assert.is(res.status, 200, `${url}: ${await res.text()}`);
    }
  });
  assert.match(first, /Đã tạo tỉnh mẫu trong .* \(demo province provisioned\)/);
  assert.match(first, /Đã dừng: 3 cụm loa/);
  assert.match(first, /son-tay-lang-ra: bản kế hoạch 1 đã áp dụng/);
  const second = await runDemo(dir, false);
  assert.not.match(second, /provisioned/);
  // Each run records into its own directory, and says which: the second did not overwrite the first.
  const recorded = (out: string) => /^Bản ghi của lần chạy này \(this run's recordings\): (.+)$/m.exec(out)?.[1];
  const [a, b] = [recorded(first), recorded(second)];
  assert.ok(a && b && a !== b, `${a} / ${b}`);
  assert.equal(readdirSync(join(dir, 'recordings')).map((d) => join(dir, 'recordings', d)).sort(), [a, b].sort());
  for (const d of [a!, b!]) assert.equal(readdirSync(d).sort(), ['dak-ha-thon-1.wav', 'dak-ha-thon-3.wav', 'son-tay-lang-ra.wav']);
  assert.match(second, /các lần chạy trước vẫn giữ trong \(earlier runs are kept in\)/);
});

test.run();
