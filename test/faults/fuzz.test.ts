import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MqttClient } from 'mqtt';
import type { z } from 'zod';
import { ALERT_HZ } from '../../audio/tones.js';
import { newSessionKey } from '../../protocol/live-frames.js';
import { encodeChunkFrame, encodeSigned } from '../../protocol/codec.js';
import { contractFor, kindOf } from '../../protocol/contract.js';
import { EmergencyCommand, LiveControl, TargetState, TimeBeacon } from '../../protocol/payloads.js';
import { Signer, type SignPurpose } from '../../protocol/signing.js';
import { deviceSubscriptions, parseTopic, topics } from '../../protocol/topics.js';
import { asDevice, connect, endAll } from '../helpers/mqtt.js';
import { cleanupTempDirs, sleep, waitFor } from '../helpers/tmp.js';
import { hostile, Rand, sha256, toJson, type FuzzTopic, type Hostile } from './fuzz-payloads.js';
import { emergency, faultWorld, type FaultAgent, type FaultWorld, type LogLine } from './world.js';

// Fuzzed payloads on every topic the agent and the console subscribe to
// (issue 10): hundreds of hostile messages per topic, each published as the
// account the broker lets publish there — the console's account for its
// topics to a device, dispatch for emergencies, a device's own account for
// what it reports — so that they reach the agent and the console rather than
// being refused at the broker. Seeded: LOA_FUZZ_SEED replays a run.
//
// Nothing wrong means here: the agent, the console and the broker are the
// same processes at the end; no forged, damaged or replayed command sounds
// (the alert tone never reaches the horn for one, the province hears of no
// emergency played but the genuine ones) and none rolls the target back; a
// genuine emergency sent afterwards plays to its end and the province's
// roll-up says so; the console still answers its API and still stores a
// device's log batch; and what was refused was logged as refused.

const SEED = Number(process.env.LOA_FUZZ_SEED ?? 20_261_203);
const PER_TOPIC = 250;
/** The agent under fire, and a device whose account the test speaks as (no agent of its own runs). */
const AGENT = 't3a';
const DEVICE = 't4a';

let w: FaultWorld;
let a: FaultAgent;
let cons: MqttClient;
let consoleSigner: Signer;
const r = new Rand(SEED);
/** Genuine messages seen on the broker, kept to be replayed later. */
const seen = { targets: [] as Buffer[], beacons: [] as Buffer[], emergencies: [] as Buffer[] };
let pids: { agent: number; console: number; broker: number };
let genuine: string;
let aloneSeconds = 0;
let v1 = 0;
let v2 = 0;

test.before(async () => {
  w = await faultWorld();
  consoleSigner = new Signer(w.p.registry.readPrivateKey('console'));
  const url = `mqtt://127.0.0.1:${w.broker.port}`;
  cons = await connect(url, { clientId: 'console:fuzz', username: 'console', password: w.p.accounts.console!.secret, reconnectPeriod: 500 });
  cons.on('message', (topic, payload) => {
    const t = parseTopic(topic);
    if (t?.kind === 'time') seen.beacons.push(payload);
    else if (t?.kind === 'device-emergency') seen.emergencies.push(payload);
    else if (t?.kind === 'device' && t.sub === 'target') seen.targets.push(payload);
  });
  await cons.subscribeAsync({ [topics.time()]: { qos: 0 }, [topics.target(AGENT)]: { qos: 1 }, [topics.deviceEmergency(AGENT)]: { qos: 1 } });
});
test.after(async () => {
  await endAll(cons);
  await w.stop();
  cleanupTempDirs();
});

const logs = (p: { out: () => string }): LogLine[] => p.out().split('\n').flatMap((l) => {
  try {
    return l.startsWith('{') ? [JSON.parse(l) as LogLine] : [];
  } catch {
    return [];
  }
});
type Ack = { emergency: string; status: string; code?: string };
const acks = (device: string) => w.records(device, 'emergency-ack').map((x) => x.data as Ack);
const finished = (id: string) => waitFor(async () => (await w.rollup(id)).devices.find((d) => d.device === AGENT)?.status === 'finished', { timeoutMs: 60_000, what: `emergency ${id} played to its end, in the roll-up` });
const sendTest = (title: string) => w.dispatch({ devices: [AGENT], mode: 'test', content: { kind: 'standard', clip: 'chime' }, repeat: 1, title });

