import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

// `npm start` and `npm test` on a machine without a Debian package stop at
// once, naming the package and the one command that installs it, instead of
// failing inside the demo or a test minutes later (scripts/preflight.js).
test.after(cleanupTempDirs);

const root = join(import.meta.dirname, '..', '..', '..');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, ms: Date.now() - t0 }));
  });
}

/** A PATH of one directory holding a link to every command this machine's PATH (and /usr/sbin, /sbin) has, except `hidden`. */
function pathWithout(hidden: string[]): string {
  const dir = tempDir('loa-path-');
  const seen = new Set(hidden);
  for (const d of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin']) {
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      if (seen.has(n)) continue;
      seen.add(n);
      symlinkSync(join(d, n), join(dir, n));
    }
  }
  return dir;
}

test('the preflight knows exactly the packages scripts/setup-system.sh installs', async () => {
  const script = readFileSync(join(root, 'scripts', 'setup-system.sh'), 'utf8');
  const installed = /^packages=\(([^)]*)\)/m.exec(script)?.[1]?.trim().split(/\s+/);
  assert.ok(installed?.length, 'packages=(…) in setup-system.sh');
  const r = await run(process.execPath, ['scripts/preflight.js', '--list'], process.env);
  assert.is(r.code, 0, r.out);
  assert.equal(r.out.trim().split('\n').sort(), [...installed!].sort());
});

test('on this machine (set up by scripts/setup-system.sh) both jobs pass the preflight', async () => {
  for (const job of ['start', 'test']) {
    const r = await run(process.execPath, ['scripts/preflight.js', job], process.env);
    assert.is(r.code, 0, `${job}: ${r.out}`);
    assert.is(r.out, '');
  }
});

test('without ffmpeg, `npm start` stops before the demo, naming the package and the install command', async () => {
  const env = { ...process.env, PATH: pathWithout(['ffmpeg']) };
  const data = tempDir('loa-demo-');
  const r = await run('npm', ['start', '--', '--data', data, '--port', '0', '--http-port', '0', '--panel-port', '0'], env);
  assert.is.not(r.code, 0, r.out);
  assert.match(r.out, /npm start \(loa demo\): thiếu gói Debian \(missing Debian packages\): ffmpeg\n/);
  assert.match(r.out, /^ {2}ffmpeg +không thấy \(not found\): ffmpeg$/m);
  assert.match(r.out, /install them with one command\): {2}bash scripts\/setup-system\.sh$/m);
  // It stopped before the demo: nothing provisioned, nothing listened.
  assert.not.match(r.out, /Loa demo|provisioned/);
  assert.equal(readdirSync(data), []);
  assert.ok(r.ms < 15_000, `took ${r.ms} ms`);
});

test('without mosquitto_sub and chromium, `npm test` stops before compiling, naming both packages', async () => {
  const env = { ...process.env, PATH: pathWithout(['mosquitto_sub']), LOA_CHROMIUM: join(tempDir('loa-nochromium-'), 'chromium') };
  const r = await run('npm', ['test'], env);
  assert.is.not(r.code, 0, r.out);
  assert.match(r.out, /npm test: thiếu gói Debian \(missing Debian packages\): mosquitto-clients chromium\n/);
  assert.match(r.out, /^ {2}mosquitto-clients +không thấy \(not found\): mosquitto_sub$/m);
  assert.match(r.out, /bash scripts\/setup-system\.sh$/m);
  // No test file ran (npm's banner echoes the script line, so look for run-tests' own lines).
  assert.not.match(r.out, /^(ok {2}|FAIL) |files, \d+\/\d+ tests passed/m);
  assert.ok(r.ms < 15_000, `took ${r.ms} ms`);
});

test('the demo needs only ffmpeg and espeak-ng: without redis-server `npm start`\'s preflight passes', async () => {
  const env = { ...process.env, PATH: pathWithout(['redis-server']) };
  const start = await run(process.execPath, ['scripts/preflight.js', 'start'], env);
  assert.is(start.code, 0, start.out);
  const t = await run(process.execPath, ['scripts/preflight.js', 'test'], env);
  assert.is(t.code, 1, t.out);
  assert.match(t.out, /missing Debian packages\): redis-server\n/);
});

test.run();
