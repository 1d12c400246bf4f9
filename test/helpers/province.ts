import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { Registry } from '../../provisioning/registry.js';
import { BUNDLE_FORMAT, DeviceBundle } from '../../protocol/bundle.js';
import { tempDir } from './tmp.js';

// A provisioned province in a temporary directory, built through the same
// Registry the CLI uses. scrypt runs at 2^12 here so suites stay quick; the
// broker verifies whatever cost the stored hash names.

export interface TestProvince {
  dir: string;
  registry: Registry;
  devices: Record<string, { secret: string; zone: string; panelPassword: string; bundle: DeviceBundle; bundleFile: string }>;
  accounts: Record<string, { secret: string; role: string }>;
}

export async function makeProvince(opts: {
  zones?: [string, string][];
  devices?: [id: string, zone: string][];
  accounts?: [name: string, role: string, zone?: string][];
  brokerUrls?: string[];
  dir?: string;
} = {}): Promise<TestProvince> {
  const dir = opts.dir ?? tempDir('loa-prov-');
  const registry = Registry.init(dir, { brokerUrls: opts.brokerUrls ?? ['mqtt://127.0.0.1:1883'] }, { scryptLogN: 12 });
  const zones = opts.zones ?? [
    ['qn', 'Quảng Ngãi'],
    ['qn/dak-ha', 'Đắk Hà'],
    ['qn/dak-ha/thon-3', 'Thôn 3'],
    ['qn/dak-ha/thon-4', 'Thôn 4'],
    ['qn/son-tay', 'Sơn Tây'],
    ['qn/son-tay/lang-1', 'Làng 1'],
  ];
  for (const [p, n] of zones) registry.addZone(p, n);
  const p: TestProvince = { dir, registry, devices: {}, accounts: {} };
  for (const [id, zone] of opts.devices ?? [['t3a', 'qn/dak-ha/thon-3'], ['t3b', 'qn/dak-ha/thon-3'], ['t4a', 'qn/dak-ha/thon-4'], ['l1a', 'qn/son-tay/lang-1']]) {
    const r = await registry.addDevice({ zone, id });
    const bundle = DeviceBundle.parse({
      format: BUNDLE_FORMAT,
      issuedAt: new Date().toISOString(),
      device: { id, zone },
      broker: { urls: registry.brokerUrls(), username: id, password: r.secret, ca: null },
      keys: { console: registry.publicKeys('console'), dispatch: registry.publicKeys('dispatch') },
      panel: { passwordHash: r.panelHash },
    });
    const bundleFile = join(dir, `${id}.bundle.json`);
    writeFileSync(bundleFile, JSON.stringify(bundle), { mode: 0o600 });
    p.devices[id] = { secret: r.secret, zone, panelPassword: r.panelPassword, bundle, bundleFile };
  }
  for (const [name, role, zone] of opts.accounts ?? [['console', 'console'], ['dispatch', 'dispatch'], ['dispatch-dak-ha', 'dispatch', 'qn/dak-ha'], ['viewer-son-tay', 'viewer', 'qn/son-tay']]) {
    const r = await registry.addAccount({ name, role, zone });
    p.accounts[name] = { secret: r.secret, role };
  }
  return p;
}
