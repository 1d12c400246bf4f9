import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOA_BIN, runLoa, spawnBroker, type SpawnedBroker } from '../helpers/processes.js';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';

// `loa console` as a province runs it (its own process, the real broker), and
// `loa dispatch` from a dispatcher's terminal through it: the same approval
// rule as the web console, clear refusals for bad input.

let p: TestProvince;
let broker: SpawnedBroker;
let cons: ChildProcess;
let consoleUrl = '';
const pw: Record<string, string> = {};

test.before(async () => {
  p = await makeProvince({ accounts: [['console', 'console'], ['dispatch', 'dispatch'], ['approver', 'approver'], ['viewer', 'viewer', 'qn/son-tay']] });
  p.registry.close();
  broker = await spawnBroker(['--data', p.dir]);
  const dir = tempDir();
  for (const name of ['dispatch', 'approver', 'viewer']) {
    pw[name] = join(dir, `${name}.pw`);
    writeFileSync(pw[name]!, p.accounts[name]!.secret + '\n', { mode: 0o600 });
  }
  cons = spawn(process.execPath, [LOA_BIN, 'console', '--data', p.dir, '--broker', broker.url, '--port', '0'], {
    env: { ...process.env, LOA_CONSOLE_PASSWORD: p.accounts.console!.secret, LOA_DISPATCH_PASSWORD: p.accounts.dispatch!.secret },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  cons.stdout!.on('data', (d) => (out += d));
  cons.stderr!.on('data', (d) => (out += d));
  consoleUrl = await waitFor(() => /Loa console: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1], { timeoutMs: 20_000, what: `console listening:\n${out}` });
});

test.after(async () => {
  if (cons.exitCode === null) {
    cons.kill('SIGTERM');
    await new Promise((r) => cons.once('exit', r));
  }
  await broker.stop();
  cleanupTempDirs();
});

const loa = (who: string, ...args: string[]) => runLoa(['dispatch', ...args, '--console', consoleUrl, '--user', who, '--password-file', pw[who]!]);

test('an exercise goes out at once; an actual emergency waits for an approver, who releases it', async () => {
  const ex = await loa('dispatch', 'send', '--mode', 'exercise', '--zone', 'qn/dak-ha', '--clip', 'siren', '--repeat', '1', '--title', 'Diễn tập lũ quét', '--json');
  assert.is(ex.code, 0, ex.stderr);
  const exercise = JSON.parse(ex.stdout) as { id: string; status: string; mode: string };
  assert.is(exercise.status, 'sent');
  const st = await loa('dispatch', 'status', exercise.id);
  assert.is(st.code, 0, st.stderr);
  assert.match(st.stdout, /DIỄN TẬP \(exercise\)\s+sent/);
  // No village agent runs here: the three devices of Đắk Hà have not acknowledged.
  assert.match(st.stdout, /qn\/dak-ha: .*silent 3/);

  const act = await loa('dispatch', 'send', '--mode', 'actual', '--zone', 'qn/dak-ha/thon-3', '--level', '4');
  assert.is(act.code, 0, act.stderr);
  assert.match(act.stdout, /THẬT \(actual\)\s+pending/);
  const id = /waiting for an approver: loa dispatch approve (\S+)/.exec(act.stdout)![1]!;
  const self = await loa('dispatch', 'approve', id);
  assert.is(self.code, 1);
  assert.match(self.stderr, /LOA_E_FORBIDDEN/, self.stderr);
  const ok = await loa('approver', 'approve', id);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /sent \(approved by approver\)/);
  const list = await loa('approver', 'status');
  assert.match(list.stdout, new RegExp(`${id}.*sent`));
  assert.match(list.stdout, new RegExp(`${exercise.id}.*sent`));
});

test('bad input and the wrong people are refused with a clear reason', async () => {
  const noMode = await loa('dispatch', 'send', '--zone', 'qn/dak-ha');
  assert.is(noMode.code, 2);
  assert.match(noMode.stderr, /--mode must be actual, exercise or test/);
  const noZone = await loa('dispatch', 'send', '--mode', 'test');
  assert.is(noZone.code, 2);
  assert.match(noZone.stderr, /at least one --zone or --device/);
  const viewer = await loa('viewer', 'send', '--mode', 'test', '--zone', 'qn/son-tay');
  assert.is(viewer.code, 1);
  assert.match(viewer.stderr, /LOA_E_FORBIDDEN/);
  const unknownZone = await loa('dispatch', 'send', '--mode', 'test', '--zone', 'qn/khong-co');
  assert.is(unknownZone.code, 1);
  assert.match(unknownZone.stderr, /LOA_E_ZONE_NOT_FOUND/);
  const wrongPw = tempDir();
  writeFileSync(join(wrongPw, 'pw'), 'not-the-password-at-all');
  const bad = await runLoa(['dispatch', 'status', '--console', consoleUrl, '--user', 'dispatch', '--password-file', join(wrongPw, 'pw')]);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /LOA_E_UNAUTHENTICATED: wrong account name or password/, bad.stderr);
  const down = await runLoa(['dispatch', 'status', '--console', 'http://127.0.0.1:9/', '--user', 'dispatch', '--password-file', pw.dispatch!]);
  assert.is(down.code, 1);
  assert.match(down.stderr, /cannot reach the console at http:\/\/127\.0\.0\.1:9\//);
});

test.run();
