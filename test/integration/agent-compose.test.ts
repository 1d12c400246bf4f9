import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from '../../device/agent.js';
import { DeviceConfig } from '../../device/config.js';
import { silentLogger } from '../../lib/log.js';
import { makeProvince } from '../helpers/province.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

// The agent's composition (STYLE.md, "Shape"): constructing stores the
// dependencies; start() is where the data directory, its lock and the store
// are opened.

test.after(() => cleanupTempDirs());

test('constructing agents touches nothing; start() takes the data directory, and a second start is refused', async () => {
  const p = await makeProvince({ devices: [['t3a', 'qn/dak-ha/thon-3']], accounts: [] });
  const data = join(tempDir('loa-compose-'), 't3a');
  const b = p.devices.t3a!.bundle;
  const config = DeviceConfig.parse({ ...b, broker: { ...b.broker, urls: ['mqtt://127.0.0.1:1'] }, data, agent: { audio: { output: 'null' }, relay: { driver: 'noop' } } });
  const one = new Agent({ config, log: silentLogger() });
  const two = new Agent({ config, log: silentLogger() });
  assert.not.ok(existsSync(data), 'no data directory made by a constructor');
  assert.throws(() => one.store, /not started/);
  await one.start();
  try {
    assert.ok(existsSync(join(data, 'device.sqlite')));
    assert.is(one.store.target(), null);
    try {
      await two.start();
      assert.unreachable('a second agent started on the same data directory');
    } catch (e) {
      assert.is((e as { code?: string }).code, 'LOA_E_DATA_LOCKED');
    }
  } finally {
    await one.stop();
    await two.stop();
    p.registry.close();
  }
});

test.run();
