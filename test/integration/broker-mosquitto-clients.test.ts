import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { captureLog, type CapturedLog } from '../helpers/logs.js';
import { cleanupTempDirs, waitFor } from '../helpers/tmp.js';
import { topics } from '../../protocol/topics.js';

// Interop acceptance: Debian's mosquitto_pub / mosquitto_sub (libmosquitto,
// MQTT 3.1.1) with issued credentials publish and receive where the ACL allows
// and are refused where it does not. Every run of a binary is bounded twice:
// by its own -W / -C, and by a SIGKILL timer here.

let p: TestProvince;
let b: RunningBroker;
let logs: CapturedLog;

// uvu swallows an exception thrown in test.before (and then reports 0 tests
// run as a success), so setup runs once, lazily, and every test awaits it.
let fixture: Promise<void> | null = null;
const setup = () =>
  (fixture ??= (async () => {
    p = await makeProvince();
    logs = captureLog();
    b = await startBroker(p.registry, p.dir, { log: logs.log });
  })());

test.after(async () => {
  for (const c of live) c.kill('SIGKILL');
  await b?.stop();
  p?.registry.close();
  cleanupTempDirs();
});

// ------------------------------------------------------------ helpers

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr together (-d debug lines go to stdout, errors to stderr). */
  out: string;
  /** Received messages, printed by -F as "MSG <retain> <topic> <payload>". */
  messages: { retain: boolean; topic: string; payload: string }[];
}

const live = new Set<ChildProcess>();
const KILL_AFTER_MS = 10_000;

function mosquitto(bin: 'mosquitto_sub' | 'mosquitto_pub', args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['-h', '127.0.0.1', '-p', String(b.port), '-V', 'mqttv311', '-q', '1', '-d', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      const messages = stdout
        .split('\n')
        .filter((l) => l.startsWith('MSG '))
        .map((l) => {
          const [, r, topic, ...rest] = l.split(' ');
          return { retain: r === '1', topic: topic!, payload: rest.join(' ') };
        });
      resolve({ code, signal, stdout, stderr, out: stdout + stderr, messages });
    });
  });
}

/** mosquitto_sub printing each message as "MSG <retain flag> <topic> <payload>". */
const sub = (creds: string[], filters: string[], extra: string[] = []) =>
  mosquitto('mosquitto_sub', [...creds, ...filters.flatMap((f) => ['-t', f]), '-F', 'MSG %r %t %p', ...extra]);
const pub = (creds: string[], topic: string, payload: string, extra: string[] = []) => mosquitto('mosquitto_pub', [...creds, '-t', topic, '-m', payload, ...extra]);

const device = (id: string) => ['-i', id, '-u', id, '-P', p.devices[id]!.secret];
const account = (name: string, clientId = name) => ['-i', clientId, '-u', name, '-P', p.accounts[name]!.secret];

/**
 * Resolves once the broker has answered a SUBSCRIBE of this client id, with
 * the granted QoS per filter (128 = refused). Taken from aedes' 'subscribe'
 * event because mosquitto_sub's stdout is block-buffered into a pipe.
 */
function subscribed(clientId: string, timeoutMs = 5000): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const a = b.broker.aedes;
    const on = (subs: { topic: string; qos: number }[], client: { id: string }) => {
      if (client.id !== clientId) return;
      clearTimeout(t);
      a.removeListener('subscribe', on);
      resolve(Object.fromEntries(subs.map((s) => [s.topic, s.qos])));
    };
    const t = setTimeout(() => {
      a.removeListener('subscribe', on);
      reject(new Error(`${clientId} did not subscribe within ${timeoutMs} ms`));
    }, timeoutMs);
    a.on('subscribe', on);
  });
}

const ok = (r: Run, what: string) => assert.is(r.code, 0, `${what} exited ${r.code ?? r.signal}:\n${r.out}`);

// ------------------------------------------------------------ cases

