import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { asDevice, connect, closedWithin, endAll, nextMessage, subscribe } from '../helpers/mqtt.js';
import { captureLog, type CapturedLog } from '../helpers/logs.js';
import { cleanupTempDirs, sleep, waitFor } from '../helpers/tmp.js';
import { topics, deviceSubscriptions } from '../../protocol/topics.js';

let p: TestProvince;
let b: RunningBroker;
let logs: CapturedLog;

test.before(async () => {
  p = await makeProvince();
  logs = captureLog();
  b = await startBroker(p.registry, p.dir, { log: logs.log });
});
test.after(async () => {
  await b.stop();
  p.registry.close();
  cleanupTempDirs();
});

const account = (name: string, opts = {}) => connect(b.url, { clientId: name, username: name, password: p.accounts[name]!.secret, ...opts });
const device = (id: string) => asDevice(b.url, id, p.devices[id]!.secret);

test('a device gets every topic of its contract and none of another device\'s, nor #', async () => {
  const c = await device('t3a');
  const own = deviceSubscriptions('t3a', 'qn/dak-ha/thon-3');
  assert.ok((await subscribe(c, own)).every((q) => q === 1), 'own topics granted');
  assert.equal(await subscribe(c, [topics.target('t3b'), '#', 'loa/v1/d/+/target', topics.zoneEmergency('qn/son-tay')]), [128, 128, 128, 128]);
  const l = logs.find((x) => x.msg === 'subscription refused' && x.topic === topics.target('t3b'));
  assert.ok(l, 'refusal logged');
  assert.is(l!.clientId, 't3a');
  assert.match(String(l!.reason), /may not subscribe to target topic/);
  assert.ok(logs.find((x) => x.msg === 'subscription refused' && x.topic === '#' && /exact topics/.test(String(x.reason))));
  assert.ok(c.connected, 'a refused subscription does not disconnect');
  await endAll(c);
});

for (const [what, topic, retain] of [
  ['an emergency topic', topics.zoneEmergency('qn/dak-ha/thon-3'), false],
  ['its own target-state topic', topics.target('t3a'), true],
  ['another device\'s status', topics.status('t3b'), true],
] as [string, string, boolean][]) {
  test(`a device publishing to ${what} is disconnected, the message goes nowhere, and it is logged`, async () => {
    const watcher = await account('console');
    await subscribe(watcher, ['#']);
    const got: string[] = [];
    watcher.on('message', (t) => got.push(t));
    const c = await device('t3a');
    c.publish(topic, '{"payload":{}}', { qos: 1, retain });
    assert.ok(await closedWithin(c, 3000), 'disconnected');
    const l = await waitFor(() => logs.find((x) => String(x.msg).startsWith('publish refused') && x.topic === topic), { what: 'publish refusal log' });
    assert.is(l.clientId, 't3a');
    await sleep(100);
    assert.not.ok(got.includes(topic), 'nobody received it');
    await endAll(c, watcher);
  });
}

test('dispatch reaches a device through its zone lineage; console may not publish emergencies', async () => {
  const dev = await device('t3b');
  await subscribe(dev, deviceSubscriptions('t3b', 'qn/dak-ha/thon-3'));
  const d = await account('dispatch');
  const got = nextMessage(dev, topics.zoneEmergency('qn'));
  await d.publishAsync(topics.zoneEmergency('qn'), '{"x":1}', { qos: 1 });
  assert.is((await got).payload.toString(), '{"x":1}');
  const cons = await account('console');
  cons.publish(topics.zoneEmergency('qn'), '{}', { qos: 1 });
  assert.ok(await closedWithin(cons, 3000));
  await endAll(dev, d, cons);
});

test('a commune dispatcher cannot publish to a neighbouring commune', async () => {
  const d = await account('dispatch-dak-ha');
  await d.publishAsync(topics.zoneEmergency('qn/dak-ha'), '{}', { qos: 1 });
  d.publish(topics.zoneEmergency('qn/son-tay'), '{}', { qos: 1 });
  assert.ok(await closedWithin(d, 3000));
  assert.ok(logs.find((x) => x.topic === topics.zoneEmergency('qn/son-tay') && /outside the account's zone/.test(String(x.reason))));
});

test('a zone-scoped viewer subscribed to a wildcard receives only its zone\'s devices', async () => {
  const v = await account('viewer-son-tay', { clientId: 'viewer-son-tay:web' });
  assert.equal(await subscribe(v, ['loa/v1/d/+/status', '#']), [1, 128]);
  const got: string[] = [];
  v.on('message', (t) => got.push(t));
  const inZone = await device('l1a');
  const outZone = await device('t3a');
  await outZone.publishAsync(topics.status('t3a'), '{"state":"online"}', { qos: 1, retain: true });
  await inZone.publishAsync(topics.status('l1a'), '{"state":"online"}', { qos: 1, retain: true });
  await waitFor(() => got.includes(topics.status('l1a')), { what: 'in-zone status' });
  await sleep(100);
  assert.not.ok(got.includes(topics.status('t3a')));
  await endAll(v, inZone, outZone);
});

test('a payload larger than its topic allows is refused even under the packet limit', async () => {
  const c = await device('t4a');
  c.publish(topics.telemetry('t4a'), Buffer.alloc(10 * 1024, 0x20), { qos: 0 });
  assert.ok(await closedWithin(c, 3000));
  assert.ok(logs.find((x) => x.topic === topics.telemetry('t4a') && /exceeds the 4096 allowed/.test(String(x.reason))));
});

test.run();
