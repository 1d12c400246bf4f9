import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { runLoa, spawnBroker, type SpawnedBroker } from '../helpers/processes.js';
import { asDevice, connect, endAll, nextMessage, subscribe } from '../helpers/mqtt.js';
import { cleanupTempDirs, sleep, waitFor } from '../helpers/tmp.js';
import { topics } from '../../protocol/topics.js';

// Restarts are of the real `loa broker` process on the same --data directory.

let p: TestProvince;
let broker: SpawnedBroker | null = null;

test.before(async () => {
  p = await makeProvince();
  p.registry.close();
});
test.after(async () => {
  await broker?.stop('SIGKILL');
  cleanupTempDirs();
});

const dispatch = (url: string) => connect(url, { clientId: 'dispatch', username: 'dispatch', password: p.accounts.dispatch!.secret });
const consoleAcct = (url: string) => connect(url, { clientId: 'console', username: 'console', password: p.accounts.console!.secret });

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test(`retained target states and queued QoS1 messages survive a restart (${signal})`, async () => {
    broker = await spawnBroker(['--data', p.dir]);
    const body = `{"version":${signal === 'SIGTERM' ? 1 : 2}}`;
    const c = await consoleAcct(broker.url);
    await c.publishAsync(topics.target('t3a'), body, { qos: 1, retain: true });
    // t3b holds a persistent session and goes offline.
    const offline = await asDevice(broker.url, 't3b', p.devices.t3b!.secret, { clean: false });
    assert.equal(await subscribe(offline, [topics.zoneEmergency('qn/dak-ha')]), [1]);
    await endAll(offline);
    const d = await dispatch(broker.url);
    await d.publishAsync(topics.zoneEmergency('qn/dak-ha'), `queued-${signal}`, { qos: 1 });
    await endAll(c, d);
    // aedes sends PUBACK before it stores a QoS1 message for offline sessions
    // (lib/handlers/publish.js), so a crash within those milliseconds loses it;
    // docs/operations.md explains why end-to-end acks cover that. Here the
    // crash comes after the store.
    if (signal === 'SIGKILL') await sleep(300);

    const code = await broker.stop(signal);
    if (signal === 'SIGTERM') assert.is(code, 0, 'clean exit on SIGTERM');
    broker = await spawnBroker(['--data', p.dir]);

    const t3a = await asDevice(broker.url, 't3a', p.devices.t3a!.secret);
    const retained = nextMessage(t3a, topics.target('t3a'));
    await subscribe(t3a, [topics.target('t3a')]);
    const r = await retained;
    assert.is(r.payload.toString(), body);
    assert.ok(r.retain, 'delivered as retained');

    // The session resumes without subscribing again; the queued message arrives.
    const got: string[] = [];
    const back = await asDevice(broker.url, 't3b', p.devices.t3b!.secret, { clean: false }, (t, m) => got.push(`${t} ${m}`));
    await waitFor(() => got.length > 0, { what: 'queued message', timeoutMs: 5000 });
    assert.equal(got, [`${topics.zoneEmergency('qn/dak-ha')} queued-${signal}`]);
    await endAll(t3a, back);
    await broker.stop('SIGTERM');
    broker = null;
  });
}

test('a second broker on the same data directory refuses to start, saying why', async () => {
  broker = await spawnBroker(['--data', p.dir]);
  const second = await runLoa(['broker', '--data', p.dir, '--port', '0']);
  assert.is(second.code, 1);
  assert.match(second.stderr, /LOA_E_DATA_DIR: .*broker\.sqlite is in use by another broker process/);
  await broker.stop('SIGTERM');
  broker = null;
});

test.run();
