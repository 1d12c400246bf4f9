import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { consoleFixture, type ConsoleFixture, type Session } from '../helpers/console.js';
import { asDevice, endAll, nextMessage, subscribe } from '../helpers/mqtt.js';
import { cleanupTempDirs, sleep, tempDir } from '../helpers/tmp.js';
import { Reports } from '../../provisioning/reports.js';
import { encodePayload } from '../../protocol/codec.js';
import { LogAck, LogBatch, type LogRecord } from '../../protocol/payloads.js';
import { topics } from '../../protocol/topics.js';

// The emergency roll-up when the villages' clocks step: acks stamped before
// and after a step (the time beacon correcting a clock hours off) arrive
// with `at` going backwards. The console orders each device's acks by the
// device's own sequence (its record keys), never by those stamps, and a
// rejected copy of a command the device had already admitted is not news.
// Log batches go in as the devices send them: over MQTT, as the device
// accounts, stored by the console's own services; the console is then
// restarted on the same data directory and must say the same.

let f: ConsoleFixture;
let dispatcher: Session;
const devices: Record<string, MqttClient> = {};

test.before(async () => {
  f = await consoleFixture();
  dispatcher = await f.as('dispatch');
  for (const id of ['t3a', 't3b', 't4a']) {
    devices[id] = await asDevice(f.broker.url, id, f.p.devices[id]!.secret);
    await subscribe(devices[id]!, [topics.logAck(id)]);
  }
});
test.after(async () => {
  await endAll(...Object.values(devices));
  await f.stop();
  cleanupTempDirs();
});

const H = 3600_000;
type Ack = { status: 'received' | 'playing' | 'finished' | 'cancelled' | 'rejected'; code?: string };
const ack = (install: string, n: number, at: number, emergency: string, a: Ack): LogRecord => ({ key: `${install}:${String(n).padStart(10, '0')}`, at: new Date(at).toISOString(), kind: 'emergency-ack', data: { emergency, ...a } });

/** Sends one log batch as the device does and waits for the console's ack of it (the records are stored by then). */
async function deliver(device: string, records: LogRecord[]): Promise<void> {
  const batch = LogBatch.parse({ batch: randomUUID(), records });
  const c = devices[device]!;
  const acked = (async () => {
    for (;;) {
      const m = LogAck.parse(JSON.parse((await nextMessage(c, topics.logAck(device), 5000)).payload.toString()));
      if (m.batch === batch.batch) return;
    }
  })();
  await c.publishAsync(topics.log(device), encodePayload('log', batch), { qos: 1 });
  await acked;
  // The next batch is received at a later instant of the console's clock (it orders a device's store installs by that).
  await sleep(5);
}

const rollup = async () => ((await dispatcher.get(`/api/dispatches/${id}`)).json() as { rollup: { zones: { zone: string; counts: Record<string, number> }[]; devices: { device: string; status: string; code?: string }[] } }).rollup;
const byDevice = async () => Object.fromEntries((await rollup()).devices.map((d) => [d.device, d.code ? `${d.status} ${d.code}` : d.status]));

let id = '';
const T = Date.now();

test('acks whose stamps go backwards by hours roll up in the order the devices made them', async () => {
  const r = await dispatcher.post('/api/dispatches', { mode: 'exercise', level: 3, zones: ['qn/dak-ha'], content: { kind: 'standard', clip: 'siren' }, repeat: 1, expiresMinutes: 60, title: 'Diễn tập lũ quét' });
  assert.is(r.statusCode, 200, r.body);
  id = (r.json() as { dispatch: { id: string } }).dispatch.id;

  // t3a's clock ran 3 h fast: 'received' is stamped then; the beacon steps it back and the play is stamped right.
  await deliver('t3a', [ack('0c0ffee1', 41, T + 3 * H, id, { status: 'received' })]);
  await deliver('t3a', [ack('0c0ffee1', 42, T + 2_000, id, { status: 'playing' }), ack('0c0ffee1', 43, T + 21_000, id, { status: 'finished' })]);

  // t3b played it to the end; a copy redelivered later (the clock then 2 h fast) is refused as expired: a copy, not news.
  await deliver('t3b', [ack('5ca1ab1e', 7, T, id, { status: 'received' }), ack('5ca1ab1e', 8, T + 1_000, id, { status: 'playing' }), ack('5ca1ab1e', 9, T + 20_000, id, { status: 'finished' })]);
  await deliver('t3b', [ack('5ca1ab1e', 10, T + 2 * H, id, { status: 'rejected', code: 'LOA_E_EMERGENCY_EXPIRED' })]);

  // t4a admitted it 5 h fast, then its store was wiped: a new install (counter from 1, an id that sorts first)
  // admits the redelivered copy with a corrected clock, and playback fails: that is news.
  await deliver('t4a', [ack('ffff0001', 57, T + 5 * H, id, { status: 'received' })]);
  await deliver('t4a', [ack('00000002', 1, T + 30_000, id, { status: 'received' }), ack('00000002', 2, T + 31_000, id, { status: 'playing' }), ack('00000002', 3, T + 32_000, id, { status: 'rejected', code: 'LOA_E_AUDIO_INVALID' })]);

  assert.equal(await byDevice(), { t3a: 'finished', t3b: 'finished', t4a: 'rejected LOA_E_AUDIO_INVALID' });
  assert.equal((await rollup()).zones, [{ zone: 'qn/dak-ha', counts: { received: 0, playing: 0, finished: 2, cancelled: 0, rejected: 1, silent: 0 } }]);
});

