import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { asDevice, connect, endAll, subscribe } from '../helpers/mqtt.js';
import { cleanupTempDirs, waitFor } from '../helpers/tmp.js';
import { topics } from '../../protocol/topics.js';

// aedes drops a QoS 1 message for a persistent session when a QoS 0 message
// published after it reaches the same client first (aedes #955, #994);
// broker/publish-order.ts keeps them in order. Here an emergency (QoS 1) is
// followed at once by chunk traffic (QoS 0) to the same device, many times.

let p: TestProvince;
let b: RunningBroker;

test.before(async () => {
  p = await makeProvince();
  b = await startBroker(p.registry, p.dir);
});
test.after(async () => {
  await b.stop();
  p.registry.close();
  cleanupTempDirs();
});

test('every QoS 1 emergency reaches a persistent session although QoS 0 traffic follows it at once', async () => {
  const got: string[] = [];
  const dev = await asDevice(b.url, 't3a', p.devices.t3a!.secret, { clean: false }, (t, m) => {
    if (t === topics.zoneEmergency('qn')) got.push(m.toString());
  });
  await subscribe(dev, [topics.zoneEmergency('qn'), topics.chunkResponse('t3a')]);
  const d = await connect(b.url, { clientId: 'dispatch', username: 'dispatch', password: p.accounts.dispatch!.secret });
  const cons = await connect(b.url, { clientId: 'console', username: 'console', password: p.accounts.console!.secret });
  const N = 300;
  for (let i = 0; i < N; i++) {
    d.publish(topics.zoneEmergency('qn'), `e${i}`, { qos: 1 });
    cons.publish(topics.chunkResponse('t3a'), Buffer.alloc(2000, i % 256), { qos: 0 });
  }
  await waitFor(() => got.length >= N, { timeoutMs: 10_000, what: `${N} emergencies, got ${got.length}` });
  assert.is(new Set(got).size, N);
  await endAll(dev, d, cons);
});

test.run();
