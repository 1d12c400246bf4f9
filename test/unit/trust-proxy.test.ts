import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseTrustedProxies } from '../../lib/trust-proxy.js';
import { LoaError } from '../../protocol/errors.js';

test('trusted proxies: repeated and comma-listed addresses and CIDR blocks, IPv4 and IPv6', () => {
  assert.equal(parseTrustedProxies(['127.0.0.1, ::1', '10.0.0.0/8', 'fd00::/8', '127.0.0.1']), ['127.0.0.1', '::1', '10.0.0.0/8', 'fd00::/8']);
  assert.equal(parseTrustedProxies([]), []);
});

test('trusted proxies: every bad entry is named', () => {
  try {
    parseTrustedProxies(['10.0.0.0/33,proxy.lan', '::1/129', '1.2.3.4/8/1', 'true']);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, LoaError);
    assert.is((e as LoaError).code, 'LOA_E_CONFIG_INVALID');
    assert.equal((e as LoaError).context.entries, ['10.0.0.0/33', 'proxy.lan', '::1/129', '1.2.3.4/8/1', 'true']);
  }
});

test.run();
