import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { useProvinceBroker } from '../helpers/broker.js';
import { waitFor } from '../helpers/tmp.js';
import { MqttLink } from '../../device/link.js';
import { encodePayload } from '../../protocol/codec.js';
import { topics } from '../../protocol/topics.js';
import { silentLogger } from '../../lib/log.js';

// The agent's link says "offline, shutdown" on stop and waits for the
// broker's PUBACK, at most 2 s. That bound was a timer left pending after the
// PUBACK came, so every stopped agent held its process open 2 s more
// (`loa demo` lingered after Ctrl-C). What keeps a process alive is what
// Node lists in getActiveResourcesInfo().
const fx = useProvinceBroker(test);

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('stop() with a final status leaves no timer behind once the broker has acknowledged it', async () => {
  const before = timers();
  const link = new MqttLink({
    urls: [fx.b.url],
    clientId: 't3a',
    username: 't3a',
    password: fx.p.devices.t3a!.secret,
    ca: null,
    keepaliveSec: 30,
    connectTimeoutMs: 5000,
    backoff: { minMs: 100, maxMs: 1000 },
    will: { topic: topics.status('t3a'), payload: encodePayload('status', { state: 'offline', reason: 'will' }) },
    subscriptions: [],
    log: silentLogger(),
  });
  link.start();
  await waitFor(() => link.connected, { what: 'link up' });
  await link.stop({ topic: topics.status('t3a'), payload: encodePayload('status', { state: 'offline', reason: 'shutdown', at: new Date().toISOString() }) });
  assert.is(link.connected, false);
  assert.is(timers(), before, `timers keeping the process alive: ${process.getActiveResourcesInfo().join(', ')}`);
});

test.run();
