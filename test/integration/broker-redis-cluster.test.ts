import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { MqttClient } from 'mqtt';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { asDevice, closedWithin, connect, endAll, nextMessage, subscribe } from '../helpers/mqtt.js';
import { cleanupTempDirs, sleep, tempDir } from '../helpers/tmp.js';
import { topics, deviceSubscriptions } from '../../protocol/topics.js';

// Acceptance: two `loa broker` processes sharing a real redis-server (started
// here) serve one province: a message published through one is delivered to a
// subscriber on the other, and a retained message stored through one is
// served by the other. Both brokers read the same provisioned registry.

const LOA_BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'loa.js');

interface Proc {
  name: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<void>;
}

const procs: Proc[] = [];
const clients: MqttClient[] = [];

// Whatever happens (a failed assertion, a throw in a hook, an early exit), no child outlives this file.
process.on('exit', () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});

function run(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (e) => {
      out += `\n[spawn error] ${e.message}\n`;
      resolve();
    });
  });
  const p: Proc = { name, child, output: () => out, exited };
  procs.push(p);
  return p;
}

const gone = (p: Proc) => p.child.exitCode !== null || p.child.signalCode !== null;

/** SIGTERM, then SIGKILL if it has not exited in time; resolves once it is gone. */
async function stop(p: Proc, graceMs = 5000): Promise<void> {
  if (gone(p)) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(t);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Polls `check` until it returns a value; unlike waitFor, stops at once when
 * the process it watches has exited, with that process's output.
 */
async function untilReady<T>(proc: Proc, what: string, timeoutMs: number, check: () => Promise<T | null> | T | null): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let v: T | null = null;
    try {
      v = await check();
    } catch {
      v = null; // not ready yet (for instance, connection refused)
    }
    if (v !== null) return v;
    if (gone(proc)) throw new Error(`${proc.name} exited (${proc.child.exitCode ?? proc.child.signalCode}) before ${what}:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`${proc.name}: no ${what} within ${timeoutMs} ms:\n${proc.output()}`);
    await sleep(25);
  }
}

async function ping(port: number): Promise<true | null> {
  const r = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG' ? true : null;
  } finally {
    r.disconnect();
  }
}

async function startRedis(dir: string): Promise<{ proc: Proc; url: string }> {
  // Binding a socket to port 0 and closing it leaves a window for someone else to take the port: retry then.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = run(`redis-server:${port}`, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning']);
    try {
      await untilReady(proc, 'an answer to PING', 5000, () => ping(port));
      return { proc, url: `redis://127.0.0.1:${port}` };
    } catch (e) {
      await stop(proc, 1000);
      if (attempt >= 3) throw e;
    }
  }
}

/** Runs the real `loa broker` CLI on a free port and learns the port from its "broker listening" log line. */
async function startBrokerProcess(name: string, dataDir: string, redisUrl: string, timeoutMs = 15_000): Promise<{ proc: Proc; port: number; url: string; listening: Record<string, unknown> }> {
  const proc = run(name, process.execPath, ['--enable-source-maps', LOA_BIN, 'broker', '--data', dataDir, '--port', '0', '--redis', redisUrl], { ...process.env, LOA_LOG_LEVEL: 'info' });
  let listening: Record<string, unknown>;
  try {
    listening = await untilReady(proc, 'a "broker listening" log line', timeoutMs, () => {
      for (const line of proc.output().split('\n')) {
        if (!line.includes('"broker listening"')) continue;
        const l = JSON.parse(line) as Record<string, unknown>;
        if (l.msg === 'broker listening') return l;
      }
      return null;
    });
  } catch (e) {
    await stop(proc, 1000);
    throw e;
  }
  const m = /^127\.0\.0\.1:(\d+)$/.exec(String(listening.tcp));
  if (!m) throw new Error(`unexpected tcp address in ${JSON.stringify(listening)}`);
  const port = Number(m[1]);
  return { proc, port, url: `mqtt://127.0.0.1:${port}`, listening };
}

// ------------------------------------------------------------ fixture

let p: TestProvince;
let redisUrl: string;
let A: Awaited<ReturnType<typeof startBrokerProcess>>;
let B: Awaited<ReturnType<typeof startBrokerProcess>>;
// uvu swallows an exception thrown in test.before (and reports 0 tests run as
// a success), so setup runs once, lazily, and every test awaits it.
let fixture: Promise<void> | null = null;

function setup(): Promise<void> {
  fixture ??= (async () => {
    p = await makeProvince({
      devices: [
        ['t3a', 'qn/dak-ha/thon-3'],
        ['t3b', 'qn/dak-ha/thon-3'],
        ['t4a', 'qn/dak-ha/thon-4'],
        ['t4b', 'qn/dak-ha/thon-4'],
        ['l1a', 'qn/son-tay/lang-1'],
      ],
    });
    p.registry.close(); // the two broker processes open it themselves
    const redis = await startRedis(tempDir('loa-redis-'));
    redisUrl = redis.url;
    [A, B] = await Promise.all([startBrokerProcess('broker-A', p.dir, redisUrl), startBrokerProcess('broker-B', p.dir, redisUrl)]);
  })();
  return fixture;
}

test.after(async () => {
  await endAll(...clients.splice(0));
  // Brokers first (they hold Redis connections), Redis last.
  const brokers = procs.filter((x) => x.name.startsWith('broker-'));
  await Promise.all(brokers.map((x) => stop(x)));
  await Promise.all(procs.filter((x) => !brokers.includes(x)).map((x) => stop(x)));
  cleanupTempDirs();
});

