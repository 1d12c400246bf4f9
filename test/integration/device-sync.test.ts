import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { syncFixture, fileSha, type SyncFixture } from '../helpers/sync-fixture.js';
import { connect, endAll, subscribe } from '../helpers/mqtt.js';
import { cleanupTempDirs, waitFor } from '../helpers/tmp.js';
import { startProxy } from '../helpers/proxy.js';
import { topics } from '../../protocol/topics.js';
import { Signer, generateSigningKeyPair } from '../../protocol/signing.js';
import { DeviceState } from '../../protocol/payloads.js';
import type { Agent } from '../../device/agent.js';

let f: SyncFixture;

test.before(async () => {
  f = await syncFixture();
});
test.after(async () => {
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

test.run();
