import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqttPacket from 'mqtt-packet';
import { PacketSizeGuard } from '../../broker/guard.js';

const gen = (p: object) => mqttPacket.generate(p as never);
const connect = gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'c', keepalive: 60 });
const publish = (n: number) => gen({ cmd: 'publish', topic: 't', payload: Buffer.alloc(n), qos: 0, retain: false, dup: false });

test('packets within the limit pass, byte by byte or all at once', () => {
  const stream = Buffer.concat([connect, publish(100), publish(1000), gen({ cmd: 'pingreq' })]);
  assert.is(new PacketSizeGuard(2048).feed(stream), null);
  const g = new PacketSizeGuard(2048);
  for (let i = 0; i < stream.length; i++) assert.is(g.feed(stream.subarray(i, i + 1)), null);
});

test('an oversized packet is caught from its header alone', () => {
  const big = publish(5000);
  const g = new PacketSizeGuard(4096);
  assert.is(g.feed(connect), null);
  // Only the fixed header (type byte and 2-byte length) is fed: the verdict comes before any payload.
  const v = g.feed(big.subarray(0, 3));
  assert.equal(v, { kind: 'packet-too-large', size: big.length, max: 4096 });
});

test('a first packet that is not CONNECT and a 5-byte length are refused', () => {
  assert.equal(new PacketSizeGuard(4096).feed(Buffer.from([0x47, 0x45, 0x54])), { kind: 'not-connect', firstByte: 0x47 });
  const g = new PacketSizeGuard(1 << 30);
  assert.equal(g.feed(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])), { kind: 'malformed-length' });
});

test.run();
