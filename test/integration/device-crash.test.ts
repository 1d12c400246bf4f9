import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { syncFixture, fileSha, type SyncFixture } from '../helpers/sync-fixture.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { LOA_BIN } from '../helpers/processes.js';
import { cleanupTempDirs, sleep, tempDir, waitFor } from '../helpers/tmp.js';

// The real `loa device` process, killed with SIGKILL at random points of a
// sync. After every kill the store must pass PRAGMA integrity_check and every
// index row must point to a complete file with the right sha256.

let f: SyncFixture;
let px: Proxy;

test.before(async () => {
  f = await syncFixture();
  px = await startProxy(f.broker.port);
});
test.after(async () => {
  px.cut();
  await px.close();
  await f.stop();
  cleanupTempDirs();
});

function checkStore(dbFile: string, assetsDir: string): { rows: number; applied: boolean } {
  const db = new Database(dbFile, { readonly: true });
  try {
    assert.is(db.pragma('integrity_check', { simple: true }), 'ok');
    const rows = db.prepare('SELECT sha256, size FROM assets').all() as { sha256: string; size: number }[];
    for (const r of rows) {
      const p = join(assetsDir, r.sha256);
      assert.ok(existsSync(p), `row ${r.sha256} has its file`);
      assert.is(fileSha(p), r.sha256, `row ${r.sha256} points to the right bytes`);
    }
    const t = db.prepare('SELECT applied_at FROM target').get() as { applied_at: string | null } | undefined;
    return { rows: rows.length, applied: !!t?.applied_at };
  } finally {
    db.close();
  }
}

test('SIGKILL at 20 random points of a sync: the store stays sound and the sync completes', async () => {
  const assets = [f.addAsset(900_000), f.addAsset(700_000), f.addAsset(1_000_000)];
  const v = f.setTarget('t3a', { assets: assets.map((a) => a.sha256) });
  const dir = tempDir('loa-crash-');
  const cfg = f.deviceConfig('t3a', { url: px.url, data: join(dir, 'data'), agent: { syncEvery: 2 } });
  const cfgFile = join(dir, 'device.json');
  writeFileSync(cfgFile, JSON.stringify(cfg));
  px.throttle(350_000);
  const run = () => {
    const child = spawn(process.execPath, [LOA_BIN, 'device', '--config', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOA_LOG_LEVEL: 'info' } });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    return { child, exited, out: () => out };
  };
  let kills = 0;
  let sawRows = 0;
  for (let i = 0; i < 20; i++) {
    const r = run();
    await waitFor(() => r.out().includes('agent started') || r.child.exitCode !== null, { timeoutMs: 10_000, what: 'agent start' });
    assert.is(r.child.exitCode, null, r.out());
    await sleep(50 + Math.floor(Math.random() * 700));
    r.child.kill('SIGKILL');
    await r.exited;
    kills++;
    const s = checkStore(join(cfg.data, 'device.sqlite'), join(cfg.data, 'assets'));
    sawRows = Math.max(sawRows, s.rows);
    if (s.applied) break;
  }
  assert.ok(kills >= 5, `${kills} kills before the sync was done`);
  // Now let it finish.
  px.throttle(0);
  const last = run();
  await waitFor(() => checkStore(join(cfg.data, 'device.sqlite'), join(cfg.data, 'assets')).applied, { timeoutMs: 30_000, what: `target ${v} applied` });
  last.child.kill('SIGTERM');
  await last.exited;
  for (const a of assets) assert.is(fileSha(join(cfg.data, 'assets', a.sha256)), a.sha256);
  assert.is(checkStore(join(cfg.data, 'device.sqlite'), join(cfg.data, 'assets')).rows, 3);
});

test.run();
