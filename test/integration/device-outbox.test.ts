import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { syncFixture, type SyncFixture } from '../helpers/sync-fixture.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { join } from 'node:path';

let f: SyncFixture;

test.before(async () => {
  f = await syncFixture();
});
test.after(async () => {
  await f.stop();
  cleanupTempDirs();
});

const play = (i: number) => ({ outcome: 'played' as const, level: 'normal' as const, source: 'programme' as const, programme: 'ban-tin-sang', title: `Bản tin sáng ${i}`, start: new Date(Date.UTC(2026, 10, 26, 0, 0, i)).toISOString(), volume: 70 });

test('500 play-log entries written while the broker is down reach the province exactly once, across an agent restart', async () => {
  const data = join(tempDir('loa-outbox-'), 't3a');
  const a1 = f.agent('t3a', { data });
  await a1.start();
  await waitFor(() => a1.link.connected, { what: 'first connection' });
  // The province goes dark: broker down.
  const port = f.broker.port;
  await f.broker.stop();
  await waitFor(() => !a1.link.connected, { what: 'link down' });
  for (let i = 0; i < 300; i++) a1.record('play', play(i));
  assert.is(a1.store.outboxSize(), 300);
  await a1.stop();
  // The agent restarts (power cut, update) and keeps recording while still offline.
  const a2 = f.agent('t3a', { data });
  await a2.start();
  for (let i = 300; i < 500; i++) a2.record('play', play(i));
  assert.is(a2.store.outboxSize(), 500);
  // The broker returns on the same address.
  const { startBroker } = await import('../helpers/broker.js');
  const b = await startBroker(f.p.registry, f.p.dir, { config: { port } });
  try {
    await waitFor(() => a2.store.outboxSize() === 0, { timeoutMs: 30_000, what: 'outbox drained' });
    assert.is(f.reports.count('t3a', 'play'), 500, 'stored exactly once each');
    const titles = new Set(f.reports.records('t3a', 'play').map((r) => (r.data as { title: string }).title));
    assert.is(titles.size, 500);
    assert.ok(titles.has('Bản tin sáng 0') && titles.has('Bản tin sáng 499'));
    // Sending again what the province already has changes nothing (idempotency keys).
    for (let i = 500; i < 510; i++) a2.record('play', play(i));
    await waitFor(() => a2.store.outboxSize() === 0, { what: 'second drain' });
    assert.is(f.reports.count('t3a', 'play'), 510);
    await a2.stop();
  } finally {
    await b.stop();
  }
});

test.run();
