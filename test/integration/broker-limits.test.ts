import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect as netConnect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import mqttPacket from 'mqtt-packet';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { asDevice, connect, endAll, nextMessage, subscribe } from '../helpers/mqtt.js';
import { captureLog, type CapturedLog } from '../helpers/logs.js';
import { cleanupTempDirs, waitFor } from '../helpers/tmp.js';
import { topics } from '../../protocol/topics.js';

let p: TestProvince;
let b: RunningBroker;
let logs: CapturedLog;
const MAX_PACKET = 256 * 1024;

test.before(async () => {
  p = await makeProvince();
  logs = captureLog();
  b = await startBroker(p.registry, p.dir, {
    log: logs.log,
    // Rate limits high enough that all the junk below reaches the protocol guard and parser.
    config: { limits: { maxPacketBytes: MAX_PACKET, connectTimeoutMs: 700, connectRate: { globalPerSec: 5000, globalBurst: 5000, perAddressPerSec: 5000, perAddressBurst: 5000 } } },
  });
});
test.after(async () => {
  await b.stop();
  p.registry.close();
  cleanupTempDirs();
});

/** Publishes from dispatch and checks a device receives it: the broker still serves. */
async function stillServes(tag: string): Promise<void> {
  const dev = await asDevice(b.url, 't3a', p.devices.t3a!.secret);
  await subscribe(dev, [topics.zoneEmergency('qn')]);
  const d = await connect(b.url, { clientId: 'dispatch', username: 'dispatch', password: p.accounts.dispatch!.secret });
  const got = nextMessage(dev, topics.zoneEmergency('qn'));
  await d.publishAsync(topics.zoneEmergency('qn'), tag, { qos: 1 });
  assert.is((await got).payload.toString(), tag);
  await endAll(dev, d);
}

function rawSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(b.port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

test('an oversized PUBLISH ends the connection at its header, before the payload is buffered', async () => {
  const s = await rawSocket();
  s.on('error', () => {});
  const connack = new Promise<Buffer>((resolve) => s.once('data', resolve));
  s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 't3b', keepalive: 60, username: 't3b', password: Buffer.from(p.devices.t3b!.secret) } as never));
  assert.is((await connack)[3], 0, 'CONNACK accepted');
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  // Fixed header of a PUBLISH announcing 100 MB, then payload bytes in 64 KiB pieces.
  const announced = 100 * 1024 * 1024;
  const len: number[] = [];
  let x = announced;
  do {
    let byte = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) byte |= 0x80;
    len.push(byte);
  } while (x > 0);
  s.write(Buffer.from([0x30, ...len]));
  let sent = 0;
  const piece = Buffer.alloc(64 * 1024, 0x41);
  let isClosed = false;
  void closed.then(() => (isClosed = true));
  while (!isClosed && sent < announced) {
    if (!s.write(piece)) await new Promise((r) => setTimeout(r, 5));
    sent += piece.length;
    if (sent % (1024 * 1024) === 0) await new Promise((r) => setImmediate(r));
  }
  await closed;
  assert.ok(sent < 16 * 1024 * 1024, `closed after ${sent} payload bytes of ${announced}`);
  const l = await waitFor(() => logs.find((x) => x.violation === 'packet-too-large'), { what: 'violation log' });
  assert.is(l.max, MAX_PACKET);
  assert.is(l.size, announced + 1 + len.length);
  await stillServes('after-oversize');
});

test('1,000 random-byte connections leave the broker serving other clients', async () => {
  const before = b.broker.connectedClients;
  let closedCount = 0;
  for (let batch = 0; batch < 4; batch++) {
    await Promise.all(
      Array.from({ length: 250 }, async (_, i) => {
        const s = await rawSocket();
        s.on('error', () => {});
        const junk = randomBytes(1 + Math.floor(Math.random() * 3000));
        // Half of them claim to be a CONNECT, so aedes' own parser meets the garbage too.
        if (i % 2 === 0) junk[0] = 0x10;
        s.write(junk);
        await new Promise<void>((resolve) => {
          s.once('close', () => {
            closedCount++;
            resolve();
          });
          // Whatever the broker does not close, the connect timeout (700 ms here) must.
          setTimeout(() => resolve(), 5000);
        });
        s.destroy();
      }),
    );
  }
  assert.is(closedCount, 1000, 'the broker closed every junk connection itself');
  await stillServes('after-junk');
  assert.is(b.broker.connectedClients, before);
});

