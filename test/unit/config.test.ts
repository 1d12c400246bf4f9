import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, envLayer, readConfigFile } from '../../lib/config.js';
import { BrokerConfig, BROKER_ENV } from '../../broker/config.js';
import { isLoaError } from '../../protocol/errors.js';
import { tempDir, cleanupTempDirs } from '../helpers/tmp.js';

test('defaults, then file, then environment, then flags', () => {
  const dir = tempDir();
  const file = join(dir, 'broker.json');
  writeFileSync(file, JSON.stringify({ port: 1000, host: '0.0.0.0', limits: { drainTimeoutMs: 5 } }));
  const env = envLayer({ LOA_BROKER_PORT: '2000', LOA_BROKER_MAX_PACKET: '4096' }, BROKER_ENV);
  const c = buildConfig(BrokerConfig, [readConfigFile(file), env, { data: dir, port: 3000 }], 'broker');
  assert.is(c.port, 3000);
  assert.is(c.host, '0.0.0.0');
  assert.is(c.limits.maxPacketBytes, 4096);
  assert.is(c.limits.drainTimeoutMs, 5);
  assert.is(c.limits.queueLimit, 64, 'untouched defaults stay');
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.limits));
});

test('every problem is reported at once, with its path', () => {
  try {
    buildConfig(BrokerConfig, [{ data: '/x', port: 'abc', limits: { maxPacketBytes: 1 }, bogus: true }], 'broker');
    assert.unreachable();
  } catch (e) {
    assert.ok(isLoaError(e, 'LOA_E_CONFIG_INVALID'));
    const m = (e as Error).message;
    assert.match(m, /port/);
    assert.match(m, /limits\.maxPacketBytes/);
    assert.match(m, /bogus/);
  }
});

test('a missing or broken config file names the file', () => {
  const dir = tempDir();
  const f = join(dir, 'bad.json');
  writeFileSync(f, '{ nope');
  for (const p of [f, join(dir, 'missing.json')]) {
    try {
      readConfigFile(p);
      assert.unreachable();
    } catch (e) {
      assert.ok(isLoaError(e, 'LOA_E_CONFIG_INVALID'));
      assert.ok((e as Error).message.includes(p));
    }
  }
});

test.after(cleanupTempDirs);
test.run();
