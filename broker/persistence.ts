import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SqlitePersistence } from './sqlite-persistence.js';
import redisPersistence from 'aedes-persistence-redis';
import mqemitterRedis from 'mqemitter-redis';
import { Redis } from 'ioredis';
import { LoaError } from '../protocol/errors.js';

// Where the broker keeps retained messages, subscriptions, offline sessions
// with their queued QoS1 messages, and wills.
// - embedded (default): SQLite in <data>/broker.sqlite (broker/sqlite-persistence.ts);
//   nothing to install, survives restarts; one broker process per directory.
// - redis: aedes-persistence-redis + mqemitter-redis; several broker
//   processes behind a TCP load balancer serve one province.

export interface BrokerStore {
  persistence: unknown;
  mq: unknown | undefined;
  describe: string;
  close(): Promise<void>;
}

/**
 * aedes 1.x sets a persistence up through its async `setup()`, which leaves
 * the callback wrapper's `ready` flag false; `destroy(cb)` would then wait for
 * a 'ready' that never comes. Called without a callback it returns a promise.
 */
interface DestroyablePersistence {
  destroy(): Promise<void>;
}

export async function openSqliteStore(dataDir: string): Promise<BrokerStore> {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'broker.sqlite');
  let persistence: SqlitePersistence;
  try {
    persistence = new SqlitePersistence(file, { exclusive: true, lightAcks: true });
  } catch (e) {
    const busy = /SQLITE_BUSY|database is locked/i.test(String((e as Error).message));
    throw new LoaError('LOA_E_DATA_DIR', busy ? `${file} is in use by another broker process; give each broker its own --data, or use --redis to share state` : `cannot open ${file}: ${(e as Error).message}`, { cause: e });
  }
  return {
    persistence,
    mq: undefined,
    describe: `sqlite:${file}`,
    close: async () => {
      await persistence.destroy();
    },
  };
}

export async function openRedisStore(url: string): Promise<BrokerStore> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000, retryStrategy: () => null });
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    probe.disconnect();
    throw new LoaError('LOA_E_REDIS', `cannot reach Redis at ${url}: ${(e as Error).message}`, { cause: e });
  }
  probe.disconnect();
  const conn = new Redis(url);
  // mqemitter-redis closes its connections with quit() and does not handle a
  // rejected quit (it happens when clients still disconnecting write after the
  // QUIT): give it connections whose quit() cannot take the process down.
  const quiet = (r: Redis) => {
    const quit = r.quit.bind(r);
    r.quit = (() => quit().catch(() => 'OK')) as typeof r.quit;
    return r;
  };
  const mq = (mqemitterRedis as unknown as (o: object) => { close(cb: () => void): void })({ pubConn: quiet(new Redis(url, { enableAutoPipelining: true })), subConn: quiet(new Redis(url, { enableAutoPipelining: true })) });
  const persistence = (redisPersistence as unknown as (o: object) => DestroyablePersistence)({ conn });
  return {
    persistence,
    mq,
    describe: `redis:${url.replace(/\/\/[^@]*@/, '//***@')}`,
    close: async () => {
      await persistence.destroy();
      conn.disconnect();
    },
  };
}
