import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { DeviceStore } from '../../device/store.js';
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

test('reconnect backoff grows exponentially with jitter and is capped', () => {
  assert.is(backoffDelay(0, 1000, 300_000, () => 0), 500);
  assert.is(backoffDelay(0, 1000, 300_000, () => 1), 1000);
  assert.is(backoffDelay(3, 1000, 300_000, () => 1), 8000);
  assert.is(backoffDelay(20, 1000, 300_000, () => 1), 300_000);
  assert.is(backoffDelay(20, 1000, 300_000, () => 0), 150_000);
});

test.run();
