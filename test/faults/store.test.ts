import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ALERT_HZ } from '../../audio/tones.js';
import { emergency, quarantined, toneAsset, useFaultWorld } from './world.js';
import { waitFor } from '../helpers/tmp.js';

// The agent's own store. Finding 6: a truncated, scribbled or
// header-damaged device.sqlite stopped the agent for good. Finding 8: two
// agents on one data directory crashed each other. (A full disk: disk-full.slow.test.ts.)
//
// Nothing lost means here: a damaged store is set aside for the technician,
// the agent starts afresh, resyncs, says so, and sounds an emergency; a
// second agent on the same directory refuses with a clear message and harms
// nothing.

const w = useFaultWorld(test);

type Ack = { emergency: string; status: string };
const acks = (device: string, id: string) => w.records(device, 'emergency-ack').map((r) => r.data as Ack).filter((a) => a.emergency === id).map((a) => a.status);

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
  await a.waitLog((l) => l.msg === 'target applied', `${id} target applied again`, 60_000, a.current!);
  assert.not.ok(a.logs(a.current!).some((l) => l.msg === 'fetching asset'), 'nothing fetched again');
  assert.is((await a.panelStatus()).store.state, 'rebuilt');
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