test('a device\'s mosquitto_sub receives what dispatch publishes with mosquitto_pub on its zone\'s emergency topic', async () => {
  await setup();
  const topic = topics.zoneEmergency('qn/dak-ha'); // t3a lives in qn/dak-ha/thon-3
  const ready = subscribed('t3a');
  const s = sub(device('t3a'), [topic], ['-C', '1', '-W', '5']);
  assert.equal(await ready, { [topic]: 1 });
  const payload = '{"v":1,"kind":"emergency","id":"drill-1"}';
  const d = await pub(account('dispatch'), topic, payload);
  ok(d, 'mosquitto_pub (dispatch)');
  assert.match(d.stdout, /received PUBACK/);
  const r = await s;
  ok(r, 'mosquitto_sub (t3a)');
  assert.match(r.stdout, /Subscribed \(mid: \d+\): 1\n/);
  assert.match(r.stdout, /received PUBLISH \(d0, q1, r0, m\d+, 'loa\/v1\/emergency\/z\/qn\/dak-ha'/);
  assert.equal(r.messages, [{ retain: false, topic, payload }]);
});

test('a device\'s mosquitto_sub on another device\'s topic gets SUBACK 128 and receives nothing, not even the retained message', async () => {
  await setup();
  const other = topics.target('t3b');
  const c = await pub(account('console'), other, '{"for":"t3b"}', ['-r']);
  ok(c, 'mosquitto_pub (console, retained t3b target)');
  const r = await sub(device('t3a'), [other], ['-C', '1', '-W', '3']);
  assert.match(r.stdout, /Subscribed \(mid: \d+\): 128\n/);
  assert.match(r.stderr, /All subscription requests were denied/);
  assert.not.match(r.stdout, /received PUBLISH/);
  assert.equal(r.messages, []);
  const l = logs.find((x) => x.msg === 'subscription refused' && x.clientId === 't3a' && x.topic === other);
  assert.ok(l, 'refusal logged');
  assert.match(String(l!.reason), /may not subscribe to target topic/);
});

test('next to a granted filter, the refused one stays refused: only the device\'s own topic is delivered', async () => {
  await setup();
  const own = topics.logAck('t3a');
  const other = topics.target('t3b');
  const ready = subscribed('t3a');
  const s = sub(device('t3a'), [own, other], ['-C', '1', '-W', '5']);
  assert.equal(await ready, { [own]: 1, [other]: 128 });
  // Published in this order on one connection: were t3b's delivered, it would arrive first.
  ok(await pub(account('console'), other, '{"for":"t3b","n":2}'), 'mosquitto_pub (console, t3b target)');
  ok(await pub(account('console'), own, '{"keys":[]}'), 'mosquitto_pub (console, t3a log/ack)');
  const r = await s;
  ok(r, 'mosquitto_sub (t3a)');
  assert.match(r.stdout, /Subscribed \(mid: \d+\): 1, 128\n/);
  assert.equal(r.messages, [{ retain: false, topic: own, payload: '{"keys":[]}' }]);
});

test('a device\'s mosquitto_pub to an emergency topic is dropped: disconnected, unseen by a console on #, logged', async () => {
  await setup();
  const topic = topics.zoneEmergency('qn/dak-ha/thon-3');
  const marker = topics.deviceEmergency('t3b');
  const ready = subscribed('console:watch');
  // -R: retained messages of earlier cases are not counted; the first live message ends the watch.
  const watch = sub(account('console', 'console:watch'), ['#'], ['-R', '-C', '1', '-W', '5']);
  assert.equal(await ready, { '#': 1 });
  const d = await pub(device('t3a'), topic, '{"v":1,"kind":"emergency","id":"forged"}');
  assert.is.not(d.code, 0, `mosquitto_pub should fail:\n${d.out}`);
  assert.match(d.stdout, /received CONNACK \(0\)/);
  assert.match(d.stdout, /sending PUBLISH \(d0, q1, r0, m\d+, 'loa\/v1\/emergency\/z\/qn\/dak-ha\/thon-3'/);
  assert.not.match(d.stdout, /received PUBACK/);
  assert.match(d.stderr, /connection was lost/i);
  const l = await waitFor(() => logs.find((x) => String(x.msg).startsWith('publish refused') && x.clientId === 't3a' && x.topic === topic), { what: 'publish refusal log' });
  assert.is(l.role, 'device');
  assert.match(String(l.reason), /may not publish zone-emergency topic/);
  // A message dispatch may send, published after the forged one, must be the first the watcher sees.
  ok(await pub(account('dispatch'), marker, '{"marker":true}'), 'mosquitto_pub (dispatch marker)');
  const w = await watch;
  ok(w, 'mosquitto_sub (console on #)');
  assert.equal(w.messages, [{ retain: false, topic: marker, payload: '{"marker":true}' }]);
  assert.not.ok(w.out.includes(topic + "'"), 'the forged emergency never reached the console');
});

test('a wrong password or no credentials: mosquitto_sub and mosquitto_pub exit non-zero, saying why', async () => {
  await setup();
  const wrong = ['-i', 't3a', '-u', 't3a', '-P', 'not-the-secret'];
  const s = await sub(wrong, [topics.target('t3a')], ['-C', '1', '-W', '3']);
  assert.is.not(s.code, 0, s.out);
  assert.match(s.stdout, /received CONNACK \(4\)/);
  assert.match(s.stderr, /bad user name or password/);
  assert.not.match(s.stdout, /sending SUBSCRIBE/);

  const q = await pub(wrong, topics.status('t3a'), '{"state":"online"}');
  assert.is.not(q.code, 0, q.out);
  assert.match(q.stderr, /bad user name or password/);
  assert.not.match(q.stdout, /sending PUBLISH/);

  const a = await pub(['-i', 'dispatch', '-u', 'dispatch', '-P', p.accounts.console!.secret], topics.zoneEmergency('qn'), '{}');
  assert.is.not(a.code, 0, a.out);
  assert.match(a.stderr, /bad user name or password/, 'another account\'s secret is a wrong password');

  const anon = await pub(['-i', 't3a'], topics.status('t3a'), '{"state":"online"}');
  assert.is.not(anon.code, 0, anon.out);
  assert.match(anon.stdout, /received CONNACK \(5\)/);
  assert.match(anon.stderr, /not authori[sz]ed/);

  assert.ok(logs.find((x) => x.msg === 'connection refused' && x.username === 't3a' && x.reason === 'wrong secret'));
  assert.ok(logs.find((x) => x.msg === 'connection refused' && x.username === undefined && /anonymous/.test(String(x.reason))));
});

test('a device\'s mosquitto_pub of its retained status reaches a console\'s mosquitto_sub', async () => {
  await setup();
  const topic = topics.status('t4a');
  ok(await pub(device('t4a'), topic, '{"state":"online"}', ['-r']), 'mosquitto_pub (t4a status)');
  const r = await sub(account('console', 'console:status'), ['loa/v1/d/+/status'], ['-C', '1', '-W', '5']);
  ok(r, 'mosquitto_sub (console)');
  assert.equal(r.messages, [{ retain: true, topic, payload: '{"state":"online"}' }]);
});

test('the console\'s retained target state, published with mosquitto_pub -r, reaches the device\'s mosquitto_sub with the retain flag', async () => {
  await setup();
  const topic = topics.target('t3a');
  const payload = '{"v":1,"payload":{"version":7},"sig":"x"}';
  const c = await pub(account('console'), topic, payload, ['-r']);
  ok(c, 'mosquitto_pub (console)');
  assert.match(c.stdout, /sending PUBLISH \(d0, q1, r1, m\d+, 'loa\/v1\/d\/t3a\/target'/);
  assert.match(c.stdout, /received PUBACK/);
  const r = await sub(device('t3a'), [topic], ['-C', '1', '-W', '5']);
  ok(r, 'mosquitto_sub (t3a)');
  assert.match(r.stdout, /received PUBLISH \(d0, q1, r1, m\d+, 'loa\/v1\/d\/t3a\/target'/);
  assert.equal(r.messages, [{ retain: true, topic, payload }]);
});

// mosquitto_sub cannot ask for keepalive 0: its -k takes 5 to 65535 (Debian 12's
// 2.0.11 and later alike). Keepalive 0 is tested with a raw CONNECT and with
// mqtt.js in broker-refusals.test.ts.
test('mosquitto_sub asking for a keepalive above the broker\'s limit is refused with a code MQTT 3.1.1 defines (5), and the refusal is logged', async () => {
  await setup();
  const s = await sub(device('t4a'), [topics.target('t4a')], ['-k', '1201', '-C', '1', '-W', '3']);
  assert.is.not(s.code, 0, s.out);
  assert.match(s.stdout, /received CONNACK \(5\)/);
  assert.match(s.stderr, /not authori[sz]ed/);
  const l = await waitFor(() => logs.find((x) => x.msg === 'connection refused' && x.clientId === 't4a' && x.keepalive === 1201), { what: 'keepalive refusal log' });
  assert.is(l.returnCode, 5);
  assert.is(l.keepaliveLimitSec, 1200);
  assert.match(String(l.reason), /keepalive of 1201 s exceeds the broker's limit of 1200 s/);
});

test.run();
