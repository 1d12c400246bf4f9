import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { syncFixture, fileSha, type SyncFixture } from '../helpers/sync-fixture.js';
import { connect, endAll, subscribe } from '../helpers/mqtt.js';
import { cleanupTempDirs, waitFor } from '../helpers/tmp.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { topics } from '../../protocol/topics.js';
import { Signer, generateSigningKeyPair } from '../../protocol/signing.js';
import { DeviceState, Telemetry } from '../../protocol/payloads.js';
import { Agent } from '../../device/agent.js';
import { ClockTrust } from '../../device/clock.js';
import { silentLogger } from '../../lib/log.js';

let f: SyncFixture;
const proxies: Proxy[] = [];
const proxy = async () => {
  const p = await startProxy(f.broker.port);
  proxies.push(p);
  return p;
};

test.before(async () => {
  f = await syncFixture();
});
test.after(async () => {
  for (const p of proxies) {
    p.cut();
    await p.close();
  }
  await f.stop();
  cleanupTempDirs();
});

const applied = (a: Agent, version: number) => waitFor(() => a.store.target()?.version === version && a.store.target()?.appliedAt, { timeoutMs: 20_000, what: `target ${version} applied` });

test('a device syncs a target with three assets and reports the applied version; the files match', async () => {
  const assets = [f.addAsset(300_000), f.addAsset(70_000), f.addAsset(150_001)];
  const watcher = await connect(f.broker.url, { clientId: 'console:watch', username: 'console', password: f.p.accounts.console!.secret });
  const states: DeviceState[] = [];
  watcher.on('message', (t, m) => t === topics.state('t3a') && states.push(DeviceState.parse(JSON.parse(m.toString()))));
  await subscribe(watcher, [topics.state('t3a')]);
  const v = f.setTarget('t3a', { assets: assets.map((a) => a.sha256) });
  const agent = f.agent('t3a');
  await agent.start();
  await applied(agent, v);
  for (const a of assets) assert.is(fileSha(agent.files.path(a.sha256)), a.sha256);
  assert.equal(agent.store.assets().map((a) => a.sha256).sort(), assets.map((a) => a.sha256).sort());
  await waitFor(() => states.some((s) => s.appliedVersion === v && s.sync === 'idle' && s.missingAssets === 0), { what: 'applied state at the province' });
  // Exactly the chunks needed were asked for: nothing was cut.
  const chunks = assets.reduce((n, a) => n + Math.ceil(a.size / 65536), 0);
  assert.is(agent.sync.requestsSent, chunks);
  // A new target dropping one asset deletes it from the device.
  const v2 = f.setTarget('t3a', { assets: [assets[0]!.sha256, assets[2]!.sha256] });
  await applied(agent, v2);
  assert.not.ok(agent.files.exists(assets[1]!.sha256));
  assert.is(agent.store.assets().length, 2);
  await agent.stop();
  await endAll(watcher);
});

test('a device whose store was wiped gets its target again although the broker kept its session', async () => {
  const asset = f.addAsset(20_000);
  const v = f.setTarget('l1a', { assets: [asset.sha256] });
  const first = f.agent('l1a');
  await first.start();
  await applied(first, v);
  await first.stop();
  // A new SD card: empty data directory, same device id and persistent session.
  const fresh = f.agent('l1a');
  await fresh.start();
  await applied(fresh, v);
  assert.is(fileSha(fresh.files.path(asset.sha256)), asset.sha256);
  await fresh.stop();
});

test('a link cut mid-transfer resumes; requests stay within chunk count + window', async () => {
  const asset = f.addAsset(1_500_000);
  const px = await proxy();
  px.throttle(400_000);
  const v = f.setTarget('t3b', { assets: [asset.sha256] });
  const agent = f.agent('t3b', { url: px.url });
  await agent.start();
  await waitFor(() => (agent.sync.current?.bytesDone ?? 0) > 400_000, { timeoutMs: 15_000, what: 'transfer under way' });
  px.cut();
  await waitFor(() => px.connections >= 2, { timeoutMs: 10_000, what: 'reconnect' });
  px.throttle(0);
  await applied(agent, v);
  assert.is(fileSha(agent.files.path(asset.sha256)), asset.sha256);
  const chunks = Math.ceil(asset.size / 65536);
  const window = agent.config.agent.window;
  assert.ok(agent.sync.requestsSent <= chunks + window, `${agent.sync.requestsSent} requests for ${chunks} chunks, window ${window}`);
  assert.ok(agent.sync.requestsSent >= chunks);
  await agent.stop();
});

test('a broker restart mid-transfer: the transfer resumes and completes', async () => {
  const asset = f.addAsset(1_200_000);
  const px = await proxy();
  px.throttle(300_000);
  const v = f.setTarget('t4a', { assets: [asset.sha256] });
  const agent = f.agent('t4a', { url: px.url });
  await agent.start();
  await waitFor(() => (agent.sync.current?.bytesDone ?? 0) > 300_000, { timeoutMs: 15_000, what: 'transfer under way' });
  await f.restartBroker();
  px.throttle(0);
  await applied(agent, v);
  assert.is(fileSha(agent.files.path(asset.sha256)), asset.sha256);
  const chunks = Math.ceil(asset.size / 65536);
  assert.ok(agent.sync.requestsSent <= chunks + agent.config.agent.window, `${agent.sync.requestsSent} requests for ${chunks} chunks`);
  await agent.stop();
});

