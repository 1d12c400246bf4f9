import { randomBytes, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeProvince, type TestProvince } from './province.js';
import { startBroker, type RunningBroker } from './broker.js';
import { tempDir } from './tmp.js';
import { AssetLibrary, type LibraryAsset } from '../../provisioning/library.js';
import { Reports } from '../../provisioning/reports.js';
import { ProvinceServices } from '../../provisioning/province-services.js';
import { setTarget, type TargetSpec } from '../../provisioning/targets.js';
import { DeviceConfig } from '../../device/config.js';
import { Agent } from '../../device/agent.js';
import { silentLogger, type Logger } from '../../lib/log.js';

// A province (registry, library, reports, broker, console services) and the
// means to run real agents against it, in this process, on loopback.

export interface SyncFixture {
  p: TestProvince;
  broker: RunningBroker;
  library: AssetLibrary;
  reports: Reports;
  services: ProvinceServices;
  addAsset(bytes: number, title?: string): LibraryAsset;
  setTarget(device: string, spec: Partial<TargetSpec>): number;
  deviceConfig(id: string, opts?: { url?: string; data?: string; agent?: Record<string, unknown> }): DeviceConfig;
  agent(id: string, opts?: { url?: string; data?: string; agent?: Record<string, unknown>; log?: Logger }): Agent;
  restartBroker(): Promise<void>;
  stop(): Promise<void>;
}

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
export const fileSha = (path: string) => sha256(readFileSync(path));

export async function syncFixture(opts: { log?: Logger; beacons?: boolean } = {}): Promise<SyncFixture> {
  const p = await makeProvince();
  let broker = await startBroker(p.registry, p.dir, { log: opts.log });
  const library = new AssetLibrary(p.registry);
  const reports = new Reports(p.dir);
  const services = new ProvinceServices({ registry: p.registry, library, reports, broker: { url: broker.url, username: 'console', password: p.accounts.console!.secret }, log: opts.log ?? silentLogger(), pollMs: 100, ...(opts.beacons === false ? { beaconMs: null } : {}) });
  await services.start();
  const agents: Agent[] = [];
  const f: SyncFixture = {
    p,
    get broker() {
      return broker;
    },
    library,
    reports,
    services,
    addAsset: (bytes, title) => library.add(randomBytes(bytes), { title: title ?? `Bản tin ${bytes}`, mime: 'audio/ogg', durationMs: Math.max(1, Math.round(bytes / 4)), actor: 'test' }),
    setTarget: (device, spec) => {
      const v = setTarget(p.registry, library, device, { assets: [], reserve: [], programmes: [], rules: [], ...spec }, 'test');
      services.publishTargets(); // the registry poll does not see this process's own writes
      return v;
    },
    deviceConfig: (id, o = {}) => {
      const b = p.devices[id]!.bundle;
      return DeviceConfig.parse({
        ...b,
        broker: { ...b.broker, urls: [o.url ?? broker.url] },
        data: o.data ?? join(tempDir('loa-dev-'), id),
        agent: { audio: { output: 'null' }, relay: { driver: 'noop' }, panel: { port: 0, bind: ['127.0.0.1'] }, heartbeatSec: 5, responseTimeoutMs: 1500, retryMs: 300, logAckTimeoutMs: 2000, backoff: { minMs: 100, maxMs: 1000 }, keepaliveSec: 10, ...(o.agent ?? {}) },
      });
    },
    agent: (id, o = {}) => {
      const a = new Agent({ config: f.deviceConfig(id, o), log: o.log ?? opts.log ?? silentLogger() });
      agents.push(a);
      return a;
    },
    restartBroker: async () => {
      const port = broker.port;
      await broker.stop();
      broker = await startBroker(p.registry, p.dir, { log: opts.log, config: { port } });
    },
    stop: async () => {
      for (const a of agents) await a.stop().catch(() => {});
      await services.stop();
      await broker.stop();
      reports.close();
      p.registry.close();
    },
  };
  return f;
}