test('a village agent in sync, with a genuine emergency played to its end', async () => {
  v1 = w.setTarget(AGENT, {});
  a = await w.agent(AGENT);
  await a.start();
  await a.waitLog((l) => l.msg === 'the province answered with the time', 'the clock set by the province');
  await a.waitLog((l) => l.msg === 'target accepted' && l.version === v1, 'target 1 accepted');
  v2 = w.setTarget(AGENT, {});
  await a.waitLog((l) => l.msg === 'target accepted' && l.version === v2, 'target 2 accepted');
  genuine = (await sendTest('Thử còi trước')).id;
  await finished(genuine);
  aloneSeconds = a.soundedSeconds(ALERT_HZ[0]);
  assert.ok(aloneSeconds >= 2, `heard in the village: ${aloneSeconds} s`);
  assert.ok(seen.targets.length >= 2 && seen.beacons.length >= 1 && seen.emergencies.length >= 1, 'genuine messages kept for replay');
  pids = { agent: a.current!.proc.child.pid!, console: w.console.child.pid!, broker: w.broker.child.pid! };
});

// --- what is valid on each topic, for the generator to damage -------------

const now = () => Date.now();
const iso = (ms: number) => new Date(ms).toISOString();
function validEmergency(scope: { zones: string[]; devices: string[] }) {
  return emergency({ id: r.uuid(), scope, mode: 'test', title: 'Diễn tập' });
}
const validBeacon = () => ({ at: iso(now()), validMs: 10_000, seq: 1_000_000 + r.int(1e6) });
const validLive = (zone: string) => ({ type: 'open' as const, id: r.uuid(), issuedAt: iso(now() - 1000), expiresAt: iso(now() + 15_000), zone, title: 'Tiếp sóng Đài tỉnh', by: 'bien-tap', source: 'relay' as const, key: newSessionKey().publicKey, codec: { name: 'opus' as const, sampleRate: 48000 as const, frameMs: 20 as const }, startedAt: iso(now() - 1000), endBy: iso(now() + 600_000) });
const validLogAck = () => ({ batch: r.uuid(), stored: [`${r.hex(12)}:${String(r.int(1e6)).padStart(10, '0')}`] });
const validTarget = () => ({ ...(JSON.parse(seen.targets.at(-1)!.toString()) as { payload: Record<string, unknown> }).payload, version: v2 + 1 + r.int(1000), issuedAt: iso(now()) });
const validFrame = () => {
  const data = r.bytes(32 * 1024);
  return encodeChunkFrame({ asset: r.hex(64), index: 0, size: 32 * 1024, total: data.length, sha256: sha256(data) }, data);
};
const validStatus = () => ({ state: 'online', at: iso(now()), reason: 'connected', agent: 'loa 0.1.0', nonce: r.hex(16) });
const validState = () => ({ at: iso(now()), appliedVersion: 3, receivedVersion: 3, sync: 'idle', missingAssets: 0, lastError: null });
const validTelemetry = () => ({
  at: iso(now()), agent: 'loa 0.1.0', uptimeSec: 3600, appliedVersion: 3, playing: null, volume: 60, amplifier: 'off',
  disk: { freeBytes: 1e9, usedBytes: 1e6, budgetBytes: 5e8, full: false }, cpuTempC: 48.5, clock: { trusted: true, source: 'beacon' }, rttMs: 120,
});
const validChunkRequest = () => ({ asset: r.hex(64), index: r.int(40), size: 65536 });
const validLog = () => ({ batch: r.uuid(), records: [{ key: `fuzz${r.hex(8)}:${String(r.int(1e6)).padStart(10, '0')}`, at: iso(now()), kind: 'metric', data: { name: 'fuzz', value: r.int(100) } }] });
const others = () => [validBeacon(), validEmergency({ zones: ['qn'], devices: [] }), validLive('qn'), validLogAck(), validStatus(), validTelemetry(), validLog(), validChunkRequest()];

