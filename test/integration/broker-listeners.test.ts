import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { asDevice, connect, endAll, nextMessage, subscribe } from '../helpers/mqtt.js';
import { makeTestCerts } from '../helpers/tls.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { topics } from '../../protocol/topics.js';

let p: TestProvince;
let b: RunningBroker;
let certs: ReturnType<typeof makeTestCerts>;

test.before(async () => {
  p = await makeProvince();
  certs = makeTestCerts(tempDir('loa-tls-'));
  b = await startBroker(p.registry, p.dir, { config: { tls: { host: '127.0.0.1', port: 0, cert: certs.certFile, key: certs.keyFile }, ws: { host: '127.0.0.1', port: 0 } } });
});
test.after(async () => {
  await b.stop();
  p.registry.close();
  cleanupTempDirs();
});

test('a device connects over TLS with the provisioned CA; an untrusting client fails the handshake', async () => {
  const port = b.broker.addresses.tls!.port;
  const dev = await asDevice(`mqtts://127.0.0.1:${port}`, 't3a', p.devices.t3a!.secret, { ca: certs.ca, rejectUnauthorized: true });
  assert.equal(await subscribe(dev, [topics.target('t3a')]), [1]);
  const cons = await connect(b.url, { clientId: 'console', username: 'console', password: p.accounts.console!.secret });
  const got = nextMessage(dev, topics.target('t3a'));
  await cons.publishAsync(topics.target('t3a'), '{"v":1}', { qos: 1, retain: true });
  assert.is((await got).payload.toString(), '{"v":1}');
  await endAll(dev, cons);
  try {
    await asDevice(`mqtts://127.0.0.1:${port}`, 't3a', p.devices.t3a!.secret, { rejectUnauthorized: true });
    assert.unreachable('connected without trusting the CA');
  } catch (e) {
    assert.match(String(e), /self[- ]signed|unable to verify|certificate/i);
  }
});

test('a zone-scoped viewer watches telemetry over WebSocket with the same ACL', async () => {
  const port = b.broker.addresses.ws!.port;
  const v = await connect(`ws://127.0.0.1:${port}/mqtt`, { clientId: 'viewer-son-tay:browser', username: 'viewer-son-tay', password: p.accounts['viewer-son-tay']!.secret });
  assert.equal(await subscribe(v, ['loa/v1/d/+/telemetry', topics.target('l1a')]), [1, 128]);
  const dev = await asDevice(b.url, 'l1a', p.devices.l1a!.secret);
  const got = nextMessage(v, topics.telemetry('l1a'));
  await dev.publishAsync(topics.telemetry('l1a'), '{"t":1}', { qos: 0 });
  assert.is((await got).payload.toString(), '{"t":1}');
  await endAll(v, dev);
});

test.run();