async function track<T extends MqttClient>(c: Promise<T>): Promise<T> {
  const client = await c;
  clients.push(client);
  return client;
}
const device = (url: string, id: string) => track(asDevice(url, id, p.devices[id]!.secret));
const account = (url: string, name: string, clientId = name) => track(connect(url, { clientId, username: name, password: p.accounts[name]!.secret }));

/** On failure, the brokers' own logs are the evidence. */
async function withLogs(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    process.stderr.write(procs.map((x) => `--- ${x.name} output ---\n${x.output().trim()}\n`).join(''));
    throw e;
  }
}

// ------------------------------------------------------------ cases

test('two broker processes start on one registry and one Redis, each on its own port, with the Redis store', async () => {
  await setup();
  assert.is.not(A.port, B.port);
  for (const x of [A, B]) {
    assert.is(x.listening.store, `redis:${redisUrl}`);
    assert.is(x.listening.level, 30);
    assert.ok(!gone(x.proc), `${x.proc.name} is running`);
  }
  assert.is.not(A.listening.pid, B.listening.pid);
});

test('an emergency published by dispatch on broker B reaches a device subscribed on broker A', async () => {
  await setup();
  await withLogs(async () => {
    const dev = await device(A.url, 't3a');
    assert.ok((await subscribe(dev, deviceSubscriptions('t3a', p.devices.t3a!.zone))).every((q) => q === 1), 'all own topics granted');
    const d = await account(B.url, 'dispatch');
    const topic = topics.zoneEmergency('qn/dak-ha');
    const payload = JSON.stringify({ v: 1, kind: 'emergency', id: 'cross-broker-1' });
    const seen: string[] = [];
    dev.on('message', (t) => seen.push(t));
    // SUBACK on A comes after A's Redis SUBSCRIBE is confirmed, so one publish on B must arrive.
    const got = nextMessage(dev, topic, 5000);
    await d.publishAsync(topic, payload, { qos: 1 });
    const m = await got;
    assert.is(m.payload.toString(), payload);
    await sleep(200);
    assert.equal(seen, [topic], 'delivered exactly once');
    assert.is(m.retain, false);
  });
});

test('a device does not receive on broker A what a refused subscription would have matched on broker B', async () => {
  await setup();
  await withLogs(async () => {
    const dev = await device(A.url, 't4a');
    assert.equal(await subscribe(dev, [topics.logAck('t4a'), topics.target('t3b')]), [1, 128]);
    const got: string[] = [];
    dev.on('message', (t) => got.push(t));
    const c = await account(B.url, 'console', 'console:b');
    // Published in this order through one connection: were t3b's target delivered, it would arrive first.
    const marker = nextMessage(dev, topics.logAck('t4a'), 5000);
    await c.publishAsync(topics.target('t3b'), '{"for":"t3b"}', { qos: 1 });
    await c.publishAsync(topics.logAck('t4a'), '{"keys":[]}', { qos: 1 });
    await marker;
    await sleep(100);
    assert.not.ok(got.includes(topics.target('t3b')), 't3b\'s target never reached t4a');
  });
});

test('a retained target state published by the console through broker A is served to the device through broker B', async () => {
  await setup();
  await withLogs(async () => {
    const topic = topics.target('t3b');
    const payload = JSON.stringify({ v: 1, payload: { version: 42, device: 't3b' }, sig: 'x' });
    const c = await account(A.url, 'console');
    await c.publishAsync(topic, payload, { qos: 1, retain: true });
    // PUBACK for a retained QoS1 message comes after the store has it; the device connects only now, to B.
    const dev = await device(B.url, 't3b');
    const got = nextMessage(dev, topic, 5000);
    assert.equal(await subscribe(dev, [topic]), [1]);
    const m = await got;
    assert.is(m.payload.toString(), payload);
    assert.is(m.retain, true, 'delivered as a retained message');
  });
});

test('a device\'s retained status published through broker B is seen by a console subscribing with a wildcard on broker A', async () => {
  await setup();
  await withLogs(async () => {
    const dev = await device(B.url, 'l1a');
    await dev.publishAsync(topics.status('l1a'), '{"state":"online"}', { qos: 1, retain: true });
    const c = await account(A.url, 'console', 'console:watch');
    const got = nextMessage(c, topics.status('l1a'), 5000);
    assert.equal(await subscribe(c, ['loa/v1/d/+/status']), [1]);
    const m = await got;
    assert.is(m.payload.toString(), '{"state":"online"}');
    assert.is(m.retain, true);
  });
});

test('a device reconnecting through the other broker takes its session over: the stale connection is closed', async () => {
  await setup();
  await withLogs(async () => {
    const first = await device(A.url, 't4b');
    const closed = closedWithin(first, 5000);
    const second = await device(B.url, 't4b');
    assert.ok(await closed, 'the connection on broker A was closed');
    assert.ok(second.connected, 'the new connection on broker B stays');
  });
});

test('both brokers stop cleanly on SIGTERM right after their clients disconnect', async () => {
  await setup();
  await endAll(...clients.splice(0));
  // No pause here on purpose: a SIGTERM while the brokers still handle those
  // disconnects once made mqemitter-redis' unhandled QUIT rejection crash the
  // process (broker/persistence.ts, ProvinceBroker.stop).
  for (const x of [A, B]) {
    await stop(x.proc, 10_000);
    assert.is(x.proc.child.exitCode, 0, `${x.proc.name} exit code (signal ${x.proc.child.signalCode}):\n${x.proc.output()}`);
    assert.match(x.proc.output(), /"msg":"broker stopped"/);
  }
});

test.run();