/** The agent's topics, each with its valid payload and, for signed ones, the key and purpose it is signed with. */
function agentTopics(): (FuzzTopic & { by: 'console' | 'dispatch' })[] {
  const zone = w.p.devices[AGENT]!.zone;
  const signed = (purpose: SignPurpose, signer: Signer, schema: z.ZodType, otherPurpose: SignPurpose) => ({ purpose, signer, schema, otherPurpose });
  const old = { start: now() - 2 * 3600_000 };
  const expired = encodeSigned('device-emergency', w.signer.sign('emergency', emergency({ id: r.uuid(), issuedAt: iso(old.start), expiresAt: iso(old.start + 3600_000), scope: { zones: [], devices: [AGENT] } })));
  const elsewhere = encodeSigned('zone-emergency', w.signer.sign('emergency', validEmergency({ zones: ['qn/son-tay'], devices: [] })));
  const emergencyReplays = [...seen.emergencies, expired, elsewhere];
  return deviceSubscriptions(AGENT, zone).map((topic) => {
    const kind = kindOf(parseTopic(topic)!);
    const base = { topic, maxBytes: contractFor(kind).maxBytes, others };
    switch (kind) {
      case 'target':
        return { ...base, by: 'console', valid: validTarget, signed: signed('target', consoleSigner, TargetState, 'emergency'), replays: seen.targets };
      case 'chunk/res':
        return { ...base, by: 'console', valid: validFrame, frame: (h: unknown, d: Buffer) => Buffer.concat([lengthPrefixed(h), d]) };
      case 'log/ack':
        return { ...base, by: 'console', valid: validLogAck };
      case 'clock':
      case 'time':
        return { ...base, by: 'console', valid: validBeacon, signed: signed('time', consoleSigner, TimeBeacon, 'target'), replays: seen.beacons };
      case 'device-emergency':
        return { ...base, by: 'dispatch', valid: () => validEmergency({ zones: [], devices: [AGENT] }), signed: signed('emergency', w.signer, EmergencyCommand, 'time'), replays: emergencyReplays };
      case 'zone-emergency':
        return { ...base, by: 'dispatch', valid: () => validEmergency({ zones: [parseZone(topic)], devices: [] }), signed: signed('emergency', w.signer, EmergencyCommand, 'time'), replays: emergencyReplays };
      case 'zone-live':
        return { ...base, by: 'console', valid: () => validLive(parseZone(topic)), signed: signed('live', consoleSigner, LiveControl, 'time') };
      default:
        throw new Error(`the agent subscribes to ${topic}, which this test does not fuzz`);
    }
  });
}
const parseZone = (topic: string) => {
  const t = parseTopic(topic);
  return t && 'zone' in t ? t.zone : '';
};
function lengthPrefixed(header: unknown): Buffer {
  const h = Buffer.from(toJson(header));
  const len = Buffer.alloc(2);
  len.writeUInt16BE(Math.min(h.length, 0xffff), 0);
  return Buffer.concat([len, h]);
}