test('a socket that never sends CONNECT is closed after the connect timeout', async () => {
  const s = await rawSocket();
  const t0 = Date.now();
  await new Promise<void>((resolve) => s.once('close', () => resolve()));
  const waited = Date.now() - t0;
  assert.ok(waited >= 500 && waited < 4000, `closed after ${waited} ms`);
});

test('a persistent session keeps at most sessionQueueMax QoS 1 messages while offline', async () => {
  const b3 = await startBroker(p.registry, p.dir + '/b3', { config: { limits: { sessionQueueMax: 20 } } });
  try {
    const dev = await asDevice(b3.url, 'l1a', p.devices.l1a!.secret, { clean: false });
    await subscribe(dev, [topics.zoneEmergency('qn/son-tay')]);
    await endAll(dev);
    const d = await connect(b3.url, { clientId: 'dispatch', username: 'dispatch', password: p.accounts.dispatch!.secret });
    for (let i = 0; i < 50; i++) await d.publishAsync(topics.zoneEmergency('qn/son-tay'), `m${i}`, { qos: 1 });
    await endAll(d);
    assert.is(b3.broker.queueStats.dropped, 30);
    const got: string[] = [];
    const back = await asDevice(b3.url, 'l1a', p.devices.l1a!.secret, { clean: false }, (_t, m) => got.push(m.toString()));
    await waitFor(() => got.length >= 20, { what: 'queued messages' });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(got, Array.from({ length: 20 }, (_, i) => `m${i}`), 'the oldest 20 kept, in order');
    await endAll(back);
  } finally {
    await b3.stop();
  }
});

test('a subscriber that stops reading its socket is disconnected after drainTimeout, and others keep receiving', async () => {
  const dlog = captureLog();
  const b4 = await startBroker(p.registry, p.dir + '/b4', { log: dlog.log, config: { limits: { drainTimeoutMs: 500 } } });
  try {
    // A device that subscribes and then never reads again: a frozen 3G modem.
    const s = await new Promise<Socket>((resolve, reject) => {
      const x = netConnect(b4.port, '127.0.0.1', () => resolve(x));
      x.on('error', reject);
    });
    s.on('error', () => {});
    s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 't4a', keepalive: 600, username: 't4a', password: Buffer.from(p.devices.t4a!.secret) } as never));
    s.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: topics.zoneEmergency('qn/dak-ha'), qos: 0 }] } as never));
    await new Promise((r) => setTimeout(r, 200));
    s.pause();
    const healthy = await asDevice(b4.url, 't3a', p.devices.t3a!.secret);
    await subscribe(healthy, [topics.zoneEmergency('qn/dak-ha')]);
    let got = 0;
    healthy.on('message', () => got++);
    const d = await connect(b4.url, { clientId: 'dispatch', username: 'dispatch', password: p.accounts.dispatch!.secret });
    // Enough to fill the frozen socket's kernel buffers (several MB on loopback) many times over.
    const big = Buffer.alloc(30 * 1024, 0x61);
    const N = 1500;
    for (let i = 0; i < N; i++) d.publish(topics.zoneEmergency('qn/dak-ha'), big, { qos: 0 });
    // A paused socket does not see the close itself; the broker says why it dropped it.
    await waitFor(() => dlog.find((l) => l.clientId === 't4a' && String(l.msg).startsWith('slow consumer disconnected')), { timeoutMs: 15_000, what: 'the frozen subscriber disconnected' });
    await waitFor(() => got === N, { timeoutMs: 15_000, what: `healthy subscriber got ${got} of ${N}` });
    await endAll(healthy, d);
  } finally {
    await b4.stop();
  }
});

test('connections beyond the per-address rate are refused at accept and logged', async () => {
  const log2 = captureLog();
  const b2 = await startBroker(p.registry, p.dir + '/b2', { log: log2.log, config: { limits: { connectRate: { globalPerSec: 1000, globalBurst: 1000, perAddressPerSec: 2, perAddressBurst: 5 } } } });
  try {
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => asDevice(b2.url, 't4a', p.devices.t4a!.secret)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    assert.ok(ok.length >= 1 && ok.length <= 6, `${ok.length} of 12 admitted`);
    await endAll(...ok.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof asDevice>>>).value));
    assert.ok(log2.find((l) => l.reason === 'rate-address'));
    // Tokens come back: a device retrying a second later gets in.
    await new Promise((r) => setTimeout(r, 1100));
    await endAll(await asDevice(b2.url, 't4a', p.devices.t4a!.secret));
  } finally {
    await b2.stop();
  }
});

test.run();
