import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import levelPersistence from 'aedes-persistence-level';
import redisPersistence from 'aedes-persistence-redis';
import mqemitterRedis from 'mqemitter-redis';
import { Redis } from 'ioredis';
import { LoaError } from '../protocol/errors.js';

// Where the broker keeps retained messages, subscriptions, offline sessions
// with their queued QoS1 messages, and wills.
// - embedded (default): LevelDB under <data>/broker-db; nothing to install,
//   survives restarts; one broker process per directory (LevelDB's lock).
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

export async function openLevelStore(dataDir: string): Promise<BrokerStore> {
  const dir = join(dataDir, 'broker-db');
  mkdirSync(dir, { recursive: true });
  const db = new Level(dir);
  try {
    await db.open();
  } catch (e) {
    const locked = /lock/i.test(String((e as { cause?: unknown }).cause ?? e));
    throw new LoaError('LOA_E_DATA_DIR', locked ? `${dir} is in use by another broker process; give each broker its own --data, or use --redis to share state` : `cannot open ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const persistence = (levelPersistence as unknown as (db: Level) => DestroyablePersistence)(db);
  return {
    persistence,
    mq: undefined,
    describe: `level:${dir}`,
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
