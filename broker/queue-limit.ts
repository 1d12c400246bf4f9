import type { Logger } from '../lib/log.js';

// A cap on the QoS 1 messages the broker keeps per persistent session.
// aedes stores every QoS 1 message for every persistent subscriber until it
// is acknowledged, without a limit: a console down for a day would come back
// to millions of queued log batches. Beyond `max`, new messages for that
// session are dropped and counted. That is safe in Loa because nothing relies
// on the broker's queue for completeness: devices resend unacknowledged log
// batches and chunk requests, and the console resends targets and emergencies.
//
// Counts start at zero when the broker starts (messages queued before a
// restart are not counted), so the cap is approximate by up to one restart's
// worth of backlog; it bounds growth, which is what it is for.

interface Sub {
  clientId: string;
}

interface AsyncPersistence {
  outgoingEnqueueCombi(subs: Sub[], packet: unknown): Promise<unknown>;
  outgoingClearMessageId(client: { id: string }, packet: unknown): Promise<unknown>;
}

export interface QueueLimitStats {
  dropped: number;
  sessions: number;
}

export function limitOfflineQueues(persistence: unknown, max: number, log: Logger): QueueLimitStats {
  const p = persistence as AsyncPersistence;
  const counts = new Map<string, number>();
  const warned = new Set<string>();
  const stats: QueueLimitStats = { dropped: 0, sessions: 0 };
  const enqueue = p.outgoingEnqueueCombi.bind(p);
  const clear = p.outgoingClearMessageId.bind(p);
  p.outgoingEnqueueCombi = (subs, packet) => {
    if (!subs || subs.length === 0) return enqueue(subs, packet);
    const keep: Sub[] = [];
    for (const s of subs) {
      const n = counts.get(s.clientId) ?? 0;
      if (n >= max) {
        stats.dropped++;
        if (!warned.has(s.clientId)) {
          warned.add(s.clientId);
          log.warn({ clientId: s.clientId, max }, 'session queue full: newer QoS 1 messages for it are dropped until it catches up');
        }
        continue;
      }
      counts.set(s.clientId, n + 1);
      keep.push(s);
    }
    stats.sessions = counts.size;
    return enqueue(keep, packet);
  };
  p.outgoingClearMessageId = async (client, packet) => {
    const r = await clear(client, packet);
    if (r) {
      const n = (counts.get(client.id) ?? 0) - 1;
      if (n <= 0) {
        counts.delete(client.id);
        warned.delete(client.id);
      } else counts.set(client.id, n);
    }
    return r;
  };
  return stats;
}
