import { Readable } from 'node:stream';
import { deserialize, serialize } from 'node:v8';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';

// aedes persistence on one SQLite file: retained messages, subscriptions,
// the QoS 1/2 queues of persistent sessions, inbound QoS 2 state and wills.
//
// Why not aedes-persistence-level: every delivery to a persistent session
// (every village agent holds one) cost about six asynchronous LevelDB calls
// with msgpack, which capped fan-out to ~6,000 deliveries/s here. SQLite
// statements are synchronous and indexed; each run of writes within one tick
// of the event loop commits as a single transaction (group commit), and the
// WAL journal with synchronous=NORMAL survives a broker crash (a power cut
// may lose the last commits, like LevelDB's default unsynced writes).
//
// Subscriptions are small and read on every publish, so they also live in
// memory (a qlobber trie, as aedes' own memory persistence keeps them);
// queued packets and retained messages live only on disk.
//
// Semantics follow aedes-persistence's reference implementation
// (asyncPersistence.js), and test/contracts/broker-persistence.test.ts runs
// aedes-persistence's own abstract test suite against this class.

const require = createRequire(import.meta.url);
const QlobberSub = require('qlobber/aedes/qlobber-sub') as new (opts: object) => Trie;
const { QlobberTrue } = require('qlobber') as { QlobberTrue: new (opts: object) => { add(p: string): void; test(t: string): boolean } };
const Packet = require('aedes-packet') as new (p: object, broker?: object) => AnyPacket;

const QLOBBER_OPTIONS = { wildcard_one: '+', wildcard_some: '#', separator: '/' };

