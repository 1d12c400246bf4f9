import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Registry } from '../../provisioning/registry.js';
import { verifySecret } from '../../lib/secrets.js';
import { isLoaError, type ErrorCode } from '../../protocol/errors.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

test.after(cleanupTempDirs);

async function rejects(fn: () => unknown, code: ErrorCode): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.ok(isLoaError(e, code), `expected ${code}, got ${String(e)}`);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

function fresh(): Registry {
  const r = Registry.init(tempDir(), { brokerUrls: ['mqtt://127.0.0.1:1883'] }, { scryptLogN: 12 });
  r.addZone('qn', 'Quảng Ngãi');
  r.addZone('qn/dak-ha', 'Đắk Hà');
  r.addZone('qn/dak-ha/thon-3', 'Thôn 3');
  return r;
}

test('init writes the registry and 0600 signing keys, and refuses to run twice', async () => {
  const dir = tempDir();
  const r = Registry.init(dir, { brokerUrls: ['mqtts://loa.example.vn:8883'] });
  assert.is(r.publicKeys('console').length, 1);
  assert.is(r.publicKeys('dispatch').length, 1);
  assert.is.not(r.publicKeys('console')[0], r.publicKeys('dispatch')[0]);
  for (const k of ['console', 'dispatch'] as const) assert.is(statSync(r.privateKeyFile(k)).mode & 0o777, 0o600);
  assert.equal(r.brokerUrls(), ['mqtts://loa.example.vn:8883']);
  r.close();
  await rejects(() => Registry.init(dir, { brokerUrls: [] }), 'LOA_E_REGISTRY_EXISTS');
  await rejects(() => Registry.open(tempDir()), 'LOA_E_REGISTRY_MISSING');
});

test('a failed init leaves nothing behind', async () => {
  const dir = tempDir();
  await rejects(() => Registry.init(dir, { brokerUrls: [], caFile: join(dir, 'missing-ca.pem') }), 'LOA_E_TLS_CONFIG');
  assert.not.ok(existsSync(join(dir, 'registry.sqlite')));
  assert.not.ok(existsSync(join(dir, 'keys', 'console.key')));
});

test('zone names keep Vietnamese exactly, in NFC; trees of any depth up to 8', async () => {
  const r = fresh();
  r.addZone('qn/dak-ha/thon-3/xom-a', 'Xóm Ả'.normalize('NFD'));
  assert.is(r.zone('qn/dak-ha/thon-3/xom-a')!.name, 'Xóm Ả');
  assert.is(r.zone('qn/dak-ha')!.name, 'Đắk Hà');
  let path = 'qn/dak-ha/thon-3/xom-a';
  for (const s of ['b', 'c', 'd', 'e']) r.addZone((path = `${path}/${s}`), s.toUpperCase());
  await rejects(() => r.addZone(`${path}/f`, 'F'), 'LOA_E_ZONE_PATH_INVALID');
  await rejects(() => r.addZone('qn/dak-ha', 'again'), 'LOA_E_ZONE_EXISTS');
  await rejects(() => r.addZone('qn/missing/x', 'x'), 'LOA_E_ZONE_PARENT_MISSING');
  await rejects(() => r.addZone('Qn/X', 'x'), 'LOA_E_ZONE_PATH_INVALID');
  await rejects(() => r.addZone('qn/empty', '  '), 'LOA_E_ZONE_NAME_INVALID');
  r.close();
});

test('devices go in leaf zones; their secrets are stored only as scrypt hashes', async () => {
  const r = fresh();
  const { device, secret, panelPassword } = await r.addDevice({ zone: 'qn/dak-ha/thon-3' });
  assert.match(device.id, /^thon-3-[0-9a-f]{6}$/);
  // What the file holds, read as anyone holding a copy of it would.
  const file = new Database(join(r.dir, 'registry.sqlite'), { readonly: true });
  const row = file.prepare('SELECT secret_hash, panel_hash FROM devices WHERE id = ?').get(device.id) as { secret_hash: string; panel_hash: string };
  assert.match(row.secret_hash, /^scrypt\$/);
  assert.not.ok(JSON.stringify(file.prepare('SELECT * FROM devices').all()).includes(secret));
  file.close();
  assert.ok(await verifySecret(secret, row.secret_hash));
  assert.ok(await verifySecret(panelPassword, row.panel_hash));
  assert.not.ok(await verifySecret(secret + 'x', row.secret_hash));
  await rejects(() => r.addDevice({ zone: 'qn/dak-ha' }), 'LOA_E_ZONE_NOT_LEAF');
  await rejects(() => r.addDevice({ zone: 'qn/nowhere' }), 'LOA_E_ZONE_NOT_FOUND');
  await rejects(() => r.addDevice({ zone: 'qn/dak-ha/thon-3', id: device.id }), 'LOA_E_NAME_TAKEN');
  await rejects(() => r.addDevice({ zone: 'qn/dak-ha/thon-3', id: 'Bad/Id' }), 'LOA_E_ID_INVALID');
  // A zone with devices cannot become a parent.
  await rejects(() => r.addZone('qn/dak-ha/thon-3/xom', 'Xóm'), 'LOA_E_ZONE_NOT_LEAF');
  assert.is(r.devicesIn(null).length, 1, 'no half-written rows from the refusals');
  r.close();
});

test('revoke and rotate change what the broker sees, and are audited', async () => {
  const r = fresh();
  const { device, secret } = await r.addDevice({ zone: 'qn/dak-ha/thon-3', id: 'dev-1' });
  const before = r.principal('dev-1')!.secretHash;
  const rot = await r.rotateDevice('dev-1');
  assert.is.not(rot.secret, secret);
  assert.is.not(r.principal('dev-1')!.secretHash, before);
  r.revokeDevice(device.id);
  assert.is(r.principal('dev-1')!.active, false);
  await rejects(() => r.revokeDevice('dev-1'), 'LOA_E_DEVICE_REVOKED');
  await rejects(() => r.rotateDevice('dev-1'), 'LOA_E_DEVICE_REVOKED');
  await rejects(() => r.rotateDevice('ghost'), 'LOA_E_DEVICE_NOT_FOUND');
  const actions = r.auditLog().map((a) => a.action);
  for (const a of ['device.add', 'device.rotate', 'device.revoke', 'zone.add', 'registry.init']) assert.ok(actions.includes(a), a);
  r.close();
});

test('accounts: roles, zone scope, one namespace with devices', async () => {
  const r = fresh();
  await r.addDevice({ zone: 'qn/dak-ha/thon-3', id: 'same-name' });
  await rejects(() => r.addAccount({ name: 'same-name', role: 'viewer' }), 'LOA_E_NAME_TAKEN');
  await rejects(() => r.addAccount({ name: 'x', role: 'superuser' }), 'LOA_E_ROLE_INVALID');
  await rejects(() => r.addAccount({ name: 'x', role: 'viewer', zone: 'qn/none' }), 'LOA_E_ZONE_NOT_FOUND');
  await rejects(() => r.addAccount({ name: 'x', role: 'viewer', secret: 'short' }), 'LOA_E_CONFIG_INVALID');
  const { account } = await r.addAccount({ name: 'dispatch-dak-ha', role: 'dispatch', zone: 'qn/dak-ha' });
  assert.equal({ role: account.role, zone: account.zone }, { role: 'dispatch', zone: 'qn/dak-ha' });
  assert.equal(r.principal('dispatch-dak-ha')!.kind, 'account');
  assert.is(r.accounts().length, 1);
  r.close();
});

test.run();
