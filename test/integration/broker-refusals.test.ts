import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect as netConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { asDevice, connect, endAll, nextMessage, subscribe } from '../helpers/mqtt.js';
import { captureLog, type CapturedLog } from '../helpers/logs.js';
import { cleanupTempDirs, waitFor } from '../helpers/tmp.js';
import { topics } from '../../protocol/topics.js';

// Keepalive as MQTT 3.1.1 defines it (MQTT-3.1.2-24: 0 turns it off), and
// one log line with a reason for every connection the broker refuses or ends
// (docs/operations.md, "Logs"). Each case speaks raw MQTT over TCP, reads the
// bytes the broker answers, and finds the line by the socket's port. Every
// case gets its own broker, so the refusal log's throttle (20 lines per 10 s)
// never hides a line.

let p: TestProvince;
// uvu swallows an exception thrown in test.before, so the province is made lazily.
let fixture: Promise<void> | null = null;
const setup = () => (fixture ??= makeProvince().then((x) => void (p = x)));
const running = new Set<RunningBroker>();

test.after(async () => {
  for (const b of running) await b.stop();
  p?.registry.close();
  cleanupTempDirs();
});

async function broker(limits: Record<string, unknown> = {}): Promise<{ b: RunningBroker; logs: CapturedLog }> {
  await setup();
  const logs = captureLog();
  const b = await startBroker(p.registry, p.dir, { log: logs.log, config: { limits } });
  running.add(b);
  return { b, logs };
}

async function done(b: RunningBroker): Promise<void> {
  running.delete(b);
  await b.stop();
}

interface Raw {
  sock: Socket;
  port: number;
  /** Every byte the broker sent so far. */
  received(): Buffer;
  closed: Promise<void>;
  isClosed(): boolean;
  send(packet: object): void;
}

function raw(b: RunningBroker): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const sock = netConnect(b.port, '127.0.0.1', () => {
      let got = Buffer.alloc(0);
      let isClosed = false;
      sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
      const closed = new Promise<void>((r) => sock.once('close', () => r()));
      void closed.then(() => (isClosed = true));
      resolve({ sock, port: sock.localPort!, received: () => got, closed, isClosed: () => isClosed, send: (pk) => sock.write(mqttPacket.generate(pk as never)) });
    });
    sock.on('error', reject);
  });
}

const connectPacket = (id: string, secret: string, keepalive: number, extra: Record<string, unknown> = {}) => ({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, keepalive, username: id, password: Buffer.from(secret), ...extra });
const t3a = (keepalive = 60, extra: Record<string, unknown> = {}) => connectPacket('t3a', p.devices.t3a!.secret, keepalive, extra);

/** CONNACK as MQTT 3.1.1 puts it on the wire: 0x20, length 2, session present 0, return code. */
const CONNACK = (returnCode: number) => [0x20, 0x02, 0x00, returnCode];

async function connack(r: Raw): Promise<number[]> {
  await waitFor(() => r.received().length >= 4 || r.isClosed(), { what: 'CONNACK' });
  return [...r.received().subarray(0, 4)];
}

/** The one log line about this socket that carries `reason`. */
async function lineFor(logs: CapturedLog, r: Raw, reason: string | RegExp, level = 40): Promise<Record<string, unknown>> {
  const matches = (l: Record<string, unknown>) => String(l.remote).endsWith(`:${r.port}`) && (typeof reason === 'string' ? l.reason === reason : reason.test(String(l.reason)));
  const l = await waitFor(() => logs.find(matches), { what: `a log line with reason ${reason} for port ${r.port}; got ${JSON.stringify(logs.lines.filter((x) => String(x.remote).endsWith(`:${r.port}`)))}` });
  assert.is(logs.lines.filter(matches).length, 1, 'one line');
  assert.is(l.level, level, 'log level');
  return l;
}

const levels = (n: number) => ['loa', 'v1', ...Array.from({ length: n - 2 }, (_, i) => `l${i}`)].join('/');

// ------------------------------------------------------------ keepalive

