import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { asDevice, connect, endAll, subscribe } from '../helpers/mqtt.js';
import { cleanupTempDirs, sleep, tempDir, waitFor } from '../helpers/tmp.js';
import { fileSha } from '../helpers/sync-fixture.js';
import { randomBytes } from 'node:crypto';
import { AssetLibrary } from '../../provisioning/library.js';
import { Reports } from '../../provisioning/reports.js';
import { ProvinceServices } from '../../provisioning/province-services.js';
import { setTarget } from '../../provisioning/targets.js';
import { mosquittoAcl } from '../../provisioning/mosquitto.js';
import { DeviceConfig } from '../../device/config.js';
import { Agent } from '../../device/agent.js';
import { silentLogger } from '../../lib/log.js';
import { topics } from '../../protocol/topics.js';

// The agent and the province services run unchanged against Debian's
// Mosquitto with a password file and the ACL generated from the contract.

let p: TestProvince;
let m: Mosquitto;
let services: ProvinceServices;
let reports: Reports;
let agent: Agent | null = null;

test.before(async () => {
  p = await makeProvince();
  const users: Record<string, string> = { console: p.accounts.console!.secret };
  for (const [id, d] of Object.entries(p.devices)) users[id] = d.secret;
  m = await startMosquitto(tempDir('loa-mosq-'), users, mosquittoAcl(p.registry));
  reports = new Reports(p.dir);
  services = new ProvinceServices({ registry: p.registry, library: new AssetLibrary(p.registry), reports, broker: { url: m.url, username: 'console', password: users.console! }, log: silentLogger(), pollMs: 100 });
  await services.start();
});
test.after(async () => {
  await agent?.stop();
  await services.stop();
  await m.stop();
  reports.close();
  p.registry.close();
  cleanupTempDirs();
});

test('Mosquitto enforces the generated ACL', async () => {
  // Mosquitto 2.0 grants a subscription it may not serve and then withholds
  // the messages, so the check is on what arrives.
  const got: string[] = [];
  const c = await asDevice(m.url, 't3a', p.devices.t3a!.secret, {}, (t) => got.push(t));
  await subscribe(c, [topics.target('t3a'), topics.target('t3b'), '#']);
  const cons = await connect(m.url, { clientId: 'console:acl', username: 'console', password: p.accounts.console!.secret });
  await cons.publishAsync(topics.logAck('t3b'), '{}', { qos: 1 });
  await cons.publishAsync(topics.logAck('t3a'), '{}', { qos: 1 });
  await waitFor(() => got.includes(topics.logAck('t3a')), { what: 'own message' });
  await sleep(200);
  assert.equal([...new Set(got)], [topics.logAck('t3a')]);
  // A device may not publish where it may not: Mosquitto drops the message.
  const seen: string[] = [];
  cons.on('message', (t) => seen.push(t));
  await subscribe(cons, ['loa/v1/emergency/#', topics.status('t3a')]);
  await c.publishAsync(topics.zoneEmergency('qn'), '{}', { qos: 1 });
  await c.publishAsync(topics.status('t3a'), '{"state":"online"}', { qos: 1 });
  await waitFor(() => seen.includes(topics.status('t3a')), { what: 'allowed publish' });
  await sleep(200);
  assert.not.ok(seen.includes(topics.zoneEmergency('qn')));
  await endAll(c, cons);
});

test('an agent syncs through Mosquitto and its play log reaches the province', async () => {
  const lib = new AssetLibrary(p.registry);
  const assets = [lib.add(randomBytes(250_000), { title: 'Thông báo', mime: 'audio/ogg', durationMs: 60_000, actor: 'test' }), lib.add(randomBytes(90_000), { title: 'Nhạc hiệu', mime: 'audio/ogg', durationMs: 20_000, actor: 'test' })];
  const v = setTarget(p.registry, lib, 't3a', { assets: assets.map((a) => a.sha256), reserve: [], programmes: [], rules: [] }, 'test');
  services.publishTargets();
  const b = p.devices.t3a!.bundle;
  agent = new Agent({ config: DeviceConfig.parse({ ...b, broker: { ...b.broker, urls: [m.url] }, data: join(tempDir(), 't3a'), agent: { audio: { output: 'null' }, responseTimeoutMs: 1500, logAckTimeoutMs: 2000 } }), log: silentLogger() });
  await agent.start();
  await waitFor(() => agent!.store.target()?.appliedAt && agent!.store.target()?.version === v, { timeoutMs: 20_000, what: 'applied through mosquitto' });
  for (const a of assets) assert.is(fileSha(agent.files.path(a.sha256)), a.sha256);
  agent.record('play', { outcome: 'played', level: 'normal', source: 'programme', title: 'Thông báo', start: new Date().toISOString(), volume: 60 });
  await waitFor(() => reports.count('t3a', 'play') === 1 && agent!.store.outboxSize() === 0, { what: 'play log stored and acknowledged' });
});

test.run();
