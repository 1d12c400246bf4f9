import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MqttClient } from 'mqtt';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { consoleFixture, type ConsoleFixture, type Session } from '../helpers/console.js';
import { asDevice, endAll } from '../helpers/mqtt.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { Reports } from '../../provisioning/reports.js';
import { encodePayload } from '../../protocol/codec.js';
import type { DeviceState, DeviceStatus, Telemetry } from '../../protocol/payloads.js';
import { topics } from '../../protocol/topics.js';
import { localToEpoch } from '../../schedules/time.js';

// The uptime report through the API, from what devices publish over a real
// broker to the console's fleet view, on a console clock the test moves:
// "today" is 4 December 2026 in Việt Nam, and the report for from = to =
// today runs from its midnight to now.

const DAY = '2026-12-04';
let t = localToEpoch(DAY, '10:00');
let f: ConsoleFixture;
let admin: Session;
const devices: MqttClient[] = [];

test.before(async () => {
  f = await consoleFixture({ now: () => t });
  admin = await f.as('admin');
});
test.after(async () => {
  await endAll(...devices);
  await f.stop();
  cleanupTempDirs();
});

const iso = () => new Date(t).toISOString();
const telemetry = (): Telemetry => ({ at: iso(), agent: '0.1.0', uptimeSec: 1, appliedVersion: null, playing: null, volume: 60, amplifier: 'off', disk: { freeBytes: 1e9, usedBytes: 0, budgetBytes: 1e9, full: false }, cpuTempC: null, clock: { trusted: true, source: 'ntp' }, rttMs: null });
const state = (): DeviceState => ({ at: iso(), appliedVersion: null, receivedVersion: null, sync: 'idle', missingAssets: 0, lastError: null });
const status = (s: 'online' | 'offline'): DeviceStatus => (s === 'online' ? { state: 'online', reason: 'connected', at: iso() } : { state: 'offline', reason: 'shutdown', at: iso() });

async function device(id: string): Promise<MqttClient> {
  const c = await asDevice(f.broker.url, id, f.p.devices[id]!.secret);
  devices.push(c);
  return c;
}

/** Publishes a status, then a state after it on the same QoS 1 flow: once the console holds that state, it has handled the status. */
async function statusThenState(c: MqttClient, id: string, s: 'online' | 'offline'): Promise<void> {
  await c.publishAsync(topics.status(id), encodePayload('status', status(s)), { qos: 1, retain: true });
  const st = state();
  await c.publishAsync(topics.state(id), encodePayload('state', st), { qos: 1, retain: true });
  await waitFor(() => f.server.fleet.view(id)?.state?.at === st.at || null, { what: `${id}'s state` });
}

async function uptime(from: string, to: string): Promise<Record<string, number>> {
  const r = await admin.get(`/api/reports/uptime?from=${from}&to=${to}`);
  assert.is(r.statusCode, 200, r.body);
  return Object.fromEntries((r.json() as { rows: { device: string; uptimePercent: number }[] }).rows.map((x) => [x.device, x.uptimePercent]));
}

test('a device whose telemetry arrived ahead of its online status is online in the uptime report, not at 0 %', async () => {
  // As `loa demo` showed: the heartbeat at QoS 0 overtakes the online status at QoS 1 in the broker.
  const c = await device('t3a');
  await c.publishAsync(topics.telemetry('t3a'), encodePayload('telemetry', telemetry()), { qos: 0 });
  await waitFor(() => f.server.fleet.view('t3a')?.telemetry || null, { what: 't3a\'s telemetry' });
  await statusThenState(c, 't3a', 'online');
  // And one that says it is online first, as it means to.
  await statusThenState(await device('t4a'), 't4a', 'online');
  t += 13 * 60_000;
  const up = await uptime(DAY, DAY);
  // 13 minutes of the 10 h 13 min since midnight.
  assert.is(up.t3a, 2.1);
  assert.is(up.t4a, 2.1);
  assert.is(up.l1a, 0, 'never heard of');
  assert.is(((await admin.get('/api/devices/t3a')).json() as { device: { online: boolean } }).device.online, true);
});

test('offline and online again: only the time online counts, to now', async () => {
  await statusThenState(devices[0]!, 't3a', 'offline');
  t += 47 * 60_000; // 11:00
  await statusThenState(devices[0]!, 't3a', 'online');
  t += 60 * 60_000; // 12:00: online 13 + 60 minutes of 12 hours
  const up = await uptime(DAY, DAY);
  assert.is(up.t3a, 10.1);
  assert.is(up.t4a, 16.7, '2 h of 12 h');
  // The day before: none of it.
  assert.is((await uptime('2026-12-03', '2026-12-03')).t3a, 0);
});

test('a province whose reports were stored before this fix: such a device is online since the console first heard of it', () => {
  const dir = tempDir('loa-reports-');
  new Reports(dir).close();
  // The file as that version left it: statuses without presence records.
  const before = new Database(join(dir, 'reports.sqlite'));
  const since = '2026-12-04T03:00:00.000Z';
  before.prepare('INSERT INTO device_status (device, online, since, last_seen) VALUES (?, 1, ?, ?), (?, 0, ?, ?)').run('a', since, since, 'b', since, since);
  before.pragma('user_version = 3');
  before.close();
  const after = new Reports(dir);
  try {
    assert.equal(after.presence('a'), [{ at: since, online: 1 }]);
    assert.equal(after.presence('b'), []);
  } finally {
    after.close();
  }
});

test.run();