test('a chunk damaged on the way is detected and fetched again', async () => {
  const asset = f.addAsset(400_000);
  const px = await proxy();
  px.corruptAfter('chunk/res', 30_000);
  const v = f.setTarget('l1a', { assets: [asset.sha256] });
  const agent = f.agent('l1a', { url: px.url });
  await agent.start();
  await applied(agent, v);
  assert.is(agent.sync.corruptChunks, 1);
  assert.is(fileSha(agent.files.path(asset.sha256)), asset.sha256);
  await agent.stop();
});

test('a target with a bad signature, a bad schema or another addressee is rejected; the old one stays', async () => {
  const asset = f.addAsset(10_000);
  const v = f.setTarget('t3b', { assets: [asset.sha256] });
  const agent = f.agent('t3b');
  await agent.start();
  await applied(agent, v);
  const cons = await connect(f.broker.url, { clientId: 'console:forger', username: 'console', password: f.p.accounts.console!.secret });
  const good = { device: 't3b', zone: 'qn/dak-ha/thon-3', version: v + 5, issuedAt: new Date().toISOString(), assets: [], programmes: [], rules: [] };
  const forger = new Signer(generateSigningKeyPair().privateKey);
  const real = new Signer(f.p.registry.readPrivateKey('console'));
  const cases: [string, unknown, RegExp][] = [
    ['forged', forger.sign('target', good), /not trusted|does not verify/],
    ['tampered', { ...real.sign('target', good), payload: { ...good, version: v + 6 } }, /does not verify/],
    ['bad schema', real.sign('target', { ...good, version: 0 }), /LOA_E_PAYLOAD_SCHEMA|version/],
    ['not JSON', null, /not valid JSON/],
    ['other device', real.sign('target', { ...good, device: 't3a' }), /addressed to t3a/],
  ];
  for (const [what, body, reason] of cases) {
    const rejected = once(agent, 'rejected');
    await cons.publishAsync(topics.target('t3b'), body === null ? '{oops' : JSON.stringify(body), { qos: 1, retain: true });
    const [err] = (await rejected) as [Error & { code: string }];
    assert.is(err.code, 'LOA_E_TARGET_REJECTED', what);
    assert.match(err.message, reason, what);
    assert.is(agent.store.target()!.version, v, `${what}: stored target unchanged`);
    assert.is(agent.target!.version, v);
    assert.is(agent.deviceState().lastError?.code, 'LOA_E_TARGET_REJECTED');
  }
  assert.ok(agent.files.exists(asset.sha256), 'assets of the old target kept');
  await endAll(cons);
  await agent.stop();
});

test('telemetry: a heartbeat on connect and on change; a full disk budget is reported, not silent', async () => {
  const small = f.addAsset(200_000);
  const large = f.addAsset(2_000_000);
  const v = f.setTarget('t4a', { assets: [small.sha256, large.sha256] });
  const watcher = await connect(f.broker.url, { clientId: 'console:tele', username: 'console', password: f.p.accounts.console!.secret });
  const seen: Telemetry[] = [];
  watcher.on('message', (t, m) => t === topics.telemetry('t4a') && seen.push(Telemetry.parse(JSON.parse(m.toString()))));
  await subscribe(watcher, [topics.telemetry('t4a'), topics.state('t4a')]);
  const agent = f.agent('t4a', { agent: { diskBudgetBytes: 1024 * 1024 + 100_000, emergencyReserveBytes: 0 } });
  await agent.start();
  await waitFor(() => agent.store.asset(small.sha256), { what: 'the asset that fits' });
  const full = await waitFor(() => seen.find((t) => t.disk.full), { what: 'telemetry with disk.full' });
  assert.is(full.agent, agent.telemetry().agent);
  assert.ok(full.disk.freeBytes > 0 && full.disk.budgetBytes === 1024 * 1024 + 100_000);
  assert.ok(full.uptimeSec >= 0);
  assert.equal(full.clock.source === 'ntp' || full.clock.source === 'none', true);
  assert.is(agent.deviceState().lastError?.code, 'LOA_E_DISK_BUDGET');
  assert.is(agent.store.target()!.appliedAt, null, 'not applied while an asset is missing');
  // The province drops the large asset: the target applies and telemetry says so at once.
  const v2 = f.setTarget('t4a', { assets: [small.sha256] });
  assert.ok(v2 > v);
  const t = await waitFor(() => seen.find((x) => x.appliedVersion === v2 && !x.disk.full), { what: 'telemetry after apply' });
  assert.is(t.disk.usedBytes, small.size);
  await endAll(watcher);
  await agent.stop();
});

test('a device without NTP or RTC gets the province\'s time within seconds of coming online, not at the next beacon period', async () => {
  // The periodic beacon went out when the services started (before this device was there) and comes again only after a minute.
  const clock = new ClockTrust({ wall: () => Date.now() - 30_000, mono: () => performance.now(), ntp: () => false, rtc: false, beaconTrustMs: 600_000, correctAboveMs: 2000 });
  const agent = new Agent({ config: f.deviceConfig('l1a'), log: silentLogger(), clock, relay: null });
  try {
    assert.is(clock.trusted, false);
    await agent.start();
    await waitFor(() => clock.trusted, { timeoutMs: 6000, what: 'the clock trusted from a beacon' });
    assert.is(clock.source, 'beacon');
    assert.ok(Math.abs(clock.now() - Date.now()) < 1000, `corrected to the province's time (off by ${clock.now() - Date.now()} ms)`);
  } finally {
    await agent.stop();
  }
});

test.run();