/** Publishes every message, a few at a time, in a seeded order across topics; resolves once the broker has taken them all. */
async function barrage(list: { client: MqttClient; topic: string; h: Hostile; retain?: boolean }[]): Promise<void> {
  for (let i = list.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const m = list[next++]!;
      const qos = contractFor(kindOf(parseTopic(m.topic)!)).qos;
      await m.client.publishAsync(m.topic, m.h.payload, { qos, retain: m.retain ?? false });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

test('hundreds of hostile payloads on every topic the agent subscribes to', async () => {
  const list = agentTopics().flatMap((t) => Array.from({ length: PER_TOPIC }, () => ({ client: t.by === 'dispatch' ? w.dispatcher : cons, topic: t.topic, h: hostile(r, t) })));
  const byKind = new Map<string, number>();
  for (const m of list) byKind.set(m.h.kind, (byKind.get(m.h.kind) ?? 0) + 1);
  console.log(`fuzz seed ${SEED}: ${list.length} messages to ${AGENT} (${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')})`);
  await barrage(list);
  // A last forged command on each emergency topic: once the agent has refused it, it has handled all before it there.
  const last = r.uuid();
  const forged = Buffer.from(JSON.stringify({ payload: validEmergency({ zones: [], devices: [AGENT] }), kid: w.signer.kid, sig: `${'A'.repeat(86)}==` }).replace(/"id":"[^"]+"/, `"id":"${last}"`));
  await w.dispatcher.publishAsync(topics.deviceEmergency(AGENT), forged, { qos: 1 });
  await a.waitLog((l) => l.msg === 'emergency command rejected; output unchanged' && l.emergency === last, 'the last forged command refused', 60_000);
  // And the agent at rest: nothing more to log for a moment.
  let n = -1;
  await waitFor(async () => {
    const m = a.logs().length;
    const still = m === n;
    n = m;
    await sleep(500);
    return still;
  }, { timeoutMs: 60_000, what: 'the agent done with the barrage' });
});

test('the agent survived it: same process, silent horn, target kept, every kind of refusal logged; a genuine emergency still plays to its end', async () => {
  assert.is(a.runs.length, 1);
  assert.ok(a.alive, `the agent runs:\n${a.current!.proc.out().slice(-3000)}`);
  assert.is(a.current!.proc.child.pid, pids.agent, 'the same agent process');
  assert.is(a.soundedSeconds(ALERT_HZ[0]), aloneSeconds, 'no alert sounded for a forged, damaged or replayed command');

  const lines = a.logs();
  const count = (pred: (l: LogLine) => boolean) => lines.filter(pred).length;
  const rejected = (kind: string) => count((l) => l.msg === 'message rejected' && parseTopic(String(l.topic)) !== null && kindOf(parseTopic(String(l.topic))!) === kind);
  const refusals = {
    emergency: count((l) => l.msg === 'emergency command rejected; output unchanged'),
    target: count((l) => l.msg === 'target rejected; the previous one stays in force'),
    'chunk/res': rejected('chunk/res'),
    'log/ack': rejected('log/ack'),
    time: rejected('time') + rejected('clock') + count((l) => l.msg === 'time beacon refused'),
    live: rejected('zone-live'),
  };
  console.log(`refusals logged by ${AGENT}: ${JSON.stringify(refusals)}`);
  for (const [k, n] of Object.entries(refusals)) assert.ok(n >= PER_TOPIC / 10, `${k}: ${n} refusals logged`);
  assert.not.ok(lines.some((l) => /uncaught|unhandled/i.test(l.msg)), 'no uncaught error');
  assert.equal(lines.filter((l) => l.msg === 'target accepted').map((l) => l.version), [v1, v2], 'no other target taken, none rolled back');

  const again = (await sendTest('Thử còi sau')).id;
  await finished(again);
  const played = lines.concat(a.logs()).filter((l) => l.msg === 'EMERGENCY: playing').map((l) => l.emergency);
  assert.equal([...new Set(played)], [genuine, again], 'only the genuine emergencies played');
  const heard = a.soundedSeconds(ALERT_HZ[0]) - aloneSeconds;
  assert.ok(Math.abs(heard - aloneSeconds) <= 0.5, `the second one sounded as long as the first: ${heard} s, ${aloneSeconds} s`);
  const plays = w.records(AGENT, 'play').map((x) => x.data as { outcome: string; source: string; emergency?: string });
  assert.equal(plays.filter((p) => p.outcome !== 'refused' && !(p.emergency === genuine || p.emergency === again)), [], 'the province heard of nothing else played (a live relay, a programme)');
  const admitted = acks(AGENT).filter((x) => x.status !== 'rejected').map((x) => x.emergency);
  assert.equal([...new Set(admitted)].sort(), [genuine, again].sort(), 'the province heard of no other emergency admitted');
  assert.equal((await w.rollup(genuine)).devices.map((d) => d.status), ['finished'], 'damaged and replayed copies do not change the first one\'s roll-up');
  const fleet = (await w.api('GET', '/api/devices')) as { devices: { id: string; state: { appliedVersion: number | null } | null }[] };
  assert.is(fleet.devices.find((d) => d.id === AGENT)?.state?.appliedVersion, v2, 'the target in force is still the genuine one');
});

test('hundreds of hostile payloads on every topic the console subscribes to, as a device; then it still answers and stores', async () => {
  const secret = w.p.devices[DEVICE]!.secret;
  const ackFor = new Set<string>();
  const dev = await asDevice(`mqtt://127.0.0.1:${w.broker.port}`, DEVICE, secret, {}, (_, payload) => {
    for (const k of (JSON.parse(payload.toString()) as { stored: string[] }).stored) ackFor.add(k);
  });
  await dev.subscribeAsync(topics.logAck(DEVICE), { qos: 1 });
  const sent = Buffer.from(JSON.stringify(validLog()));
  await dev.publishAsync(topics.log(DEVICE), sent, { qos: 1 });
  const mk = (topic: string, valid: () => unknown): FuzzTopic => ({ topic, maxBytes: contractFor(kindOf(parseTopic(topic)!)).maxBytes, valid, others, replays: [sent] });
  const deviceTopics = [mk(topics.status(DEVICE), validStatus), mk(topics.state(DEVICE), validState), mk(topics.telemetry(DEVICE), validTelemetry), mk(topics.chunkRequest(DEVICE), validChunkRequest), mk(topics.log(DEVICE), validLog)];
  const list = deviceTopics.flatMap((t) => Array.from({ length: PER_TOPIC }, () => ({ client: dev, topic: t.topic, h: hostile(r, t), retain: /\/(status|state)$/.test(t.topic) && r.int(10) === 0 })));
  await barrage(list);

  // A genuine batch after all that: stored, and acknowledged to the device.
  const batch = validLog();
  const key = batch.records[0]!.key;
  await dev.publishAsync(topics.log(DEVICE), Buffer.from(JSON.stringify(batch)), { qos: 1 });
  await waitFor(() => ackFor.has(key), { timeoutMs: 30_000, what: 'the genuine batch acknowledged' });
  assert.ok(w.records(DEVICE).some((x) => x.key === key), 'stored in the province\'s reports');
  // One more than the broker allows: refused there, and the device disconnected.
  const closed = new Promise<void>((resolve) => dev.once('close', () => resolve()));
  dev.publish(topics.status(DEVICE), Buffer.alloc(contractFor('status').maxBytes + 1, 0x41), { qos: 1 });
  await closed;
  await endAll(dev);

  assert.is(w.console.child.pid, pids.console, 'the same console process');
  assert.is(w.console.child.exitCode, null, 'the console runs');
  assert.is(w.broker.child.pid, pids.broker, 'the same broker process');
  assert.is(w.broker.child.exitCode, null, 'the broker runs');
  assert.ok(Array.isArray(((await w.api('GET', '/api/dispatches')) as { dispatches: unknown[] }).dispatches), 'the console answers its API');
  const fleet = (await w.api('GET', '/api/devices')) as { devices: { id: string; telemetry: unknown }[] };
  const t = fleet.devices.find((d) => d.id === DEVICE)?.telemetry;
  assert.ok(t === null || typeof t === 'object', 'the fleet view of the device is null or a telemetry it accepted');
  const consoleLog = logs(w.console);
  const refused = consoleLog.filter((l) => l.msg === 'device message rejected' || l.msg === 'device report rejected').length;
  console.log(`refusals logged by the console: ${refused}`);
  assert.ok(refused >= PER_TOPIC, `the console logged what it refused: ${refused}`);
  assert.not.ok(consoleLog.some((l) => l.level >= 60 || /uncaught|unhandled/i.test(l.msg)), 'no fatal error');
  assert.ok(logs(w.broker).some((l) => l.msg.startsWith('publish refused') && l.clientId === DEVICE), 'the broker refused the oversized one');
});

test.run();
