import { command, int, str, type Invocation } from '../lib/cli.js';
import { buildConfig, envLayer, readConfigFile, type Layer } from '../lib/config.js';
import { BrokerConfig, BROKER_ENV } from '../broker/config.js';
import { DATA_OPTION, untilSignal } from './common.js';
import { defaultDataDir } from '../lib/paths.js';

export function brokerConfigFrom(inv: Invocation): BrokerConfig {
  const v = inv.values;
  const flags: Layer = {};
  if (typeof v.data === 'string') flags.data = v.data;
  if (v.host !== undefined) flags.host = v.host;
  if (v.port !== undefined) flags.port = int('port', v.port, { min: 0, max: 65535 });
  if (v['tls-cert'] !== undefined || v['tls-key'] !== undefined || v['tls-port'] !== undefined) {
    flags.tls = {
      ...(v['tls-cert'] !== undefined ? { cert: v['tls-cert'] } : {}),
      ...(v['tls-key'] !== undefined ? { key: v['tls-key'] } : {}),
      ...(v['tls-host'] !== undefined ? { host: v['tls-host'] } : {}),
      ...(v['tls-port'] !== undefined ? { port: int('tls-port', v['tls-port'], { min: 0, max: 65535 }) } : {}),
    };
  }
  if (v['ws-port'] !== undefined || v['ws-host'] !== undefined) {
    flags.ws = {
      ...(v['ws-port'] !== undefined ? { port: int('ws-port', v['ws-port'], { min: 0, max: 65535 }) } : {}),
      ...(v['ws-host'] !== undefined ? { host: v['ws-host'] } : {}),
    };
  }
  if (v.redis !== undefined) flags.redis = v.redis;
  if (v['allow-anonymous']) flags.allowAnonymous = true;
  if (v['max-packet'] !== undefined) flags.limits = { maxPacketBytes: int('max-packet', v['max-packet'], { min: 1024, max: 256 * 1024 * 1024 }) };
  const file = str(v.config);
  return buildConfig(BrokerConfig, [{ data: defaultDataDir(inv.io.env) }, file ? readConfigFile(file) : {}, envLayer(inv.io.env, BROKER_ENV), flags], 'broker', 'Fix these in the --config file, the LOA_BROKER_* variables or the flags (see docs/operations.md).');
}

export const broker = command({
  summary: 'run the province MQTT broker (aedes): authentication, topic ACL, limits, persistence',
  options: {
    ...DATA_OPTION,
    config: { type: 'string', placeholder: 'FILE', description: 'JSON config file (see docs/operations.md); flags override it' },
    host: { type: 'string', placeholder: 'ADDR', description: 'MQTT/TCP listen address (default: 127.0.0.1)' },
    port: { type: 'string', short: 'p', placeholder: 'PORT', description: 'MQTT/TCP port, 0 for any free port (default: 1883)' },
    'tls-cert': { type: 'string', placeholder: 'FILE', description: 'PEM certificate: enables MQTT over TLS' },
    'tls-key': { type: 'string', placeholder: 'FILE', description: 'PEM private key of the certificate' },
    'tls-host': { type: 'string', placeholder: 'ADDR', description: 'TLS listen address (default: 0.0.0.0)' },
    'tls-port': { type: 'string', placeholder: 'PORT', description: 'TLS port (default: 8883)' },
    'ws-port': { type: 'string', placeholder: 'PORT', description: 'enable MQTT over WebSocket (path /mqtt) on this port' },
    'ws-host': { type: 'string', placeholder: 'ADDR', description: 'WebSocket listen address (default: 127.0.0.1)' },
    redis: { type: 'string', placeholder: 'URL', description: 'share state through Redis (redis://host:port/db) so several brokers serve one province' },
    'allow-anonymous': { type: 'boolean', description: 'DEVELOPMENT ONLY: accept clients without credentials, with every right' },
    'max-packet': { type: 'string', placeholder: 'BYTES', description: 'largest MQTT packet accepted (default: 524288)' },
  },
  help: 'Environment: LOA_DATA, LOA_BROKER_HOST, LOA_BROKER_PORT, LOA_BROKER_TLS_CERT, LOA_BROKER_TLS_KEY, LOA_BROKER_TLS_PORT,\nLOA_BROKER_WS_PORT, LOA_BROKER_REDIS, LOA_BROKER_MAX_PACKET, LOA_LOG_LEVEL. Stops cleanly on SIGINT/SIGTERM.',
  run: async (inv) => {
    const config = brokerConfigFrom(inv);
    // Loaded here, not at the top: `loa provision …` on a technician's laptop should not pay for aedes.
    const [{ ProvinceBroker }, { createLogger }] = await Promise.all([import('../broker/server.js'), import('../lib/log.js')]);
    const log = createLogger({ name: 'loa-broker' });
    const { Registry } = await import('../provisioning/registry.js');
    const registry = Registry.open(config.data);
    const b = new ProvinceBroker({ config, principals: registry, log });
    // Listen for SIGTERM/SIGINT before starting, so a stop request during start-up still stops cleanly.
    const stopping = untilSignal();
    try {
      await b.start();
    } catch (e) {
      registry.close();
      throw e;
    }
    const sig = await stopping;
    log.info({ signal: sig }, 'stopping');
    await b.stop();
    registry.close();
    return 0;
  },
});