test('a raw CONNECT with keepalive 0 gets CONNACK 0 (accepted), and the connection serves', async () => {
  const { b } = await broker();
  const r = await raw(b);
  r.send(t3a(0));
  assert.equal(await connack(r), CONNACK(0));
  r.send({ cmd: 'pingreq' });
  await waitFor(() => r.received().length >= 6, { what: 'PINGRESP' });
  assert.equal([...r.received().subarray(4, 6)], [0xd0, 0x00]);
  r.sock.destroy();
  await done(b);
});

test('a keepalive above the limit gets CONNACK 5 (a return code 3.1.1 defines), the socket is closed, and the refusal is logged with its reason', async () => {
  const { b, logs } = await broker({ keepaliveLimitSec: 60 });
  const atLimit = await raw(b);
  atLimit.send(t3a(60));
  assert.equal(await connack(atLimit), CONNACK(0), 'the limit itself is allowed');
  atLimit.sock.destroy();

  const r = await raw(b);
  r.send(connectPacket('t3b', p.devices.t3b!.secret, 61));
  assert.equal(await connack(r), CONNACK(5));
  await r.closed;
  const l = await lineFor(logs, r, /keepalive of 61 s exceeds the broker's limit of 60 s/);
  assert.is(l.msg, 'connection refused');
  assert.is(l.clientId, 't3b');
  assert.is(l.returnCode, 5);
  assert.is(l.keepalive, 61);
  assert.is(l.keepaliveLimitSec, 60);
  await done(b);
});

test('mqtt.js with keepalive 0 connects, subscribes and receives', async () => {
  const { b } = await broker();
  const dev = await asDevice(b.url, 't3a', p.devices.t3a!.secret, { keepalive: 0 });
  await subscribe(dev, [topics.zoneEmergency('qn')]);
  const d = await connect(b.url, { clientId: 'dispatch', username: 'dispatch', password: p.accounts.dispatch!.secret });
  const got = nextMessage(dev, topics.zoneEmergency('qn'));
  await d.publishAsync(topics.zoneEmergency('qn'), 'k0', { qos: 1 });
  assert.is((await got).payload.toString(), 'k0');
  await endAll(dev, d);
  await done(b);
});

test('a keepalive 0 connection with no traffic either way is closed after the idle timeout, and that is logged', async () => {
  const { b, logs } = await broker({ idleTimeoutSec: 1 });
  const r = await raw(b);
  // The idle time counts from the broker's last write (its CONNACK), which comes after this instant and before the client reads it.
  const since = Date.now();
  r.send(t3a(0));
  assert.equal(await connack(r), CONNACK(0));
  await r.closed;
  // Node's timers never fire early by more than their 1 ms rounding.
  assert.ok(Date.now() - since >= 990, `closed after ${Date.now() - since} ms`);
  const l = await lineFor(logs, r, 'idle');
  assert.is(l.clientId, 't3a');
  assert.is(l.idleTimeoutSec, 1);
  await done(b);
});

test('a client silent for 1.5 times its keepalive is disconnected, and that is logged', async () => {
  const { b, logs } = await broker();
  const r = await raw(b);
  r.send(t3a(1));
  assert.equal(await connack(r), CONNACK(0));
  await r.closed;
  const l = await lineFor(logs, r, 'keepalive-timeout');
  assert.is(l.clientId, 't3a');
  assert.is(l.keepalive, 1);
  await done(b);
});

// ------------------------------------------------------------ every refusal writes its line

test('a PUBLISH on a topic deeper than maxTopicLevels disconnects the client, and that is logged', async () => {
  const { b, logs } = await broker();
  const r = await raw(b);
  r.send(t3a());
  assert.equal(await connack(r), CONNACK(0));
  r.send({ cmd: 'publish', topic: levels(20), payload: 'x', qos: 0 });
  await r.closed;
  const l = await lineFor(logs, r, 'topic-too-deep');
  assert.is(l.clientId, 't3a');
  assert.is(l.maxTopicLevels, 14);
  await done(b);
});

test('a SUBSCRIBE to a filter deeper than maxTopicLevels disconnects the client, and that is logged', async () => {
  const { b, logs } = await broker();
  const r = await raw(b);
  r.send(t3a());
  assert.equal(await connack(r), CONNACK(0));
  r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: levels(20), qos: 0 }] });
  await r.closed;
  assert.is((await lineFor(logs, r, 'topic-too-deep')).clientId, 't3a');
  await done(b);
});

