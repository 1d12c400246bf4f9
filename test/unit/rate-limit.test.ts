import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionRateLimiter } from '../../broker/rate-limit.js';

test('per-address burst, then refill over time; global limit across addresses', () => {
  const l = new ConnectionRateLimiter({ globalPerSec: 0.001, globalBurst: 4, perAddressPerSec: 1, perAddressBurst: 3 }, 0);
  assert.equal([l.admit('a', 0), l.admit('a', 0), l.admit('a', 0), l.admit('a', 0)], [null, null, null, 'address']);
  assert.is(l.admit('a', 1000), null, 'one token back after a second');
  assert.is(l.admit('b', 1000), 'global', 'global burst of 4 spent');
});

test.run();