interface Trie {
  add(topic: string, v: object): void;
  remove(topic: string, v: object): void;
  match(topic: string): SubRecord[];
  subscriptionsCount: number;
}
type AnyPacket = Record<string, unknown> & { topic: string; payload: Buffer; brokerId?: string; brokerCounter?: number; messageId?: number; qos?: number };
interface SubRecord {
  clientId: string;
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}
interface Sub {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}
interface Client {
  id: string;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, packet BLOB NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS subscriptions (client_id TEXT NOT NULL, topic TEXT NOT NULL, record BLOB NOT NULL, PRIMARY KEY (client_id, topic)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS outgoing (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    broker_id TEXT,
    broker_counter INTEGER,
    message_id INTEGER,
    packet BLOB NOT NULL
  );
  CREATE INDEX IF NOT EXISTS outgoing_client ON outgoing(client_id, seq);
  CREATE INDEX IF NOT EXISTS outgoing_broker ON outgoing(client_id, broker_id, broker_counter);
  CREATE INDEX IF NOT EXISTS outgoing_message ON outgoing(client_id, message_id);
  CREATE TABLE IF NOT EXISTS incoming (client_id TEXT NOT NULL, message_id INTEGER NOT NULL, packet BLOB NOT NULL, PRIMARY KEY (client_id, message_id)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS wills (client_id TEXT PRIMARY KEY, broker_id TEXT NOT NULL, packet BLOB NOT NULL) WITHOUT ROWID;
`;

const pack = (v: object): Buffer => serialize(v);
const unpack = <T>(b: Buffer): T => deserialize(b) as T;

export class SqlitePersistence {
  readonly #db: Database.Database;
  readonly #trie: Trie = new QlobberSub(QLOBBER_OPTIONS);
  readonly #subs = new Map<string, Map<string, Omit<Sub, 'topic'>>>();
  readonly #s: Record<string, Statement>;
  #broker: { id: string } | null = null;
  #inTx = false;
  #destroyed = false;

  readonly #lightAcks: boolean;

  /**
   * `lightAcks`: outgoingClearMessageId returns the acknowledged entry's
   * identity (broker id, counter, message id) without decoding the stored
   * packet. aedes only passes that value to its 'ack' event, which Loa does
   * not use; decoding every acknowledged packet was a sixth of the broker's
   * work in persistent fan-out.
   */
  constructor(file: string, opts: { exclusive?: boolean; lightAcks?: boolean } = {}) {
    this.#lightAcks = opts.lightAcks ?? false;
    this.#db = new Database(file);
    try {
      if (opts.exclusive) {
        // One broker per file: hold the lock for the life of the process, and fail at once if another has it.
        this.#db.pragma('locking_mode = EXCLUSIVE');
        this.#db.pragma('busy_timeout = 200');
      } else this.#db.pragma('busy_timeout = 5000');
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      this.#db.exec(SCHEMA);
      if (opts.exclusive) this.#db.exec('BEGIN IMMEDIATE; COMMIT');
    } catch (e) {
      this.#db.close();
      throw e;
    }
    const p = (sql: string) => this.#db.prepare(sql);
    this.#s = {
      retainedPut: p('INSERT INTO retained (topic, packet) VALUES (?, ?) ON CONFLICT (topic) DO UPDATE SET packet = excluded.packet'),
      retainedDel: p('DELETE FROM retained WHERE topic = ?'),
      retainedGet: p('SELECT packet FROM retained WHERE topic = ?'),
      retainedAll: p('SELECT topic, packet FROM retained ORDER BY topic'),
      subPut: p('INSERT INTO subscriptions (client_id, topic, record) VALUES (?, ?, ?) ON CONFLICT (client_id, topic) DO UPDATE SET record = excluded.record'),
      subDel: p('DELETE FROM subscriptions WHERE client_id = ? AND topic = ?'),
      subDelClient: p('DELETE FROM subscriptions WHERE client_id = ?'),
      subAll: p('SELECT client_id, topic, record FROM subscriptions'),
      outPut: p('INSERT INTO outgoing (client_id, broker_id, broker_counter, message_id, packet) VALUES (?, ?, ?, NULL, ?)'),
      outByBroker: p('SELECT seq, message_id FROM outgoing WHERE client_id = ? AND broker_id = ? AND broker_counter = ? LIMIT 1'),
      outByMessage: p('SELECT seq, packet FROM outgoing WHERE client_id = ? AND message_id = ? ORDER BY seq LIMIT 1'),
      outByMessageLight: p('SELECT seq, broker_id, broker_counter FROM outgoing WHERE client_id = ? AND message_id = ? ORDER BY seq LIMIT 1'),
      outByMessageOtherBroker: p('SELECT seq FROM outgoing WHERE client_id = ? AND message_id = ? AND broker_id IS NOT ? ORDER BY seq LIMIT 1'),
      outSetMessage: p('UPDATE outgoing SET message_id = ? WHERE seq = ?'),
      outReplace: p('UPDATE outgoing SET broker_id = ?, broker_counter = ?, message_id = ?, packet = ? WHERE seq = ?'),
      outDel: p('DELETE FROM outgoing WHERE seq = ?'),
      outStream: p('SELECT packet, message_id FROM outgoing WHERE client_id = ? ORDER BY seq'),
      inPut: p('INSERT INTO incoming (client_id, message_id, packet) VALUES (?, ?, ?) ON CONFLICT (client_id, message_id) DO UPDATE SET packet = excluded.packet'),
      inGet: p('SELECT packet FROM incoming WHERE client_id = ? AND message_id = ?'),
      inDel: p('DELETE FROM incoming WHERE client_id = ? AND message_id = ?'),
      inDelClient: p('DELETE FROM incoming WHERE client_id = ?'),
      willPut: p('INSERT INTO wills (client_id, broker_id, packet) VALUES (?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET broker_id = excluded.broker_id, packet = excluded.packet'),
      willGet: p('SELECT packet FROM wills WHERE client_id = ?'),
      willDel: p('DELETE FROM wills WHERE client_id = ?'),
      willAll: p('SELECT packet FROM wills'),
    };
  }

  get broker(): { id: string } | null {
    return this.#broker;
  }

  async setup(broker: { id: string }): Promise<void> {
    this.#broker = broker;
    for (const row of this.#s.subAll!.all() as { client_id: string; topic: string; record: Buffer }[]) {
      this.#addSubInMemory(row.client_id, row.topic, unpack(row.record));
    }
  }

  /** Writes made within one tick commit together; reads see them at once (same connection). */
  #write(fn: () => void): void {
    if (!this.#inTx) {
      this.#db.exec('BEGIN IMMEDIATE');
      this.#inTx = true;
      setImmediate(() => this.#commit());
    }
    fn();
  }

  #commit(): void {
    if (!this.#inTx || this.#destroyed) return;
    this.#inTx = false;
    this.#db.exec('COMMIT');
  }

  // -------------------------------------------------------------- retained

  async storeRetained(pkt: AnyPacket): Promise<void> {
    const packet = { ...pkt };
    this.#write(() => {
      if (packet.payload.length === 0) this.#s.retainedDel!.run(packet.topic);
      else this.#s.retainedPut!.run(packet.topic, pack(packet));
    });
  }

  #retainedByPattern(pattern: string): AnyPacket[] {
    if (!pattern.includes('+') && !pattern.includes('#')) {
      const row = this.#s.retainedGet!.get(pattern) as { packet: Buffer } | undefined;
      return row ? [unpack<AnyPacket>(row.packet)] : [];
    }
    const q = new QlobberTrue(QLOBBER_OPTIONS);
    q.add(pattern);
    const out: AnyPacket[] = [];
    for (const row of this.#s.retainedAll!.iterate() as Iterable<{ topic: string; packet: Buffer }>) {
      if (q.test(row.topic)) out.push(unpack(row.packet));
    }
    return out;
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    return Readable.from(patterns.flatMap((p) => this.#retainedByPattern(p)));
  }

  createRetainedStream(pattern: string): Readable {
    return Readable.from(this.#retainedByPattern(pattern));
  }

  // ---------------------------------------------------------- subscriptions

  #addSubInMemory(clientId: string, topic: string, record: Omit<Sub, 'topic'>): void {
    let stored = this.#subs.get(clientId);
    if (!stored) {
      stored = new Map();
      this.#subs.set(clientId, stored);
    }
    const prior = stored.get(topic);
    if (record.qos > 0) this.#trie.add(topic, { clientId, topic, qos: record.qos, rh: record.rh, rap: record.rap, nl: record.nl });
    else if (prior && prior.qos > 0) this.#trie.remove(topic, { clientId, topic });
    stored.set(topic, record);
  }

  async addSubscriptions(client: Client, subs: Sub[]): Promise<void> {
    this.#write(() => {
      for (const sub of subs) {
        const record: Omit<Sub, 'topic'> = { qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
        if (sub.subscriptionIdentifier !== undefined) record.subscriptionIdentifier = sub.subscriptionIdentifier;
        this.#addSubInMemory(client.id, sub.topic, record);
        this.#s.subPut!.run(client.id, sub.topic, pack(record));
      }
    });
  }

  async removeSubscriptions(client: Client, topics: string[]): Promise<void> {
    const stored = this.#subs.get(client.id);
    if (!stored) return;
    this.#write(() => {
      for (const topic of topics) {
        const s = stored.get(topic);
        if (s === undefined) continue;
        if (s.qos > 0) this.#trie.remove(topic, { clientId: client.id, topic });
        stored.delete(topic);
        this.#s.subDel!.run(client.id, topic);
      }
    });
    if (stored.size === 0) this.#subs.delete(client.id);
  }

  async subscriptionsByClient(client: Client): Promise<Sub[]> {
    const stored = this.#subs.get(client.id);
    return stored ? [...stored].map(([topic, s]) => ({ topic, ...s })) : [];
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return { subsCount: this.#trie.subscriptionsCount, clientsCount: this.#subs.size };
  }

  async subscriptionsByTopic(pattern: string): Promise<SubRecord[]> {
    return this.#trie.match(pattern);
  }

  async cleanSubscriptions(client: Client): Promise<void> {
    const stored = this.#subs.get(client.id);
    if (!stored) return;
    for (const [topic, s] of stored) if (s.qos > 0) this.#trie.remove(topic, { clientId: client.id, topic });
    this.#subs.delete(client.id);
    this.#write(() => this.#s.subDelClient!.run(client.id));
  }

  // ---------------------------------------------------------------- outgoing

  async outgoingEnqueue(sub: { clientId: string }, packet: AnyPacket): Promise<void> {
    return this.outgoingEnqueueCombi([sub], packet);
  }

  async outgoingEnqueueCombi(subs: { clientId: string }[], packet: AnyPacket): Promise<void> {
    if (!subs || subs.length === 0) return;
    const blob = pack(new Packet(packet));
    this.#write(() => {
      for (const s of subs) this.#s.outPut!.run(s.clientId, packet.brokerId ?? null, packet.brokerCounter ?? null, blob);
    });
  }

  async outgoingUpdate(client: Client, packet: AnyPacket): Promise<void> {
    if (packet.brokerId) {
      const row = this.#s.outByBroker!.get(client.id, packet.brokerId, packet.brokerCounter) as { seq: number } | undefined;
      if (row) {
        this.#write(() => this.#s.outSetMessage!.run(packet.messageId ?? null, row.seq));
        return;
      }
    }
    // Otherwise the entry of another broker identity holding this message id is replaced
    // (a PUBREL taking the place of its PUBLISH), as in aedes-persistence's reference.
    const byId = this.#s.outByMessageOtherBroker!.get(client.id, packet.messageId ?? null, packet.brokerId ?? null) as { seq: number } | undefined;
    if (byId) {
      this.#write(() => this.#s.outReplace!.run(packet.brokerId ?? null, packet.brokerCounter ?? null, packet.messageId ?? null, pack(packet), byId.seq));
      return;
    }
    throw new Error('no such packet');
  }

  async outgoingClearMessageId(client: Client, packet: { messageId?: number }): Promise<AnyPacket | Record<string, unknown> | undefined> {
    if (this.#lightAcks) {
      const r = this.#s.outByMessageLight!.get(client.id, packet.messageId ?? null) as { seq: number; broker_id: string | null; broker_counter: number | null } | undefined;
      if (!r) return undefined;
      this.#write(() => this.#s.outDel!.run(r.seq));
      return { cmd: 'publish', messageId: packet.messageId, brokerId: r.broker_id, brokerCounter: r.broker_counter };
    }
    const row = this.#s.outByMessage!.get(client.id, packet.messageId ?? null) as { seq: number; packet: Buffer } | undefined;
    if (!row) return undefined;
    this.#write(() => this.#s.outDel!.run(row.seq));
    const stored = unpack<AnyPacket>(row.packet);
    stored.messageId = packet.messageId;
    return stored;
  }

  outgoingStream(client: Client): Readable {
    const rows = this.#s.outStream!.all(client.id) as { packet: Buffer; message_id: number | null }[];
    return Readable.from(
      rows.map((r) => {
        const p = unpack<AnyPacket>(r.packet);
        if (r.message_id !== null) p.messageId = r.message_id;
        return p;
      }),
    );
  }

  // ---------------------------------------------------------------- incoming

  async incomingStorePacket(client: Client, packet: AnyPacket): Promise<void> {
    const p = new Packet(packet);
    p.messageId = packet.messageId;
    this.#write(() => this.#s.inPut!.run(client.id, packet.messageId, pack(p)));
  }

  async incomingGetPacket(client: Client, packet: { messageId?: number }): Promise<AnyPacket> {
    const row = this.#s.inGet!.get(client.id, packet.messageId) as { packet: Buffer } | undefined;
    if (!row) throw new Error('no such packet');
    return unpack<AnyPacket>(row.packet);
  }

  async incomingDelPacket(client: Client, packet: { messageId?: number }): Promise<void> {
    const row = this.#s.inGet!.get(client.id, packet.messageId);
    if (!row) throw new Error('no such packet');
    this.#write(() => this.#s.inDel!.run(client.id, packet.messageId));
  }

  async cleanIncoming(client: Client): Promise<void> {
    this.#write(() => this.#s.inDelClient!.run(client.id));
  }

  // ------------------------------------------------------------------- wills

  async putWill(client: Client, packet: AnyPacket): Promise<void> {
    packet.brokerId = this.#broker!.id;
    packet.clientId = client.id;
    this.#write(() => this.#s.willPut!.run(client.id, packet.brokerId, pack(packet)));
  }

  async getWill(client: Client): Promise<AnyPacket | undefined> {
    const row = this.#s.willGet!.get(client.id) as { packet: Buffer } | undefined;
    return row ? unpack(row.packet) : undefined;
  }

  async delWill(client: Client): Promise<AnyPacket | undefined> {
    const will = await this.getWill(client);
    if (will) this.#write(() => this.#s.willDel!.run(client.id));
    return will;
  }

  streamWill(brokers: Record<string, unknown> = {}): Readable {
    const wills = (this.#s.willAll!.all() as { packet: Buffer }[]).map((r) => unpack<AnyPacket>(r.packet)).filter((w) => !brokers[w.brokerId as string]);
    return Readable.from(wills);
  }

  getClientList(topic: string): Readable {
    const ids: string[] = [];
    for (const [id, subs] of this.#subs) if (subs.has(topic)) ids.push(id);
    return Readable.from(ids);
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) throw new Error('destroyed called twice!');
    this.#commit();
    this.#destroyed = true;
    this.#db.close();
  }
}
