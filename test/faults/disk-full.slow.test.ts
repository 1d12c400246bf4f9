import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ALERT_HZ } from '../../audio/tones.js';
import { emergency, nextMinute, oneOff, toneAsset, untilDue, useFaultWorld } from './world.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

// Finding 5: a full disk crashed the agent into a restart loop (SQLITE_FULL
// uncaught at the plan table) and an emergency sent meanwhile was acked
// "received" and never played, not even after space was freed.
//
// Nothing lost means here: with the disk full, the agent keeps running (the
// same process), programmes and emergencies sound, and every record reaches
// the province (from memory while it cannot be written), then the disk when
// it has room. The disk is a 40 MiB tmpfs the test mounts (root only; where
// it cannot, the case says so and does not run — the store's own unit test
// covers the same path with SQLite's page limit standing in for the disk).

const mounts: string[] = [];
// First of the after hooks (they run in order): the small disk goes (lazily, its files still open) before the world's temporary folders are removed.
test.after(async () => {
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // already gone
    }
  }
});
const w = useFaultWorld(test);

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
  await a.waitLog((l) => l.msg === 'playing' && String(l.id).startsWith('tin-day@'), 'the programme playing', untilDue(when));
  await waitFor(() => w.records('t3a', 'play').some((r) => (r.data as { programme?: string }).programme === 'tin-day'), { timeoutMs: 30_000, what: 'the programme played and reported' });
  const e2 = emergency({ scope: { zones: [], devices: ['t3a'] } });
  await w.publishEmergency(e2);
  await waitFor(() => acks('t3a', e2.id).includes('finished'), { timeoutMs: 60_000, what: 'the second emergency played to the end, its acks sent from memory' });
  assert.is(a.current!.proc.child.pid, pid, 'the same process: no restart loop');
  assert.ok(a.alive);
  const full = await a.panelStatus();
  assert.is(full.store.state, 'full', JSON.stringify(full.store));
  assert.ok(full.disk.full);
  assert.ok(a.logs().some((l) => l.msg.startsWith('store cannot write: records kept in memory')), 'it said so');
  assert.ok(a.soundedSeconds(587) >= 6, 'the programme sounded');
  assert.ok(a.soundedSeconds(ALERT_HZ[0]) >= 4, 'both alerts sounded');
  // Room again: what was held is written, the headroom is back.
  rmSync(filler);
  rmSync(filler2);
  await a.waitLog((l) => l.msg === 'the disk has room again: records written, store headroom restored', 'recovered', 30_000);
  await waitFor(async () => (await a.panelStatus()).store.state === 'ok', { timeoutMs: 15_000, what: 'the panel says the store is well again' });
  assert.ok(statSync(join(a.data, 'reserve.bin')).size >= 2 * 1024 * 1024);
  // Nothing was reported twice, and nothing more is pending.
  const keys = w.records('t3a').map((r) => r.key);
  assert.is(new Set(keys).size, keys.length);
  assert.is(w.records('t3a', 'play').filter((r) => (r.data as { programme?: string }).programme === 'tin-day').length, 1);
});

test.run();
