import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { asDevice, connect, endAll, nextMessage, subscribe } from '../helpers/mqtt.js';
import { makeTestCerts } from '../helpers/tls.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AssetLibrary } from '../../provisioning/library.js';
import { Reports } from '../../provisioning/reports.js';
import { ProvinceServices } from '../../provisioning/province-services.js';
import { setTarget } from '../../provisioning/targets.js';
import { DeviceConfig } from '../../device/config.js';
import { Agent } from '../../device/agent.js';
import { silentLogger } from '../../lib/log.js';
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

test('a village agent syncs over TLS, trusting only the CA from its bundle', async () => {
  const port = b.broker.addresses.tls!.port;
  const library = new AssetLibrary(p.registry);
  const reports = new Reports(p.dir);
  const services = new ProvinceServices({ registry: p.registry, library, reports, broker: { url: `mqtts://127.0.0.1:${port}`, username: 'console', password: p.accounts.console!.secret, ca: certs.ca }, log: silentLogger() });
  await services.start();
  const asset = library.add(randomBytes(100_000), { title: 'Thông báo', mime: 'audio/ogg', durationMs: 10_000, actor: 'test' });
  const v = setTarget(p.registry, library, 't3b', { assets: [asset.sha256], reserve: [], programmes: [], rules: [] }, 'test');
  services.publishTargets();
  const bundle = p.devices.t3b!.bundle;
  const agent = new Agent({ config: DeviceConfig.parse({ ...bundle, broker: { ...bundle.broker, urls: [`mqtts://127.0.0.1:${port}`], ca: certs.ca }, data: join(tempDir(), 't3b'), agent: { audio: { output: 'null' } } }), log: silentLogger() });
  try {
    await agent.start();
    await waitFor(() => agent.store.target()?.version === v && agent.store.target()?.appliedAt, { timeoutMs: 15_000, what: 'applied over TLS' });
    assert.is(createHash('sha256').update(readFileSync(agent.files.path(asset.sha256))).digest('hex'), asset.sha256);
  } finally {
    await agent.stop();
    await services.stop();
    reports.close();
  }
});

test.run();
