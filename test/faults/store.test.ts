import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ALERT_HZ } from '../../audio/tones.js';
import { emergency, faultWorld, nextMinute, oneOff, quarantined, toneAsset, type FaultAgent, type FaultWorld } from './world.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';

// The agent's own disk. Finding 5: a full disk crashed the agent into a
// restart loop (SQLITE_FULL uncaught) and an emergency sent meanwhile was
// acked "received" and never played. Finding 6: a truncated, scribbled or
// header-damaged device.sqlite stopped the agent for good. Finding 8: two
// agents on one data directory crashed each other.
//
// Nothing lost means here: with the disk full, the agent keeps running (the
// same process), programmes and emergencies sound, and every record reaches
// the province (from memory while it cannot be written), then the disk
// when it has room; a damaged store is set aside for the technician, the
// agent starts afresh, resyncs, says so, and sounds an emergency; a second
// agent on the same directory refuses with a clear message and harms
// nothing.

let w: FaultWorld;
const mounts: string[] = [];

test.before(async () => {
  w = await faultWorld();
});
test.after(async () => {
  await w.stop();
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // already gone
    }
  }
  cleanupTempDirs();
});

/** A size-limited tmpfs the test mounts (it needs root and CAP_SYS_ADMIN); null where it cannot. */
function smallDisk(mib: number): string | null {
  const dir = tempDir('loa-small-disk-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch {
    return null;
  }
  mounts.push(dir);
  return dir;
}

/** Writes a file until the disk has no room left; returns its path. */
function fill(dir: string, name: string): string {
  const f = join(dir, name);
  const fd = openSync(f, 'a');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  // The last partial block too.
  const fd2 = openSync(f, 'a');
  try {
    for (let n = 4096; n >= 1; n = Math.floor(n / 2)) {
      try {
        for (;;) writeSync(fd2, Buffer.alloc(n, 1));
      } catch {
        // next size down
      }
    }
  } finally {
    closeSync(fd2);
  }
  return f;
}

type Ack = { emergency: string; status: string };
const acks = (device: string, id: string) => w.records(device, 'emergency-ack').map((r) => r.data as Ack).filter((a) => a.emergency === id).map((a) => a.status);

async function panelStatus(a: FaultAgent): Promise<{ store: { state: string; held: number }; disk: { full: boolean } }> {
  const line = await a.waitLog((l) => l.msg === 'local panel listening' && Date.parse(l.time) >= a.current!.startedAt - 1000, 'its panel listening');
  const url = (line.urls as string[])[0]!;
  const login = await fetch(new URL('/api/login', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: w.p.devices[a.id]!.panelPassword }) });
  assert.is(login.status, 200);
  const cookie = String(login.headers.get('set-cookie')).split(';')[0]!;
  return (await (await fetch(new URL('/api/status', url), { headers: { cookie } })).json()) as never;
}

test('disk full: the same agent keeps playing programmes and emergencies, records wait in memory, then reach the disk', async () => {
  const disk = smallDisk(40);
  if (!disk) {
    // Said so, not hidden: this machine cannot mount a small file system for the test.
    console.log('store.test: cannot mount a tmpfs here (needs root); the disk-full case is not run');
    return;
  }
  const asset = toneAsset(w, 8, 587);
  const when = nextMinute(40_000);
  w.setTarget('t3a', { assets: [asset.sha256], programmes: [oneOff('tin-day', asset.sha256, when)] });
  // The data directory on the small disk; the horn (WAV) elsewhere.
  const a = await w.agent('t3a', { storeReserveBytes: 2 * 1024 * 1024, minFreeBytes: 0 }, { data: join(disk, 't3a') });
  await a.start();
  await a.waitLog((l) => l.msg === 'target applied', 'target applied', 60_000);
  await a.waitLog((l) => l.msg === 'the province answered with the time', 'clock set');
  const pid = a.current!.proc.child.pid;
  const filler = fill(disk, 'filler-1');
  // The first write that finds the disk full releases the headroom and still records.
  const e1 = emergency({ scope: { zones: [], devices: ['t3a'] } });
  await w.publishEmergency(e1);
  await waitFor(() => acks('t3a', e1.id).includes('finished'), { timeoutMs: 40_000, what: 'the first emergency played to the end' });
  await a.waitLog((l) => l.msg.startsWith('the disk is full: store headroom released'), 'headroom released');
  // Now nothing more fits: what the agent records waits in memory.
  const filler2 = fill(disk, 'filler-2');
  await a.waitLog((l) => l.msg === 'playing' && String(l.id).startsWith('tin-day@'), 'the programme playing', 90_000);
  await waitFor(() => w.records('t3a', 'play').some((r) => (r.data as { programme?: string }).programme === 'tin-day'), { timeoutMs: 30_000, what: 'the programme played and reported' });
  const e2 = emergency({ scope: { zones: [], devices: ['t3a'] } });
  await w.publishEmergency(e2);
  await waitFor(() => acks('t3a', e2.id).includes('finished'), { timeoutMs: 60_000, what: 'the second emergency played to the end, its acks sent from memory' });
  assert.is(a.current!.proc.child.pid, pid, 'the same process: no restart loop');
  assert.ok(a.alive);
  const full = await panelStatus(a);
  assert.is(full.store.state, 'full', JSON.stringify(full.store));
  assert.ok(full.disk.full);
  assert.ok(a.logs().some((l) => l.msg.startsWith('store cannot write: records kept in memory')), 'it said so');
  assert.ok(a.soundedSeconds(587) >= 6, 'the programme sounded');
  assert.ok(a.soundedSeconds(ALERT_HZ[0]) >= 4, 'both alerts sounded');
  // Room again: what was held is written, the headroom is back.
  rmSync(filler);
  rmSync(filler2);
  await a.waitLog((l) => l.msg === 'the disk has room again: records written, store headroom restored', 'recovered', 30_000);
  await waitFor(async () => (await panelStatus(a)).store.state === 'ok', { timeoutMs: 15_000, what: 'the panel says the store is well again' });
  assert.ok(statSync(join(a.data, 'reserve.bin')).size >= 2 * 1024 * 1024);
  // Nothing was reported twice, and nothing more is pending.
  const keys = w.records('t3a').map((r) => r.key);
  assert.is(new Set(keys).size, keys.length);
  assert.is(w.records('t3a', 'play').filter((r) => (r.data as { programme?: string }).programme === 'tin-day').length, 1);
});

