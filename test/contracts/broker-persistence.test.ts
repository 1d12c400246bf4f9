import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// The broker's storage passes the same abstract suite every aedes persistence
// (memory, LevelDB, Redis, MongoDB) is held to.
test('the SQLite persistence passes aedes-persistence\'s abstract test suite', () => {
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', join(import.meta.dirname, 'persistence-suite.js')], { encoding: 'utf8', timeout: 120_000 });
  const pass = Number(/# pass (\d+)/.exec(r.stdout)?.[1] ?? 0);
  const fail = Number(/# fail (\d+)/.exec(r.stdout)?.[1] ?? -1);
  const failures = r.stdout.split('\n').filter((l) => /^\s*not ok/.test(l)).slice(0, 20).join('\n');
  assert.is(fail, 0, `failing tests:\n${failures}\n${r.stderr.slice(-2000)}`);
  assert.ok(pass >= 50, `${pass} tests passed`);
});

test.run();
