import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { asDevice, connect, closedWithin, endAll, subscribe } from '../helpers/mqtt.js';
import { captureLog, type CapturedLog } from '../helpers/logs.js';
import { cleanupTempDirs, waitFor } from '../helpers/tmp.js';
import { topics } from '../../protocol/topics.js';
import { Registry } from '../../provisioning/registry.js';

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

async function refusedWith(promise: Promise<unknown>, code: number): Promise<void> {
  try {
    const c = await promise;
    await endAll(c as never);
    assert.unreachable('connected');
  } catch (e) {
    assert.is((e as { code?: number }).code, code, String(e));
  }
}

const refusal = (reason: RegExp) => waitFor(() => logs.find((l) => l.msg === 'connection refused' && reason.test(String(l.reason))), { what: `refusal log ${reason}` });

test('a provisioned device connects and can subscribe to its target', async () => {
  const c = await asDevice(b.url, 't3a', p.devices.t3a!.secret);
  assert.equal(await subscribe(c, [topics.target('t3a')]), [1]);
  await endAll(c);
});

test('a wrong secret is refused (CONNACK 4) and logged with the reason', async () => {
  await refusedWith(asDevice(b.url, 't3a', 'not-the-secret-at-all'), 4);
  const l = await refusal(/wrong secret/);
  assert.is(l.clientId, 't3a');
});

test('an unknown user, a missing username and forbidden id characters are refused', async () => {
  await refusedWith(connect(b.url, { clientId: 'ghost', username: 'ghost', password: 'x'.repeat(20) }), 4);
  await refusedWith(connect(b.url, { clientId: 'anon' }), 5);
  await refusedWith(connect(b.url, { clientId: 't3a/../t3b', username: 't3a', password: p.devices.t3a!.secret }), 2);
  await refusedWith(connect(b.url, { clientId: 't3b', username: 't3a', password: p.devices.t3a!.secret }), 2);
  await refusal(/client id "t3b" must equal the device id "t3a"/);
  await refusal(/contains \+, #, \/ or NUL/);
});

test('a revoked device is refused, and its live connection is closed', async () => {
  const live = await asDevice(b.url, 't4a', p.devices.t4a!.secret);
  // Revoke through a second connection to the registry file, as `loa provision device revoke` does.
  const other = Registry.open(p.dir, { scryptLogN: 12 });
  other.revokeDevice('t4a');
  other.close();
  assert.ok(await closedWithin(live, 3000), 'live session closed');
  await refusedWith(asDevice(b.url, 't4a', p.devices.t4a!.secret), 5);
  await refusal(/device is revoked/);
  await endAll(live);
});

test('after a rotation the old secret is refused at once and the new one works', async () => {
  const old = p.devices.l1a!.secret;
  const live = await asDevice(b.url, 'l1a', old);
  const other = Registry.open(p.dir, { scryptLogN: 12 });
  const { secret } = await other.rotateDevice('l1a');
  other.close();
  // The session that logged in with the rotated-away secret is closed by the registry watch.
  assert.ok(await closedWithin(live, 3000), 'old session closed');
  assert.ok(logs.find((l) => l.msg === 'credentials revoked or rotated: disconnecting' && l.clientId === 'l1a'));
  await refusedWith(asDevice(b.url, 'l1a', old), 4);
  const fresh = await asDevice(b.url, 'l1a', secret);
  assert.ok(fresh.connected);
  await endAll(live, fresh);
});

test('a will on a topic the device may not publish is refused at CONNECT', async () => {
  await refusedWith(asDevice(b.url, 't3b', p.devices.t3b!.secret, { will: { topic: topics.zoneEmergency('qn'), payload: Buffer.from('x'), qos: 1, retain: false } }), 5);
  await waitFor(() => logs.find((l) => l.msg === 'connection refused: will not allowed'), { what: 'will refusal log' });
  const ok = await asDevice(b.url, 't3b', p.devices.t3b!.secret, { will: { topic: topics.status('t3b'), payload: Buffer.from('{"state":"offline","reason":"will"}'), qos: 1, retain: true } });
  await endAll(ok);
});

test.run();
