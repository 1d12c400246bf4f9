import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { brokerEnding } from '../../broker/refusals.js';

// Which errors aedes reports mean the broker ended a connection (a line at
// warn with a reason), and which mean the network did (debug only).

const err = (message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), extra);

test('the peer or the network ending a connection is no refusal', () => {
  assert.is(brokerEnding(err('read ECONNRESET', { code: 'ECONNRESET' })), null);
  assert.is(brokerEnding(err('write EPIPE', { code: 'EPIPE' })), null);
  assert.is(brokerEnding(err('Premature close', { code: 'ERR_STREAM_PREMATURE_CLOSE' })), null);
  assert.is(brokerEnding(err('connection closed')), null);
});

test('aedes\' limits and timeouts are named', () => {
  const cases: [string, string][] = [
    ['drain timeout', 'slow-consumer'],
    ['keep alive timeout', 'keepalive-timeout'],
    ['connect did not arrive in time', 'connect-timeout'],
    ['topic has too many levels', 'topic-too-deep'],
    ['+ is not allowed in PUBLISH', 'invalid-topic'],
    ['# is not allowed in PUBLISH', 'invalid-topic'],
    ['empty topic not allowed in PUBLISH', 'invalid-topic'],
    ['impossible to SUBSCRIBE to an empty topic', 'invalid-topic'],
    ['# is only allowed in SUBSCRIBE in the last position', 'invalid-topic'],
    ['+ is only allowed in UNSUBSCRIBE between /', 'invalid-topic'],
    ['Client queue limit reached', 'queue-limit'],
    ['maxInflightInbound exceeded: 64 inbound QoS 2 messages already awaiting PUBREL', 'inflight-limit'],
    ['Invalid protocol', 'second-connect'],
  ];
  for (const [message, reason] of cases) assert.equal(brokerEnding(err(message)), { reason, detail: message }, message);
});

test('a CONNACK refusal made inside aedes keeps its return code', () => {
  assert.equal(brokerEnding(err('unacceptable protocol version', { errorCode: 1 })), { reason: 'connect-refused', detail: 'unacceptable protocol version', returnCode: 1 });
});

test('a parser error is a protocol error; a coded error that is not the network is the broker\'s', () => {
  assert.equal(brokerEnding(err('Invalid protocolId')), { reason: 'protocol-error', detail: 'Invalid protocolId' });
  assert.equal(brokerEnding(err('database is locked', { code: 'SQLITE_BUSY' })), { reason: 'broker-error', detail: 'SQLITE_BUSY: database is locked' });
});

test.run();
