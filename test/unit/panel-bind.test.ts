import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NetworkInterfaceInfo } from 'node:os';
import { isPrivateAddress, resolveBind } from '../../device/panel/bind.js';
import { panelPasswordInput } from '../../lib/secrets.js';

// Where the panel listens is decided from the interface table: the LAN, never
// the cellular modem, never every address.

const v4 = (address: string, internal = false): NetworkInterfaceInfo => ({ address, family: 'IPv4', internal, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: `${address}/24` });
const v6 = (address: string): NetworkInterfaceInfo => ({ address, family: 'IPv6', internal: false, netmask: 'ffff:ffff:ffff:ffff::', mac: '00:00:00:00:00:00', cidr: `${address}/64`, scopeid: 0 });

const PI = {
  lo: [v4('127.0.0.1', true)],
  eth0: [v4('192.168.1.20'), v6('fe80::1')],
  wlan0: [v4('10.42.0.1'), v6('fd00::20')],
  // A 3G/4G modem with a carrier-grade NAT address: private-looking, but the WAN.
  wwan0: [v4('10.64.12.7')],
  ppp0: [v4('100.72.3.9')],
  usb0: [v4('192.168.8.100')],
  docker0: [v4('203.0.113.5')],
};

test('lan: loopback and the private addresses of non-modem interfaces', () => {
  assert.equal(resolveBind(['lan'], PI), { addresses: ['127.0.0.1', '192.168.1.20', '10.42.0.1', 'fd00::20'], missing: [] });
});

test('an interface by name, an address literal; unknown names and the wildcard are refused, never widened', () => {
  assert.equal(resolveBind(['eth0'], PI), { addresses: ['192.168.1.20'], missing: [] });
  assert.equal(resolveBind(['192.168.1.20', '127.0.0.1'], PI).addresses, ['192.168.1.20', '127.0.0.1']);
  assert.equal(resolveBind(['eth1', '0.0.0.0', '::'], PI), { addresses: [], missing: ['eth1', '0.0.0.0', '::'] });
});

test('private ranges', () => {
  for (const a of ['10.0.0.1', '172.16.0.1', '172.31.255.1', '192.168.0.1', '169.254.3.4', '127.0.0.1', '::1', 'fd12::1', 'fe80::1']) assert.ok(isPrivateAddress(a), a);
  for (const a of ['172.32.0.1', '8.8.8.8', '100.72.3.9', '2001:db8::1', '192.169.0.1']) assert.not.ok(isPrivateAddress(a), a);
});

test('a typed panel password: case, spaces and missing dashes forgiven; other passwords untouched', () => {
  assert.is(panelPasswordInput('Abcd efgh jkmn pqrs'), 'abcd-efgh-jkmn-pqrs');
  assert.is(panelPasswordInput(' abcdefghjkmnpqrs '), 'abcd-efgh-jkmn-pqrs');
  assert.is(panelPasswordInput('abcd-EFGH-jkmn-pqrs'), 'abcd-efgh-jkmn-pqrs');
  assert.is(panelPasswordInput('Mật khẩu riêng'), 'Mật khẩu riêng');
});

test.run();
