import { z } from 'zod';
import { MAX_TOPIC_LEVELS } from '../protocol/topics.js';

// The broker's configuration. Every limit has a default fit for one province
// (a few thousand clusters on 3G/4G) and can be changed in the config file,
// through LOA_BROKER_* variables or flags (see `loa broker --help`).

const Host = z.string().min(1);
const Port = z.int().min(0).max(65535);

export const BrokerConfig = z.strictObject({
  data: z.string().min(1),
  host: Host.default('127.0.0.1'),
  port: Port.default(1883),
  tls: z
    .strictObject({ host: Host.default('0.0.0.0'), port: Port.default(8883), cert: z.string().min(1), key: z.string().min(1) })
    .nullable()
    .default(null),
  ws: z
    .strictObject({ host: Host.default('127.0.0.1'), port: Port.default(8083), path: z.string().startsWith('/').default('/mqtt') })
    .nullable()
    .default(null),
  /** redis://host:port/db — shared pub/sub and persistence for several broker processes. */
  redis: z.url({ protocol: /^rediss?$/ }).nullable().default(null),
  allowAnonymous: z.boolean().default(false),
  /** Name of this process among several sharing Redis; defaults to host:pid. */
  id: z.string().min(1).max(64).optional(),
  registryPollMs: z.int().min(100).max(60_000).default(2000),
  limits: z
    .strictObject({
      /** Largest MQTT packet accepted; larger ones end the connection before their payload is read. */
      maxPacketBytes: z.int().min(1024).max(256 * 1024 * 1024).default(512 * 1024),
      /** A client that does not drain its socket for this long is disconnected (slow consumer). */
      drainTimeoutMs: z.int().min(0).default(30_000),
      /** Packets queued per client while its CONNECT is being authenticated. */
      queueLimit: z.int().min(1).max(10_000).default(64),
      /** Inbound QoS 2 messages awaiting PUBREL per client. */
      maxInflightInbound: z.int().min(1).max(65_535).default(64),
      maxTopicLevels: z.int().min(1).max(100).default(MAX_TOPIC_LEVELS + 2),
      /** A socket that has not completed CONNECT within this time is closed. */
      connectTimeoutMs: z.int().min(500).default(10_000),
      /** Longest keepalive a client may ask for (longer ones are refused at CONNECT); 3G/4G agents use a few minutes. */
      keepaliveLimitSec: z.int().min(10).max(65_535).default(1200),
      /** A client that asked for no keepalive (0) is disconnected after this long without traffic either way. */
      idleTimeoutSec: z.int().min(1).max(7 * 24 * 3600).default(1800),
      maxConnections: z.int().min(1).default(20_000),
      /** QoS 1 messages kept per persistent session (offline, or online and not acknowledging); newer ones are dropped. */
      sessionQueueMax: z.int().min(10).default(10_000),
      connectRate: z
        .strictObject({
          globalPerSec: z.number().positive().default(300),
          globalBurst: z.int().min(1).default(600),
          perAddressPerSec: z.number().positive().default(50),
          perAddressBurst: z.int().min(1).default(200),
        })
        .prefault({}),
    })
    .prefault({}),
});
export type BrokerConfig = z.output<typeof BrokerConfig>;

export const BROKER_ENV = {
  LOA_DATA: { path: 'data', kind: 'string' },
  LOA_BROKER_HOST: { path: 'host', kind: 'string' },
  LOA_BROKER_PORT: { path: 'port', kind: 'int' },
  LOA_BROKER_TLS_CERT: { path: 'tls.cert', kind: 'string' },
  LOA_BROKER_TLS_KEY: { path: 'tls.key', kind: 'string' },
  LOA_BROKER_TLS_PORT: { path: 'tls.port', kind: 'int' },
  LOA_BROKER_WS_PORT: { path: 'ws.port', kind: 'int' },
  LOA_BROKER_REDIS: { path: 'redis', kind: 'string' },
  LOA_BROKER_MAX_PACKET: { path: 'limits.maxPacketBytes', kind: 'int' },
} as const;
