import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deviceConfigFrom } from '../../cli/device.js';
import { main } from '../../cli/loa.js';
import { generateSigningKeyPair } from '../../protocol/signing.js';
import { BUNDLE_FORMAT } from '../../protocol/bundle.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

test.after(cleanupTempDirs);

const kp = generateSigningKeyPair();
const bundle = {
  format: BUNDLE_FORMAT,
  issuedAt: '2026-11-26T00:00:00.000Z',
  device: { id: 'thon-3-a', zone: 'qn/dak-ha/thon-3' },
  broker: { urls: ['mqtts://loa.example.vn:8883'], username: 'thon-3-a', password: 'x'.repeat(43), ca: null },
  keys: { console: [kp.publicKey], dispatch: [kp.publicKey] },
  panel: { passwordHash: 'scrypt$15$8$1$abcdefghijklmnopqrstuv$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq' },
};

const inv = (values: Record<string, unknown>, env: Record<string, string> = {}) => ({ values: values as never, positionals: [], io: { out: () => {}, err: () => {}, env } });

test('defaults < file < LOA_* environment < flags', () => {
  const dir = tempDir();
  const file = join(dir, 'b.json');
  writeFileSync(file, JSON.stringify({ ...bundle, data: '/from/file', agent: { heartbeatSec: 30, window: 8 } }));
  const a = deviceConfigFrom(inv({ config: file }, { HOME: dir }));
  assert.is(a.data, '/from/file', 'the file beats the default data directory');
  assert.is(a.agent.heartbeatSec, 30);
  assert.is(a.agent.keepaliveSec, 120, 'default');
  const b = deviceConfigFrom(inv({ config: file }, { LOA_DATA: '/from/env', LOA_DEVICE_HEARTBEAT_SEC: '45' }));
  assert.is(b.data, '/from/env');
  assert.is(b.agent.heartbeatSec, 45);
  assert.is(b.agent.window, 8);
  const c = deviceConfigFrom(inv({ config: file, data: '/from/flag', heartbeat: '90', broker: ['mqtt://10.0.0.1:1883'] }, { LOA_DATA: '/from/env' }));
  assert.is(c.data, '/from/flag');
  assert.is(c.agent.heartbeatSec, 90);
  assert.equal(c.broker.urls, ['mqtt://10.0.0.1:1883']);
  assert.ok(Object.isFrozen(c.agent));
});

test('a broken config prints every problem and exits non-zero', async () => {
  const dir = tempDir();
  const file = join(dir, 'b.json');
  writeFileSync(file, JSON.stringify({ ...bundle, device: { id: 'Bad Id', zone: 'qn' }, agent: { window: 0, bogus: 1 } }));
  const err: string[] = [];
  const code = await main(['device', '--config', file], { out: () => {}, err: (l) => err.push(l), env: { LOA_DATA: dir } });
  assert.is(code, 1);
  const text = err.join('\n');
  assert.match(text, /LOA_E_CONFIG_INVALID/);
  assert.match(text, /device\.id/);
  assert.match(text, /agent\.window/);
  assert.match(text, /bogus/);
  assert.match(text, /loa provision device rotate/, 'says how to fix it');
  const missing = await main(['device'], { out: () => {}, err: (l) => err.push(l), env: {} });
  assert.is(missing, 2);
});

test.run();
