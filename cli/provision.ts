import { existsSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { command, group, str, UsageError, type Invocation } from '../lib/cli.js';
import { commitTempFile, writeTempFile } from '../lib/fs-atomic.js';
import { LoaError } from '../protocol/errors.js';
import { BUNDLE_FORMAT, DeviceBundle } from '../protocol/bundle.js';
import { ACCOUNT_ROLES, Registry, type DeviceRow } from '../provisioning/registry.js';
import { actor, DATA_OPTION, dataDir, JSON_OPTION, withRegistry } from './common.js';
import { mosquittoAcl } from '../provisioning/mosquitto.js';
import { rotatePanelPassword } from '../provisioning/targets.js';

// `loa provision …`: the technician's commands against the province registry.
// Each validates its input first, changes the registry in one transaction and
// prints one line of reason on failure; files are written atomically.

function print(inv: Invocation, json: unknown, text: string): void {
  inv.io.out(inv.values.json ? JSON.stringify(json, null, 2) : text);
}

function bundleFor(reg: Registry, device: DeviceRow, secret: string, panelHash: string): DeviceBundle {
  const urls = reg.brokerUrls();
  const ca = reg.brokerCa();
  return DeviceBundle.parse({
    format: BUNDLE_FORMAT,
    issuedAt: new Date().toISOString(),
    device: { id: device.id, zone: device.zone },
    broker: { urls, username: device.id, password: secret, ca },
    keys: { console: reg.publicKeys('console'), dispatch: reg.publicKeys('dispatch') },
    panel: { passwordHash: panelHash },
  });
}

function checkOut(inv: Invocation): string {
  const out = str(inv.values.out);
  if (!out) throw new UsageError('--out FILE is required: where to write the device bundle');
  const path = resolve(out);
  if (existsSync(path)) throw new LoaError('LOA_E_FILE_EXISTS', `${path} already exists; choose another --out or remove it first`, { context: { path } });
  return path;
}

/** Registers, then writes the bundle atomically; if the bundle cannot be written the registration is undone, so neither is left without the other. */
async function withBundle<T extends { device: DeviceRow; secret: string; panelHash: string }>(reg: Registry, path: string, register: () => Promise<T>, undo: (r: T) => void): Promise<T> {
  const r = await register();
  let tmp: string | null = null;
  try {
    tmp = writeTempFile(path, JSON.stringify(bundleFor(reg, r.device, r.secret, r.panelHash), null, 2) + '\n', 0o600);
    commitTempFile(tmp, path);
    return r;
  } catch (e) {
    if (tmp) rmSync(tmp, { force: true });
    undo(r);
    throw new LoaError('LOA_E_DATA_DIR', `cannot write the bundle ${path}: ${(e as Error).message}; nothing was registered`, { cause: e });
  }
}

const init = command({
  summary: 'create the province registry and the console and dispatch signing keys',
  options: {
    ...DATA_OPTION,
    broker: { type: 'string', multiple: true, placeholder: 'URL', description: 'broker URL written into device bundles, repeatable (mqtt://, mqtts://, ws://, wss://)', default: undefined },
    ca: { type: 'string', placeholder: 'FILE', description: 'CA certificate (PEM) of the broker\'s TLS certificate, copied into bundles' },
    ...JSON_OPTION,
  },
  help: 'Run once per province. The private keys are written to DIR/keys/{console,dispatch}.key (mode 0600); keep the dispatch key with the dispatch service.',
  run: (inv) => {
    const urls = (inv.values.broker as string[] | undefined) ?? ['mqtt://127.0.0.1:1883'];
    for (const u of urls) {
      let ok = false;
      try {
        ok = /^(mqtt|mqtts|ws|wss):$/.test(new URL(u).protocol);
      } catch {
        ok = false;
      }
      if (!ok) throw new UsageError(`--broker "${u}" is not an mqtt://, mqtts://, ws:// or wss:// URL`);
    }
    const dir = dataDir(inv);
    const reg = Registry.init(dir, { brokerUrls: urls, caFile: str(inv.values.ca) });
    const keys = { console: reg.publicKeys('console').length, dispatch: reg.publicKeys('dispatch').length };
    reg.close();
    print(inv, { dir, brokerUrls: urls, keys }, `registry created in ${dir}\nsigning keys: ${reg.privateKeyFile('console')}, ${reg.privateKeyFile('dispatch')}\nbroker URLs for devices: ${urls.join(', ')}`);
    return 0;
  },
});

const zoneAdd = command({
  summary: 'add a zone (province, commune, village …) under an existing parent',
  args: [{ name: 'PATH', description: 'zone path of lower-case ASCII slugs, e.g. quang-ngai/dak-ha/thon-3' }],
  options: { ...DATA_OPTION, name: { type: 'string', placeholder: 'NAME', description: 'the zone\'s name as people write it, e.g. "Thôn 3"' }, ...JSON_OPTION },
  run: (inv) => {
    const name = str(inv.values.name);
    if (!name) throw new UsageError('--name is required, e.g. --name "Thôn 3"');
    return withRegistry(inv, async (reg) => {
      const z = reg.addZone(inv.positionals[0]!, name, actor());
      print(inv, z, `zone ${z.path} "${z.name}" added`);
      return 0;
    });
  },
});

const zoneList = command({
  summary: 'list the zone tree',
  options: { ...DATA_OPTION, ...JSON_OPTION },
  run: (inv) => {
    return withRegistry(inv, async (reg) => {
      const zones = reg.zones();
      const devices = reg.devicesIn(null);
      print(inv, zones, zones.map((z) => `${'  '.repeat(z.path.split('/').length - 1)}${z.path}  "${z.name}"  ${devices.filter((d) => d.zone === z.path && d.status === 'active').length || ''}`.trimEnd()).join('\n') || '(no zones)');
      return 0;
    });
  },
});

const deviceAdd = command({
  summary: 'register a device in a leaf zone and write its config bundle',
  options: {
    ...DATA_OPTION,
    zone: { type: 'string', placeholder: 'PATH', description: 'leaf zone the cluster stands in' },
    id: { type: 'string', placeholder: 'ID', description: 'device id (default: the zone\'s last part and a random suffix)' },
    out: { type: 'string', placeholder: 'FILE', description: 'where to write the bundle (mode 0600; must not exist)' },
    ...JSON_OPTION,
  },
  help: 'Prints the local panel password once; it is stored only as a hash. Hand it to the commune radio operator.',
  run: async (inv) => {
    const zone = str(inv.values.zone);
    if (!zone) throw new UsageError('--zone PATH is required');
    const path = checkOut(inv);
    return withRegistry(inv, async (reg) => {
      const r = await withBundle(reg, path, () => reg.addDevice({ zone, id: str(inv.values.id), actor: actor() }), (x) => reg.undoAddDevice(x.device.id));
      print(inv, { device: r.device, bundle: path, panelPassword: r.panelPassword }, `device ${r.device.id} registered in ${r.device.zone}\nbundle: ${path}\nlocal panel password (shown once): ${r.panelPassword}`);
      return 0;
    });
  },
});

const deviceList = command({
  summary: 'list devices, optionally within a zone subtree',
  options: { ...DATA_OPTION, zone: { type: 'string', placeholder: 'PATH', description: 'only devices in this zone subtree' }, ...JSON_OPTION },
  run: (inv) => {
    return withRegistry(inv, async (reg) => {
      const ds = reg.devicesIn(str(inv.values.zone) ?? null);
      print(inv, ds, ds.map((d) => `${d.id}\t${d.zone}\t${d.status}${d.rotatedAt ? `\trotated ${d.rotatedAt}` : ''}`).join('\n') || '(no devices)');
      return 0;
    });
  },
});

const deviceRevoke = command({
  summary: 'revoke a device: the broker refuses it from now on and disconnects it',
  args: [{ name: 'ID', description: 'device id' }],
  options: { ...DATA_OPTION, ...JSON_OPTION },
  run: (inv) => {
    return withRegistry(inv, async (reg) => {
      const d = reg.revokeDevice(inv.positionals[0]!, actor());
      print(inv, d, `device ${d.id} revoked`);
      return 0;
    });
  },
});

const deviceRotate = command({
  summary: 'give a device a new broker secret and write a new bundle; the old secret is refused at once',
  args: [{ name: 'ID', description: 'device id' }],
  options: { ...DATA_OPTION, out: { type: 'string', placeholder: 'FILE', description: 'where to write the new bundle (must not exist)' }, ...JSON_OPTION },
  run: async (inv) => {
    const path = checkOut(inv);
    return withRegistry(inv, async (reg) => {
      const id = inv.positionals[0]!;
      // The rotation commits first: if writing the bundle then fails, the
      // device is locked out until the next rotate, which is the safe side.
      const r = await reg.rotateDevice(id, actor());
      let tmp: string | null = null;
      try {
        tmp = writeTempFile(path, JSON.stringify(bundleFor(reg, r.device, r.secret, r.panelHash), null, 2) + '\n', 0o600);
        commitTempFile(tmp, path);
      } catch (e) {
        if (tmp) rmSync(tmp, { force: true });
        throw new LoaError('LOA_E_DATA_DIR', `secret rotated but the bundle ${path} could not be written (${(e as Error).message}); run rotate again with another --out`, { cause: e });
      }
      print(inv, { device: r.device, bundle: path }, `device ${id}: new secret issued, old secret refused from now on\nbundle: ${path}`);
      return 0;
    });
  },
});

const devicePanelPassword = command({
  summary: 'give a device a new local panel password (printed once); the device takes it with its next target state',
  args: [{ name: 'ID', description: 'device id' }],
  options: { ...DATA_OPTION, ...JSON_OPTION },
  help: 'The running console republishes the target within seconds; open panel sessions on the device end when it arrives.\nA device without a target yet keeps the bundle\'s password until its first target.',
  run: (inv) =>
    withRegistry(inv, async (reg) => {
      const r = await rotatePanelPassword(reg, inv.positionals[0]!, actor());
      print(inv, { device: r.device, panelPassword: r.panelPassword, targetVersion: r.targetVersion }, `device ${r.device.id}: new local panel password (shown once): ${r.panelPassword}\n${r.targetVersion === null ? 'the device has no target yet: it keeps the bundle\'s password until its first one' : `target version ${r.targetVersion} carries it to the device`}`);
      return 0;
    }),
});

const userAdd = command({
  summary: 'add an account: console or dispatch services, or people using the console',
  args: [{ name: 'NAME', description: 'account name (lower-case ASCII slug)' }],
  options: {
    ...DATA_OPTION,
    role: { type: 'string', placeholder: 'ROLE', description: `one of ${ACCOUNT_ROLES.join(', ')}` },
    zone: { type: 'string', placeholder: 'PATH', description: 'limit the account to this zone subtree (dispatch and people)' },
    'password-file': { type: 'string', placeholder: 'FILE', description: 'read the password from FILE (default: generate one and print it once)' },
    ...JSON_OPTION,
  },
  run: async (inv) => {
    const role = str(inv.values.role);
    if (!role) throw new UsageError(`--role is required: one of ${ACCOUNT_ROLES.join(', ')}`);
    const zone = str(inv.values.zone);
    if (zone && role === 'console') throw new UsageError('the console account serves the whole province; it takes no --zone');
    let secret: string | undefined;
    const pf = str(inv.values['password-file']);
    if (pf) {
      try {
        secret = readFileSync(pf, 'utf8').replace(/\r?\n$/, '');
      } catch (e) {
        throw new LoaError('LOA_E_CONFIG_INVALID', `cannot read ${pf}: ${(e as Error).message}`, { cause: e });
      }
    }
    return withRegistry(inv, async (reg) => {
      const r = await reg.addAccount({ name: inv.positionals[0]!, role, zone, secret, actor: actor() });
      print(inv, { account: r.account, ...(pf ? {} : { password: r.secret }) }, `account ${r.account.name} (${r.account.role}${r.account.zone ? `, ${r.account.zone}` : ''}) added${pf ? '' : `\npassword (shown once): ${r.secret}`}`);
      return 0;
    });
  },
});

const userList = command({
  summary: 'list accounts',
  options: { ...DATA_OPTION, ...JSON_OPTION },
  run: (inv) => {
    return withRegistry(inv, async (reg) => {
      const as = reg.accounts();
      print(inv, as, as.map((a) => `${a.name}\t${a.role}\t${a.zone ?? '(province)'}\t${a.status}`).join('\n') || '(no accounts)');
      return 0;
    });
  },
});

const mosquittoAclCmd = command({
  summary: 'print the topic ACL as a Mosquitto acl_file, for provinces that run Mosquitto',
  options: { ...DATA_OPTION },
  help: 'Mosquitto cannot enforce everything `loa broker` does (client id = device id, retain rules, payload limits, zone scopes\nof accounts); see docs/operations.md.',
  run: (inv) => {
    return withRegistry(inv, async (reg) => {
      inv.io.out(mosquittoAcl(reg));
      return 0;
    });
  },
});

export const provision = group('technician provisioning: registry, zones, devices, accounts', {
  init,
  zone: group('zones of the province', { add: zoneAdd, list: zoneList }),
  device: group('village clusters', { add: deviceAdd, list: deviceList, revoke: deviceRevoke, rotate: deviceRotate, 'panel-password': devicePanelPassword }),
  user: group('accounts of services and people', { add: userAdd, list: userList }),
  'mosquitto-acl': mosquittoAclCmd,
});
