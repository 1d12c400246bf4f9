import type { Test } from 'uvu';
import { makeProvince, type TestProvince } from './province.js';
import { cleanupTempDirs } from './tmp.js';
import { ProvinceBroker } from '../../broker/server.js';
import { BrokerConfig } from '../../broker/config.js';
import type { Registry } from '../../provisioning/registry.js';
import { silentLogger, type Logger } from '../../lib/log.js';

export interface RunningBroker {
  broker: ProvinceBroker;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** An in-process `loa broker` on a free loopback port. */
export async function startBroker(registry: Registry, dataDir: string, opts: { log?: Logger; config?: Record<string, unknown> } = {}): Promise<RunningBroker> {
  const config = BrokerConfig.parse({ data: dataDir, host: '127.0.0.1', port: 0, registryPollMs: 200, ...(opts.config ?? {}) });
  const broker = new ProvinceBroker({ config, principals: registry, log: opts.log ?? silentLogger() });
  const addr = await broker.start();
  return { broker, port: addr.tcp.port, url: `mqtt://127.0.0.1:${addr.tcp.port}`, stop: () => broker.stop() };
}

/**
 * The fixture many integration files share: a test province (makeProvince)
 * and an in-process broker over it, made before the file's tests and
 * removed after them. Read `fx.p` and `fx.b` inside the tests.
 */
export function useProvinceBroker(t: Test): { readonly p: TestProvince; readonly b: RunningBroker } {
  const fx = {} as { p: TestProvince; b: RunningBroker };
  t.before(async () => {
    fx.p = await makeProvince();
    fx.b = await startBroker(fx.p.registry, fx.p.dir);
  });
  t.after(async () => {
    await fx.b?.stop();
    fx.p?.registry.close();
    cleanupTempDirs();
  });
  return fx;
}
