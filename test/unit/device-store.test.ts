import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { DeviceStore, storeFault } from '../../device/store.js';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { backoffDelay } from '../../device/link.js';
import type { LogRecord } from '../../protocol/payloads.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

test.after(cleanupTempDirs);

const at = '2026-11-26T01:00:00.000Z';
function rec(s: DeviceStore, kind: LogRecord['kind']): LogRecord {
  const key = s.nextKey();
  const data = kind === 'metric' ? { name: 'm', value: 1 } : kind === 'play' ? { outcome: 'played', level: 'normal', source: 'programme', start: at } : kind === 'operator' ? { action: 'volume', session: 's' } : { emergency: '0b6f5d8e-3c1a-4b7e-9a52-6f1d2c3b4a5e', status: 'received' };
  return { key, at, kind, data } as LogRecord;
}

test('a full outbox drops metrics, then play logs, then operator actions, never an emergency ack for a lesser record', () => {
  const s = new DeviceStore(join(tempDir(), 'd.sqlite'), { outboxMax: 4 });
  s.tx(() => {
    for (const k of ['emergency-ack', 'play', 'metric', 'play'] as const) assert.ok(s.enqueue(rec(s, k)));
  });
  assert.ok(s.tx(() => s.enqueue(rec(s, 'emergency-ack'))), 'emergency ack admitted');
  assert.equal(s.dropped(), { metric: 1 });
  assert.ok(s.tx(() => s.enqueue(rec(s, 'operator'))));
  assert.equal(s.dropped(), { metric: 1, play: 1 });
  // Now only acks and an operator action and a play log remain; a metric cannot push any out.
  assert.not.ok(s.tx(() => s.enqueue(rec(s, 'metric'))));
  assert.equal(s.dropped(), { metric: 2, play: 1 });
  assert.equal(s.pending(10).map((r) => r.kind), ['emergency-ack', 'emergency-ack', 'operator', 'play']);
  s.close();
});

test('only acknowledged keys are deleted; keys are unique per install and survive a restart', () => {
  const file = join(tempDir(), 'd.sqlite');
  const s = new DeviceStore(file, { outboxMax: 100 });
  const a = rec(s, 'play');
  const b = rec(s, 'play');
  s.tx(() => {
    s.enqueue(a);
    s.enqueue(b);
  });
  assert.is(s.acknowledge([a.key, 'someone-else:0000000001']), 1);
  assert.equal(s.pending(10).map((r) => r.key), [b.key]);
  const install = s.installId;
  s.close();
  const again = new DeviceStore(file, { outboxMax: 100 });
  assert.is(again.installId, install);
  const c = again.nextKey();
  assert.ok(c > b.key, `${c} after ${b.key}`);
  assert.is(again.integrityCheck(), 'ok');
  again.close();
  const other = new DeviceStore(join(tempDir(), 'd.sqlite'), { outboxMax: 100 });
  assert.is.not(other.installId, install, 'a fresh store starts a new key space');
  other.close();
});

