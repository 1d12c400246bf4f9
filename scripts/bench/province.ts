import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProvinceBroker } from '../../broker/server.js';
import { BrokerConfig } from '../../broker/config.js';
import { Registry } from '../../provisioning/registry.js';
import { AssetLibrary } from '../../provisioning/library.js';
import { Reports } from '../../provisioning/reports.js';
import { ProvinceServices } from '../../provisioning/province-services.js';
import { setTarget, type TargetSpec } from '../../provisioning/targets.js';
import { DeviceConfig } from '../../device/config.js';
import { BUNDLE_FORMAT, DeviceBundle } from '../../protocol/bundle.js';
import { silentLogger } from '../../lib/log.js';

// The benchmarks' own province: registry, library, broker and console
// services on loopback, built from the production modules the way `loa
// setup` and `loa broker` build them. Benchmarks measure the product, so
// they do not lean on test fixtures (test/helpers may change with the tests).

const made: string[] = [];

export function benchDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

export function removeBenchDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * A temporary HOME whose ~/.asoundrc makes ALSA's "default" PCM the file
 * plugin (raw PCM into `<dir>/out/pcm.raw` through the null PCM): the real
 * ALSA path without a sound card. Hand `dir` to the sink as HOME.
 */
export function benchAlsaHome(): { dir: string; outputs(): Buffer[] } {
  const dir = benchDir('loa-bench-alsa-');
  const out = join(dir, 'out');
  mkdirSync(out);
  writeFileSync(join(dir, '.asoundrc'), `pcm.!default {\n  type file\n  slave.pcm "null"\n  file "${join(out, 'pcm.raw')}"\n  format "raw"\n  truncate false\n}\n`);
  // Each open writes the next free name (pcm.raw, pcm.raw.0001, …): every child's output is kept apart.
  const seq = (n: string) => Number(/\.(\d+)$/.exec(n)?.[1] ?? 0);
  const outputs = () =>
    readdirSync(out)
      .sort((a, b) => seq(a) - seq(b))
      .map((n) => readFileSync(join(out, n)))
      .filter((b) => b.length > 0);
  return { dir, outputs };
}

export interface BenchProvince {
  registry: Registry;
  library: AssetLibrary;
  brokerUrl: string;
  /** The secrets of the province accounts (console, dispatch). */
  accounts: Record<'console' | 'dispatch', string>;
  deviceConfig(id: string, opts?: { data?: string; agent?: Record<string, unknown> }): DeviceConfig;
  setTarget(device: string, spec: Partial<TargetSpec>): number;
  stop(): Promise<void>;
}

const ZONES: [string, string][] = [
  ['qn', 'Quảng Ngãi'],
  ['qn/dak-ha', 'Đắk Hà'],
  ['qn/dak-ha/thon-3', 'Thôn 3'],
  ['qn/dak-ha/thon-4', 'Thôn 4'],
  ['qn/son-tay', 'Sơn Tây'],
  ['qn/son-tay/lang-1', 'Làng 1'],
];
const DEVICES: [string, string][] = [
  ['t3a', 'qn/dak-ha/thon-3'],
  ['t3b', 'qn/dak-ha/thon-3'],
  ['t4a', 'qn/dak-ha/thon-4'],
  ['l1a', 'qn/son-tay/lang-1'],
];

export async function benchProvince(): Promise<BenchProvince> {
  const dir = benchDir('loa-bench-prov-');
  // scrypt at 2^12: the broker verifies whatever cost the stored hash names, and start-up is not what is measured.
  const registry = Registry.init(dir, { brokerUrls: ['mqtt://127.0.0.1:1883'] }, { scryptLogN: 12 });
  for (const [p, n] of ZONES) registry.addZone(p, n);
  const bundles: Record<string, DeviceBundle> = {};
  for (const [id, zone] of DEVICES) {
    const r = await registry.addDevice({ zone, id });
    bundles[id] = DeviceBundle.parse({
      format: BUNDLE_FORMAT,
      issuedAt: new Date().toISOString(),
      device: { id, zone },
      broker: { urls: registry.brokerUrls(), username: id, password: r.secret, ca: null },
      keys: { console: registry.publicKeys('console'), dispatch: registry.publicKeys('dispatch') },
      panel: { passwordHash: r.panelHash },
    });
  }
  const accounts = {
    console: (await registry.addAccount({ name: 'console', role: 'console' })).secret,
    dispatch: (await registry.addAccount({ name: 'dispatch', role: 'dispatch' })).secret,
  };
  const log = silentLogger();
  const broker = new ProvinceBroker({ config: BrokerConfig.parse({ data: dir, host: '127.0.0.1', port: 0, registryPollMs: 200 }), principals: registry, log });
  const brokerUrl = `mqtt://127.0.0.1:${(await broker.start()).tcp.port}`;
  const library = new AssetLibrary(registry);
  const reports = new Reports(dir);
  const services = new ProvinceServices({ registry, library, reports, broker: { url: brokerUrl, username: 'console', password: accounts.console }, log, pollMs: 100 });
  await services.start();
  return {
    registry,
    library,
    brokerUrl,
    accounts,
    deviceConfig: (id, o = {}) => {
      const b = bundles[id];
      if (!b) throw new Error(`bench province has no device ${id}`);
      return DeviceConfig.parse({
        ...b,
        broker: { ...b.broker, urls: [brokerUrl] },
        data: o.data ?? join(benchDir('loa-bench-dev-'), id),
        agent: { audio: { output: 'null' }, relay: { driver: 'noop' }, panel: { port: 0, bind: ['127.0.0.1'] }, heartbeatSec: 5, responseTimeoutMs: 1500, retryMs: 300, logAckTimeoutMs: 2000, backoff: { minMs: 100, maxMs: 1000 }, keepaliveSec: 10, ...(o.agent ?? {}) },
      });
    },
    setTarget: (device, spec) => {
      const v = setTarget(registry, library, device, { assets: [], reserve: [], programmes: [], rules: [], ...spec }, 'bench');
      services.publishTargets(); // the registry poll does not see this process's own writes
      return v;
    },
    stop: async () => {
      await services.stop();
      await broker.stop();
      reports.close();
      registry.close();
    },
  };
}