test('a PUBLISH to a wildcard topic disconnects the client, and that is logged', async () => {
  const { b, logs } = await broker();
  const r = await raw(b);
  r.send(t3a());
  assert.equal(await connack(r), CONNACK(0));
  r.send({ cmd: 'publish', topic: 'loa/v1/d/+/status', payload: 'x', qos: 0 });
  await r.closed;
  assert.match(String((await lineFor(logs, r, 'invalid-topic')).detail), /\+ is not allowed in PUBLISH/);
  await done(b);
});

test('a socket that sends no CONNECT in time is closed, and that is logged', async () => {
  const { b, logs } = await broker({ connectTimeoutMs: 500 });
  const r = await raw(b);
  await r.closed;
  assert.is((await lineFor(logs, r, 'connect-timeout')).connectTimeoutMs, 500);
  await done(b);
});

test('a second CONNECT on a connected socket ends it (MQTT-3.1.0-2), and that is logged', async () => {
  const { b, logs } = await broker();
  const r = await raw(b);
  r.send(t3a());
  assert.equal(await connack(r), CONNACK(0));
  r.send(t3a());
  await r.closed;
  assert.is((await lineFor(logs, r, 'second-connect')).clientId, 't3a');
  await done(b);
});

test('a CONNECT for a protocol version the broker does not speak gets CONNACK 1, and that is logged', async () => {
  const { b, logs } = await broker();
  const r = await raw(b);
  r.send(t3a(60, { protocolVersion: 5 }));
  await r.closed;
  assert.is((await lineFor(logs, r, 'connect-refused')).returnCode, 1);
  await done(b);
});

test('bytes that are not MQTT after a CONNECT header end the connection, and that is logged', async () => {
  const { b, logs } = await broker();
  const r = await raw(b);
  // A CONNECT (first byte 0x10) whose protocol name is "MQTX".
  r.sock.write(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x58, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00]));
  await r.closed;
  assert.match(String((await lineFor(logs, r, 'protocol-error')).detail), /protocol/i);
  await done(b);
});

test('a first packet that is not CONNECT is logged with its reason', async () => {
  const { b, logs } = await broker();
  const r = await raw(b);
  r.send({ cmd: 'pingreq' });
  await r.closed;
  assert.is((await lineFor(logs, r, 'not-connect')).violation, 'not-connect');
  await done(b);
});

test('more packets than queueLimit before the CONNACK disconnect the client, and that is logged', async () => {
  const { b, logs } = await broker({ queueLimit: 4 });
  const r = await raw(b);
  const ping = mqttPacket.generate({ cmd: 'pingreq' } as never);
  r.sock.write(Buffer.concat([mqttPacket.generate(t3a() as never), ...Array.from({ length: 10 }, () => ping)]));
  await r.closed;
  assert.ok(await lineFor(logs, r, 'queue-limit'));
  await done(b);
});

test('more QoS 2 messages awaiting PUBREL than maxInflightInbound disconnect the client, and that is logged', async () => {
  const { b, logs } = await broker({ maxInflightInbound: 2 });
  const r = await raw(b);
  r.send(t3a());
  assert.equal(await connack(r), CONNACK(0));
  for (let id = 1; id <= 3; id++) r.send({ cmd: 'publish', topic: topics.telemetry('t3a'), payload: '{}', qos: 2, messageId: id });
  await r.closed;
  assert.match(String((await lineFor(logs, r, 'inflight-limit')).detail), /maxInflightInbound exceeded: 2/);
  await done(b);
});

test('a connection that takes over a session closes the earlier one, and that is logged', async () => {
  const { b, logs } = await broker();
  const first = await raw(b);
  first.send(t3a());
  assert.equal(await connack(first), CONNACK(0));
  const second = await raw(b);
  second.send(t3a());
  assert.equal(await connack(second), CONNACK(0));
  await first.closed;
  const l = await lineFor(logs, second, 'session-taken-over', 30);
  assert.is(l.clientId, 't3a');
  second.sock.destroy();
  await done(b);
});

test.run();
