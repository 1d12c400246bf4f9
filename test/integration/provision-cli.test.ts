import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runLoa } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { DeviceBundle } from '../../protocol/bundle.js';
import { Registry } from '../../provisioning/registry.js';
import { verifySecret } from '../../lib/secrets.js';

// The technician's commands, run as the real `loa` binary.

let dir: string;
const env = () => ({ LOA_DATA: dir, LOA_SCRYPT_LOGN: '12' });
const loa = (...args: string[]) => runLoa(args, env());

test.before(async () => {
  dir = tempDir();
  const init = await loa('provision', 'init', '--broker', 'mqtt://127.0.0.1:1883', '--broker', 'mqtt://10.0.0.2:1883');
  assert.is(init.code, 0, init.stderr);
  for (const [p, n] of [['qn', 'Quảng Ngãi'], ['qn/dak-ha', 'Đắk Hà'], ['qn/dak-ha/thon-3', 'Thôn 3']]) {
    const r = await loa('provision', 'zone', 'add', p!, '--name', n!);
    assert.is(r.code, 0, r.stderr);
  }
});
test.after(cleanupTempDirs);

test('device add writes a 0600 bundle that parses and whose secrets verify', async () => {
  const out = join(dir, 'thon-3-a.json');
  const r = await loa('provision', 'device', 'add', '--zone', 'qn/dak-ha/thon-3', '--id', 'thon-3-a', '--out', out, '--json');
  assert.is(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout) as { panelPassword: string };
  assert.is(statSync(out).mode & 0o777, 0o600);
  const bundle = DeviceBundle.parse(JSON.parse(readFileSync(out, 'utf8')));
  assert.equal(bundle.device, { id: 'thon-3-a', zone: 'qn/dak-ha/thon-3' });
  assert.equal(bundle.broker.urls, ['mqtt://127.0.0.1:1883', 'mqtt://10.0.0.2:1883']);
  const reg = Registry.open(dir);
  assert.ok(await verifySecret(bundle.broker.password, reg.principal('thon-3-a')!.secretHash));
  assert.ok(await verifySecret(printed.panelPassword, bundle.panel.passwordHash));
  assert.equal(bundle.keys.dispatch, reg.publicKeys('dispatch'));
  reg.close();
});

test('device panel-password prints a new password once; only its hash is kept, and the old one stops verifying', async () => {
  const r = await loa('provision', 'device', 'panel-password', 'thon-3-a', '--json');
  assert.is(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout) as { panelPassword: string; targetVersion: number | null };
  assert.is(printed.targetVersion, null, 'no target yet: the bundle password stays until the first one');
  const reg = Registry.open(dir);
  const hash = reg.panelHash('thon-3-a')!;
  assert.ok(await verifySecret(printed.panelPassword, hash));
  const bundle = DeviceBundle.parse(JSON.parse(readFileSync(join(dir, 'thon-3-a.json'), 'utf8')));
  assert.is.not(hash, bundle.panel.passwordHash);
  assert.is(reg.auditLog(5).some((a) => a.action === 'device.panel-password'), true);
  reg.close();
  const unknown = await loa('provision', 'device', 'panel-password', 'khong-co');
  assert.is(unknown.code, 1);
  assert.match(unknown.stderr, /LOA_E_DEVICE_NOT_FOUND/);
});

test('failures are one line with a code, exit non-zero, and leave nothing behind', async () => {
  const taken = join(dir, 'taken.json');
  writeFileSync(taken, 'keep me');
  const cases: [string[], RegExp, number][] = [
    [['provision', 'device', 'add', '--zone', 'qn/dak-ha/thon-3', '--id', 'dev-x', '--out', taken], /LOA_E_FILE_EXISTS/, 1],
    [['provision', 'device', 'add', '--zone', 'qn/dak-ha', '--out', join(dir, 'x.json')], /LOA_E_ZONE_NOT_LEAF/, 1],
    [['provision', 'device', 'add', '--zone', 'qn/dak-ha/thon-3'], /--out FILE is required/, 2],
    [['provision', 'zone', 'add', 'qn/Bad Path', '--name', 'x'], /LOA_E_ZONE_PATH_INVALID/, 1],
    [['provision', 'user', 'add', 'ops', '--role', 'root'], /LOA_E_ROLE_INVALID/, 1],
    [['provision', 'device', 'revoke', 'ghost'], /LOA_E_DEVICE_NOT_FOUND/, 1],
    [['provision', 'init'], /LOA_E_REGISTRY_EXISTS/, 1],
    [['provision', 'device', 'add', '--bogus'], /Unknown option '--bogus'/, 2],
    [['provision', 'nothing'], /unknown command "nothing"/, 2],
  ];
  for (const [args, re, code] of cases) {
    const r = await loa(...args);
    assert.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.split('\n')[0]!, re);
  }
  assert.is(readFileSync(taken, 'utf8'), 'keep me');
  const reg = Registry.open(dir);
  assert.is(reg.device('dev-x'), null, 'refused device not registered');
  reg.close();
  assert.not.ok(existsSync(join(dir, 'x.json')));
});

test('a zone-less registry says how to create one', async () => {
  const r = await runLoa(['provision', 'zone', 'list'], { LOA_DATA: tempDir() });
  assert.is(r.code, 1);
  assert.match(r.stderr, /LOA_E_REGISTRY_MISSING: no registry in .*; create one with "loa provision init --data /);
});

test('rotate writes a new bundle and the old secret no longer verifies; revoke and list', async () => {
  const out = join(dir, 'rot.json');
  assert.is((await loa('provision', 'device', 'add', '--zone', 'qn/dak-ha/thon-3', '--id', 'rot-me', '--out', out)).code, 0);
  const old = DeviceBundle.parse(JSON.parse(readFileSync(out, 'utf8'))).broker.password;
  const out2 = join(dir, 'rot2.json');
  const r = await loa('provision', 'device', 'rotate', 'rot-me', '--out', out2);
  assert.is(r.code, 0, r.stderr);
  const fresh = DeviceBundle.parse(JSON.parse(readFileSync(out2, 'utf8'))).broker.password;
  const reg = Registry.open(dir);
  const hash = reg.principal('rot-me')!.secretHash;
  assert.ok(await verifySecret(fresh, hash));
  assert.not.ok(await verifySecret(old, hash));
  reg.close();
  assert.is((await loa('provision', 'device', 'revoke', 'rot-me')).code, 0);
  const list = await loa('provision', 'device', 'list', '--zone', 'qn/dak-ha');
  assert.match(list.stdout, /rot-me\tqn\/dak-ha\/thon-3\trevoked/);
});

test('user add prints the password once; list shows roles and zones', async () => {
  const r = await loa('provision', 'user', 'add', 'dispatch-dak-ha', '--role', 'dispatch', '--zone', 'qn/dak-ha');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /password \(shown once\): [A-Za-z0-9_-]{43}/);
  const pw = join(dir, 'pw.txt');
  writeFileSync(pw, 'một mật khẩu dài đủ\n');
  assert.is((await loa('provision', 'user', 'add', 'editor-1', '--role', 'editor', '--password-file', pw)).code, 0);
  const reg = Registry.open(dir);
  assert.ok(await verifySecret('một mật khẩu dài đủ', reg.principal('editor-1')!.secretHash));
  reg.close();
  const list = await loa('provision', 'user', 'list');
  assert.match(list.stdout, /dispatch-dak-ha\tdispatch\tqn\/dak-ha\tactive/);
});

test.run();
