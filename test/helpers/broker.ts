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
