import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';

// `npm start`, stopped the way a service manager or a script stops it: one
// signal to npm's own pid (not Ctrl-C, which a terminal sends to the whole
// process group). npm forwards SIGINT and SIGTERM to its child; the script
// ran the demo under `sh -c`, which held SIGINT until node ended (never) and
// died of SIGTERM leaving node running. Now the demo is npm's child itself.
test.after(cleanupTempDirs);

const root = join(import.meta.dirname, '..', '..', '..');
/** How long the whole stop may take: the demo stops its parts in well under a second. */
const STOP_BOUND_MS = 5000;

/** Live processes of a process group, from /proc (field 5 of stat is the group). */
function groupMembers(pgid: number): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') out.push(`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()}`);
    } catch {
      // gone while we looked
    }
  }
  return out;
}

const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

// Ctrl-C in a terminal: SIGINT to the whole group, so node gets it twice (npm forwards its copy); the second must not cut the stop short.
const CASES = [
  { sig: 'SIGINT', to: 'npm', what: "SIGINT to npm's pid" },
  { sig: 'SIGTERM', to: 'npm', what: "SIGTERM to npm's pid" },
  { sig: 'SIGINT', to: 'group', what: 'Ctrl-C (SIGINT to the process group)' },
] as const;

for (const { sig, to, what } of CASES) {
  test(`${what} stops the demo and everything it started, with a line saying so`, async () => {
    const data = tempDir('loa-demo-');
    // Its own process group, so the test can see (and at the end clear) everything npm started.
    const npm = spawn('npm', ['start', '--', '--data', data, '--port', '0', '--http-port', '0', '--panel-port', '0'], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    npm.stdout!.on('data', (d) => (out += d));
    npm.stderr!.on('data', (d) => (out += d));
    try {
      await waitFor(() => out.includes('press Ctrl-C to stop'), { timeoutMs: 60_000, what: `demo start:\n${out}` });
      await waitFor(() => (out.match(/target 1 applied/g) ?? []).length === 3, { timeoutMs: 30_000, what: `three villages synced:\n${out}` });
      assert.ok(groupMembers(npm.pid!).some((p) => p.includes('bin/loa.js demo')), 'the demo runs in npm\'s group');
      const t0 = Date.now();
      process.kill(to === 'npm' ? npm.pid! : -npm.pid!, sig);
      const stopped = await Promise.race([exited(npm).then(() => true), new Promise<false>((r) => setTimeout(r, STOP_BOUND_MS, false))]);
      assert.ok(stopped, `npm still running ${STOP_BOUND_MS} ms after ${sig}; group: ${groupMembers(npm.pid!).join('; ')}\n${out}`);
      assert.is(npm.exitCode, 0, `npm exit ${npm.exitCode ?? npm.signalCode}\n${out}`);
      assert.match(out, new RegExp(`Đang dừng \\(stopping on ${sig}\\)`));
      assert.match(out, /Đã dừng: 3 cụm loa, bảng điều khiển và máy chủ MQTT đã tắt \(stopped: village agents, console and broker\)\./);
      assert.equal(groupMembers(npm.pid!), [], 'no process of npm start is left');
      assert.ok(Date.now() - t0 < STOP_BOUND_MS);
    } finally {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        // the group is gone, as it should be
      }
    }
  });
}

test.run();
