import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { topics, parseTopic, deviceSubscriptions, filterWithin, topicMatches, MAX_TOPIC_LEVELS } from '../../protocol/topics.js';
import { zoneLineage, zoneContains, isZonePath, hasForbiddenIdChars } from '../../protocol/ids.js';

test('every builder round-trips through parseTopic', () => {
  assert.equal(parseTopic(topics.target('t3a')), { kind: 'device', deviceId: 't3a', sub: 'target' });
  assert.equal(parseTopic(topics.chunkRequest('t3a')), { kind: 'device', deviceId: 't3a', sub: 'chunk/req' });
  assert.equal(parseTopic(topics.logAck('t3a')), { kind: 'device', deviceId: 't3a', sub: 'log/ack' });
  assert.equal(parseTopic(topics.zoneEmergency('qn/dak-ha')), { kind: 'zone-emergency', zone: 'qn/dak-ha' });
  assert.equal(parseTopic(topics.deviceEmergency('t3a')), { kind: 'device-emergency', deviceId: 't3a' });
  assert.equal(parseTopic(topics.zoneLive('qn')), { kind: 'zone-live', zone: 'qn' });
  assert.equal(parseTopic(topics.time()), { kind: 'time' });
});

test('topics outside the contract do not parse', () => {
  for (const t of ['loa/v1/d/T3A/target', 'loa/v1/d/t3a/other', 'loa/v2/time', 'loa/v1/emergency/z/', 'loa/v1/emergency/z/a//b', 'loa/v1/d/t3a', 'x/loa/v1/time', '$SYS/x', 'loa/v1/emergency/d/a/b', 'loa/v1/emergency/z/a/b/c/d/e/f/g/h/i']) {
    assert.is(parseTopic(t), null, t);
  }
});

test('a device subscribes to its own topics, its zone lineage and the time beacon', () => {
  const subs = deviceSubscriptions('t3a', 'qn/dak-ha/thon-3');
  assert.ok(subs.includes('loa/v1/emergency/z/qn'));
  assert.ok(subs.includes('loa/v1/emergency/z/qn/dak-ha'));
  assert.ok(subs.includes('loa/v1/emergency/z/qn/dak-ha/thon-3'));
  assert.ok(subs.includes('loa/v1/d/t3a/target'));
  assert.ok(subs.includes('loa/v1/time'));
  assert.not.ok(subs.some((s) => s.includes('+') || s.includes('#')));
  assert.ok(subs.every((s) => s.split('/').length <= MAX_TOPIC_LEVELS));
});

test('zone helpers', () => {
  assert.equal(zoneLineage('a/b/c'), ['a', 'a/b', 'a/b/c']);
  assert.ok(zoneContains('a/b', 'a/b/c'));
  assert.ok(zoneContains('a/b', 'a/b'));
  assert.not.ok(zoneContains('a/b', 'a/bc'));
  assert.not.ok(isZonePath('A/b'));
  assert.not.ok(isZonePath('a/b/c/d/e/f/g/h/i'));
  assert.ok(hasForbiddenIdChars('a+b') && hasForbiddenIdChars('a#') && hasForbiddenIdChars('a/b') && hasForbiddenIdChars('a\u0000'));
  assert.not.ok(hasForbiddenIdChars('console:web'));
});

test('MQTT filter matching and containment (MQTT-4.7)', () => {
  assert.ok(topicMatches('loa/v1/d/+/status', 'loa/v1/d/x/status'));
  assert.ok(topicMatches('loa/#', 'loa'));
  assert.not.ok(topicMatches('loa/+', 'loa/a/b'));
  assert.ok(filterWithin('loa/v1/d/x/status', 'loa/v1/d/+/status'));
  assert.ok(filterWithin('loa/v1/d/+/status', 'loa/v1/d/+/status'));
  assert.not.ok(filterWithin('loa/v1/d/#', 'loa/v1/d/+/status'));
  assert.not.ok(filterWithin('loa/v1/d/+/+', 'loa/v1/d/+/status'));
  assert.ok(filterWithin('loa/v1/emergency/z/qn/+', 'loa/v1/emergency/z/#'));
  assert.not.ok(filterWithin('#', 'loa/v1/#'));
});

test.run();