/** The next roll-up of `dispatch` the console pushes to a browser's live view (Server-Sent Events over its HTTP listener). */
async function nextLiveRollup(dispatch: string, trigger: () => Promise<void>): Promise<Record<string, string>> {
  const addr = f.server.address!;
  const abort = new AbortController();
  const res = await fetch(`http://127.0.0.1:${addr.port}/api/events`, { headers: { cookie: dispatcher.cookie }, signal: abort.signal });
  assert.is(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  await trigger();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended');
      buf += value;
      for (let i; (i = buf.indexOf('\n\n')) >= 0; buf = buf.slice(i + 2)) {
        const ev = buf.slice(0, i);
        if (!ev.startsWith('event: dispatch\n')) continue;
        const data = JSON.parse(ev.slice(ev.indexOf('data: ') + 6)) as { dispatch: { id: string }; rollup: { devices: { device: string; status: string; code?: string }[] } };
        if (data.dispatch.id === dispatch) return Object.fromEntries(data.rollup.devices.map((d) => [d.device, d.code ? `${d.status} ${d.code}` : d.status]));
      }
    }
  } finally {
    abort.abort();
  }
}

test('the live roll-up pushed to browsers says the same', async () => {
  // A replayed copy reported by t3a, stamped with its clock 3 h fast again: nothing changes.
  const live = await nextLiveRollup(id, () => deliver('t3a', [ack('0c0ffee1', 44, T + 3 * H + 60_000, id, { status: 'rejected', code: 'LOA_E_EMERGENCY_REPLAYED' })]));
  assert.equal(live, { t3a: 'finished', t3b: 'finished', t4a: 'rejected LOA_E_AUDIO_INVALID' });
});

test('a console restarted on the same data directory shows the same roll-up, and orders what comes after', async () => {
  await f.restart();
  assert.equal(await byDevice(), { t3a: 'finished', t3b: 'finished', t4a: 'rejected LOA_E_AUDIO_INVALID' });
  const r = await dispatcher.post('/api/dispatches', { mode: 'exercise', level: 2, zones: ['qn/dak-ha/thon-3'], content: { kind: 'standard', clip: 'alert-tone' }, repeat: 1, expiresMinutes: 60 });
  const second = (r.json() as { dispatch: { id: string } }).dispatch.id;
  // t3a's clock was an hour fast when it admitted this one and right when it started playing.
  await deliver('t3a', [ack('0c0ffee1', 45, T + H, second, { status: 'received' }), ack('0c0ffee1', 46, T, second, { status: 'playing' })]);
  await deliver('t3b', [ack('5ca1ab1e', 11, T, second, { status: 'received' })]);
  const roll = ((await dispatcher.get(`/api/dispatches/${second}`)).json() as { rollup: { zones: { zone: string; counts: Record<string, number> }[] } }).rollup;
  assert.equal(roll.zones, [{ zone: 'qn/dak-ha/thon-3', counts: { received: 1, playing: 1, finished: 0, cancelled: 0, rejected: 0, silent: 0 } }]);
});

test('a reports file from before the order was kept learns it from the records it holds', () => {
  const dir = tempDir();
  const acks = (install: string, first: number, emergency: string, ats: number[], statuses: Ack['status'][]) => statuses.map((status, i) => ack(install, first + i, ats[i]!, emergency, { status }));
  const e = randomUUID();
  let r = new Reports(dir);
  r.storeBatch('t3a', { batch: randomUUID(), records: acks('ffff0001', 90, e, [T + 5 * H], ['received']) }, new Date(T).toISOString());
  r.storeBatch('t3a', { batch: randomUUID(), records: acks('00000002', 1, e, [T + 40_000, T + 41_000, T + 60_000], ['received', 'playing', 'finished']) }, new Date(T + 1000).toISOString());
  r.close();
  // As the file was before this version: no table of installs.
  const old = new Database(join(dir, 'reports.sqlite'));
  old.exec('DROP TABLE device_installs; PRAGMA user_version = 2');
  old.close();
  r = new Reports(dir);
  assert.equal(r.emergencyAcks(e).map((a) => `${a.key} ${a.data.status}`), ['ffff0001:0000000090 received', '00000002:0000000001 received', '00000002:0000000002 playing', '00000002:0000000003 finished']);
  r.close();
});

test.run();