/** Three ways a store is damaged while the agent is off. */
const DAMAGE: Record<string, (file: string) => void> = {
  truncated: (f) => truncateSync(f, Math.floor(statSync(f).size / 2) + 100),
  scribbled: (f) => {
    const b = readFileSync(f);
    const fd = openSync(f, 'r+');
    // Garbage over the start of every page but the first: the file header reads well, the tables' pages do not.
    for (let off = 4096; off < b.length; off += 4096) writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, off);
    closeSync(fd);
  },
  header: (f) => {
    const fd = openSync(f, 'r+');
    writeSync(fd, Buffer.alloc(100, 0), 0, 100, 0);
    closeSync(fd);
  },
};

async function damagedStore(id: string, zone: string, kind: keyof typeof DAMAGE) {
  const asset = toneAsset(w, 3, 440 + id.length);
  w.setTarget(id, { assets: [asset.sha256] });
  const a = await w.agent(id);
  await a.start();
  await a.waitLog((l) => l.msg === 'target applied', `${id} target applied`, 60_000);
  await a.kill('SIGTERM');
  const file = join(a.data, 'device.sqlite');
  // A clean stop leaves everything in the main file (no -wal): that is what gets damaged.
  rmSync(`${file}-wal`, { force: true });
  rmSync(`${file}-shm`, { force: true });
  DAMAGE[kind]!(file);
  await a.start();
  assert.ok(a.alive, `${id} (${kind}) runs: ${a.current!.proc.out().slice(-2000)}`);
  const q = await a.waitLog((l) => l.code === 'LOA_E_STORE_CORRUPT', `${id} (${kind}) says the store was damaged`);
  assert.ok(typeof q.quarantined === 'string');
  assert.is(quarantined(a.data).length, 1, 'the damaged file is kept for the technician');
  // Resynced from the retained target; the asset file already on the disk is adopted, not fetched again.
  await a.waitLog((l) => l.msg === 'target applied' && Date.parse(l.time) > a.current!.startedAt - 1000, `${id} target applied again`, 60_000);
  assert.not.ok(a.logs().some((l) => l.msg === 'fetching asset' && Date.parse(l.time) > a.current!.startedAt - 1000), 'nothing fetched again');
  assert.is((await panelStatus(a)).store.state, 'rebuilt');
  const e = emergency({ scope: { zones: [zone], devices: [] } });
  await w.publishEmergency(e);
  await waitFor(() => acks(id, e.id).includes('finished'), { timeoutMs: 40_000, what: `${id}: an emergency after the rebuild played` });
  assert.ok(a.soundedSeconds(ALERT_HZ[0], 1) >= 2);
}

test('a truncated, scribbled or header-damaged store is set aside, the agent starts afresh, resyncs, says so and sounds an emergency', async () => {
  await Promise.all([damagedStore('t3b', 'qn/dak-ha/thon-3', 'truncated'), damagedStore('t4a', 'qn/dak-ha/thon-4', 'scribbled'), damagedStore('l1a', 'qn/son-tay/lang-1', 'header')]);
});

test('a second agent on the same data directory refuses with a clear message and harms nothing', async () => {
  const a = w.agents.find((x) => x.id === 't3b')!;
  assert.ok(a.alive);
  const before = a.current!;
  // The same configuration again, as a technician starting it by hand beside the service would.
  const second = await a.start({ wait: false });
  const code = await second.proc.exited;
  assert.is(code, 1);
  assert.match(second.proc.out(), /LOA_E_DATA_LOCKED/);
  assert.match(second.proc.out(), new RegExp(`pid ${before.proc.child.pid}`));
  assert.ok(!before.proc.child.killed && before.proc.child.exitCode === null, 'the first agent still runs');
  a.runs.pop(); // the refused run is not the agent's
  const e = emergency({ scope: { zones: [], devices: ['t3b'] } });
  await w.publishEmergency(e);
  await waitFor(() => acks('t3b', e.id).includes('finished'), { timeoutMs: 40_000, what: 'the first agent still sounds emergencies' });
});

test.run();
