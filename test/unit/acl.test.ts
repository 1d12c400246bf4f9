import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canPublish, canSubscribe, canReceive, type AclPrincipal } from '../../protocol/acl.js';
import { topics } from '../../protocol/topics.js';

const zones: Record<string, string> = { t3a: 'qn/dak-ha/thon-3', t3b: 'qn/dak-ha/thon-3', l1a: 'qn/son-tay/lang-1' };
const zoneOf = (id: string) => zones[id] ?? null;
const device: AclPrincipal = { name: 't3a', role: 'device', zone: 'qn/dak-ha/thon-3' };
const consoleP: AclPrincipal = { name: 'console', role: 'console', zone: null };
const dispatch: AclPrincipal = { name: 'dispatch', role: 'dispatch', zone: null };
const communeDispatch: AclPrincipal = { name: 'd-dak-ha', role: 'dispatch', zone: 'qn/dak-ha' };
const viewer: AclPrincipal = { name: 'v', role: 'viewer', zone: 'qn/son-tay' };

const pub = (p: AclPrincipal, t: string, retain = false) => canPublish(p, t, retain, zoneOf).ok;
const sub = (p: AclPrincipal, f: string) => canSubscribe(p, f, zoneOf).ok;

test('a device publishes only its own status, state, telemetry, chunk requests and log', () => {
  assert.ok(pub(device, topics.status('t3a'), true));
  assert.ok(pub(device, topics.state('t3a'), true));
  assert.ok(pub(device, topics.telemetry('t3a')));
  assert.ok(pub(device, topics.chunkRequest('t3a')));
  assert.ok(pub(device, topics.log('t3a')));
  assert.not.ok(pub(device, topics.telemetry('t3a'), true), 'telemetry must not be retained');
  assert.not.ok(pub(device, topics.status('t3b')), "another device's status");
  assert.not.ok(pub(device, topics.target('t3a')), 'its own target');
  assert.not.ok(pub(device, topics.chunkResponse('t3a')));
  assert.not.ok(pub(device, topics.zoneEmergency('qn')));
  assert.not.ok(pub(device, topics.deviceEmergency('t3a')));
  assert.not.ok(pub(device, topics.time()));
  assert.not.ok(pub(device, 'anything/else'));
});

test('a device subscribes to exact topics of its own and its lineage only', () => {
  for (const t of [topics.target('t3a'), topics.chunkResponse('t3a'), topics.logAck('t3a'), topics.deviceEmergency('t3a'), topics.zoneEmergency('qn'), topics.zoneEmergency('qn/dak-ha'), topics.zoneEmergency('qn/dak-ha/thon-3'), topics.zoneLive('qn/dak-ha'), topics.time()]) {
    assert.ok(sub(device, t), t);
  }
  for (const t of [topics.target('t3b'), topics.zoneEmergency('qn/son-tay'), topics.zoneEmergency('qn/dak-ha/thon-4'), topics.status('t3a'), topics.log('t3a'), '#', 'loa/v1/d/t3a/#', 'loa/v1/d/+/target', topics.deviceEmergency('t3b')]) {
    assert.not.ok(sub(device, t), t);
  }
  const r = canSubscribe(device, '#', zoneOf);
  assert.ok(!r.ok && /exact topics/.test(r.reason));
});

test('only dispatch publishes emergencies; a commune dispatcher only in its commune', () => {
  assert.ok(pub(dispatch, topics.zoneEmergency('qn')));
  assert.ok(pub(dispatch, topics.deviceEmergency('l1a')));
  assert.not.ok(pub(dispatch, topics.zoneEmergency('qn'), true), 'emergencies are never retained');
  assert.not.ok(pub(consoleP, topics.zoneEmergency('qn')));
  assert.not.ok(pub(viewer, topics.zoneEmergency('qn/son-tay')));
  assert.ok(pub(communeDispatch, topics.zoneEmergency('qn/dak-ha/thon-3')));
  assert.not.ok(pub(communeDispatch, topics.zoneEmergency('qn')));
  assert.not.ok(pub(communeDispatch, topics.zoneEmergency('qn/son-tay')));
  assert.ok(pub(communeDispatch, topics.deviceEmergency('t3a')));
  assert.not.ok(pub(communeDispatch, topics.deviceEmergency('l1a')));
  assert.not.ok(pub(communeDispatch, topics.deviceEmergency('unknown')));
  assert.not.ok(pub(dispatch, topics.target('t3a')));
});

test('only the console publishes target states, chunks, log acks, live control and time; it may subscribe to #', () => {
  for (const t of [topics.chunkResponse('t3a'), topics.logAck('t3a'), topics.zoneLive('qn'), topics.time()]) assert.ok(pub(consoleP, t), t);
  assert.ok(pub(consoleP, topics.target('t3a'), true));
  assert.ok(sub(consoleP, '#'));
  assert.ok(sub(consoleP, 'loa/v1/d/+/log'));
  assert.not.ok(sub(dispatch, '#'));
  assert.not.ok(sub(viewer, '#'));
  assert.not.ok(pub(consoleP, topics.status('t3a')));
});

test('people watch status, state and telemetry, and receive only their zone', () => {
  assert.ok(sub(viewer, 'loa/v1/d/+/telemetry'));
  assert.ok(sub(viewer, topics.status('l1a')));
  assert.not.ok(sub(viewer, topics.status('t3a')), 'exact topic outside the zone');
  assert.not.ok(sub(viewer, 'loa/v1/d/+/log'));
  assert.not.ok(sub(viewer, 'loa/v1/d/+/target'));
  assert.ok(canReceive(viewer, topics.telemetry('l1a'), zoneOf));
  assert.not.ok(canReceive(viewer, topics.telemetry('t3a'), zoneOf));
  assert.ok(canReceive(consoleP, topics.telemetry('t3a'), zoneOf));
  assert.ok(sub(dispatch, 'loa/v1/d/+/status'));
  assert.ok(sub(dispatch, 'loa/v1/d/+/log'));
});

test('anonymous development clients may do anything', () => {
  const anon: AclPrincipal = { name: 'x', role: 'console', zone: null, anonymous: true };
  assert.ok(pub(anon, topics.zoneEmergency('qn')));
  assert.ok(pub(anon, 'free/topic'));
});

test.run();