test('disk full: the headroom is asked for once, then records, plan items and emergency ids wait in memory and reach the disk when there is room', () => {
  const dir = tempDir();
  let asked = 0;
  const s = new DeviceStore(join(dir, 'd.sqlite'), { outboxMax: 100, onFull: () => (asked++, false) });
  s.tx(() => s.enqueue(rec(s, 'play')));
  // SQLite's own limit on the file's pages: the next page it needs is refused with SQLITE_FULL, as on a full disk.
  const pages = s.db.pragma('page_count', { simple: true }) as number;
  s.db.pragma(`max_page_count = ${pages}`);
  const big = (k: LogRecord['kind']) => ({ ...rec(s, k), key: s.nextKeyInMemory() });
  let kept = 0;
  for (let i = 0; i < 40; i++) {
    const r = big('play');
    (r as { data: { title?: string } }).data.title = 'x'.repeat(150);
    const ok = s.commit(
      () => {
        s.enqueue(r);
        s.journal(r);
      },
      () => {
        s.holdRecord(r);
        kept++;
      },
    );
    if (!ok) assert.is(s.health.state, 'full');
  }
  assert.ok(kept > 0, 'some records could not be written');
  assert.ok(asked >= 1, 'the headroom was asked for');
  s.markPlanDone('ct-1@1', '2026-11-26T01:00:00.000Z');
  s.markPlanDone('ct-2@2', '2026-11-26T01:00:00.000Z');
  assert.ok(s.planDone('ct-1@1') && s.planDone('ct-2@2'), 'plan items done, on disk or in memory');
  s.holdEmergencySeen('0b6f5d8e-3c1a-4b7e-9a52-6f1d2c3b4a5e', '2026-11-26T01:00:00.000Z', '2026-11-26T02:00:00.000Z');
  assert.ok(s.hasSeenEmergency('0b6f5d8e-3c1a-4b7e-9a52-6f1d2c3b4a5e'));
  // Held records are sent like the others, and an ack deletes them from memory too.
  const pending = s.pending(1000);
  assert.is(pending.length, 41);
  assert.is(s.acknowledge([pending[0]!.key]), 1);
  assert.not.ok(s.flushHeld(), 'still no room');
  s.db.pragma('max_page_count = 1073741823');
  assert.ok(s.flushHeld());
  assert.is(s.heldCount, 0);
  assert.is(s.health.state, 'ok');
  assert.is(s.pending(1000).length, 40);
  assert.ok(s.planDone('ct-1@1') && s.planDone('ct-2@2') && s.hasSeenEmergency('0b6f5d8e-3c1a-4b7e-9a52-6f1d2c3b4a5e'));
  s.close();
  // The record counter was written too: a restart never reuses a key sent from memory.
  const again = new DeviceStore(join(dir, 'd.sqlite'), { outboxMax: 100 });
  assert.ok(again.nextKey() > pending.at(-1)!.key);
  again.close();
});

test('a store damaged on the disk is set aside in quarantine/ and a fresh one started, at open and while running', () => {
  const dir = tempDir();
  const file = join(dir, 'device.sqlite');
  const s = new DeviceStore(file, { outboxMax: 100 });
  const install = s.installId;
  s.tx(() => s.enqueue(rec(s, 'play')));
  s.close();
  writeFileSync(file, Buffer.alloc(8192, 0x5a)); // scribbled over, header and all
  assert.throws(() => new DeviceStore(file, { outboxMax: 100 }), (e: unknown) => storeFault(e) === 'corrupt');
  const { store, quarantined } = DeviceStore.open(file, { outboxMax: 100 });
  assert.ok(quarantined && existsSync(join(quarantined.dir, 'device.sqlite')), 'the damaged file is kept');
  assert.is.not(store.installId, install, 'a new key space');
  assert.is(store.rebuilt()?.dir, quarantined!.dir);
  // While running: the agent asks for a rebuild when SQLite reports damage; what is held in memory stays.
  store.holdRecord(rec(store, 'operator'));
  const dir2 = store.rebuild('SQLITE_CORRUPT: database disk image is malformed');
  assert.is(readdirSync(join(dir, 'quarantine')).length, 2);
  assert.ok(existsSync(join(dir2, 'device.sqlite')));
  assert.ok(store.flushHeld());
  assert.is(store.pending(10).length, 1);
  assert.is(store.integrityCheck(), 'ok');
  store.close();
});

test('reconnect backoff grows exponentially with jitter and is capped', () => {
  assert.is(backoffDelay(0, 1000, 300_000, () => 0), 500);
  assert.is(backoffDelay(0, 1000, 300_000, () => 1), 1000);
  assert.is(backoffDelay(3, 1000, 300_000, () => 1), 8000);
  assert.is(backoffDelay(20, 1000, 300_000, () => 1), 300_000);
  assert.is(backoffDelay(20, 1000, 300_000, () => 0), 150_000);
});

test.run();
