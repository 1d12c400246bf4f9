// The subscribers of the broker-fanout benchmark (broker-fanout.ts): groups
// of real mqtt.js clients that live in the main thread or in a worker thread
// (this module is also the worker's entry point).

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { Socket } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { topics } from '../../protocol/topics.js';

export const ZONE = 'bench';
export const TOPIC = topics.zoneEmergency(ZONE);

/** Milliseconds on CLOCK_MONOTONIC: the same clock in every thread and process of this machine. */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export interface Device {
  id: string;
  secret: string;
}

// ------------------------------------------------------------ subscribers
//
// A group of subscribers lives either in the main thread or in a worker
// thread. It counts, per message sequence number, how many of its
// subscribers received it, reports when all of them have (so the publisher
// can keep a bounded window), and records every publish→receive latency.

export interface GroupConfig {
  url: string;
  devices: Device[];
  totalSeqs: number;
  warmup: number;
  clean: boolean;
  connectConcurrency: number;
}

export interface GroupStats {
  latencies: Float64Array;
  received: number;
  duplicates: number;
  lastReceiveMs: number;
}

class SubscriberGroup {
  readonly #cfg: GroupConfig;
  readonly #onComplete: (seq: number) => void;
  readonly #clients: MqttClient[] = [];
  readonly #counts: Uint32Array;
  readonly #seen: Uint8Array[] = [];
  readonly #lat: Float64Array;
  #latN = 0;
  #received = 0;
  #duplicates = 0;
  #lastReceiveMs = 0;

  constructor(cfg: GroupConfig, onComplete: (seq: number) => void) {
    this.#cfg = cfg;
    this.#onComplete = onComplete;
    this.#counts = new Uint32Array(cfg.totalSeqs);
    this.#lat = new Float64Array(cfg.devices.length * Math.max(0, cfg.totalSeqs - cfg.warmup));
  }

  async connect(): Promise<void> {
    const queue = [...this.#cfg.devices.entries()];
    const runOne = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [idx, d] = next;
        const c = await connectClient(this.#cfg.url, { clientId: d.id, username: d.id, password: d.secret, clean: this.#cfg.clean });
        this.#clients.push(c);
        const seen = new Uint8Array(this.#cfg.totalSeqs);
        this.#seen[idx] = seen;
        c.on('message', (_topic, payload) => this.#onMessage(seen, payload));
        await new Promise<void>((resolve, reject) =>
          c.subscribe(TOPIC, { qos: 1 }, (err, granted) => {
            if (err) return reject(err);
            const q = granted?.[0]?.qos;
            if (q !== 1) return reject(new Error(`${d.id}: subscription to ${TOPIC} granted QoS ${q}, expected 1`));
            resolve();
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.#cfg.connectConcurrency) }, runOne));
  }

  #onMessage(seen: Uint8Array, payload: Buffer): void {
    const t = nowMs();
    const m = JSON.parse(payload.toString('utf8')) as { s: number; t: number };
    if (seen[m.s]) {
      this.#duplicates++;
      return;
    }
    seen[m.s] = 1;
    this.#received++;
    this.#lastReceiveMs = t;
    if (m.s >= this.#cfg.warmup) this.#lat[this.#latN++] = t - m.t;
    if (++this.#counts[m.s]! === this.#cfg.devices.length) this.#onComplete(m.s);
  }

  /** How many of this group's subscribers received a message. */
  receivedBy(seq: number): number {
    return this.#counts[seq] ?? 0;
  }

  /** Missing deliveries so far, for stall diagnostics. */
  missing(): number {
    return this.#cfg.devices.length * this.#cfg.totalSeqs - this.#received;
  }

  stats(): GroupStats {
    return { latencies: this.#lat.slice(0, this.#latN), received: this.#received, duplicates: this.#duplicates, lastReceiveMs: this.#lastReceiveMs };
  }

  async close(): Promise<void> {
    await Promise.all(this.#clients.splice(0).map((c) => new Promise<void>((r) => c.end(true, {}, () => r()))));
  }
}

export function connectClient(url: string, opts: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { protocolVersion: 4, keepalive: 60, reconnectPeriod: 0, connectTimeout: 60_000, resubscribe: false, ...opts });
    // Loa's broker sets TCP_NODELAY on its sockets and Mosquitto is told to
    // (set_tcp_nodelay); the clients do too, so Nagle delays show in neither.
    (c.stream as Socket | undefined)?.setNoDelay?.(true);
    const fail = (e: Error) => {
      c.removeAllListeners();
      c.on('error', () => {});
      c.end(true);
      reject(new Error(`${opts.clientId}: ${e.message}`));
    };
    c.once('connect', () => {
      c.removeListener('error', fail);
      c.removeAllListeners('close');
      c.on('error', () => {});
      resolve(c);
    });
    c.once('error', fail);
    c.once('close', () => fail(new Error('connection closed before CONNACK')));
  });
}

/** The main thread's handle on a group, local or in a worker thread. */
export interface GroupHandle {
  connect(): Promise<void>;
  missing(): Promise<number>;
  receivedBy(seq: number): Promise<number>;
  stats(): Promise<GroupStats>;
  close(): Promise<void>;
}

export function localGroup(cfg: GroupConfig, onComplete: (seq: number) => void): GroupHandle {
  const g = new SubscriberGroup(cfg, onComplete);
  return { connect: () => g.connect(), missing: async () => g.missing(), receivedBy: async (seq) => g.receivedBy(seq), stats: async () => g.stats(), close: () => g.close() };
}

type ToWorker = { op: 'connect' | 'missing' | 'receivedBy' | 'stats' | 'close'; id: number; seq?: number };
type FromWorker = { op: 'reply'; id: number; value?: unknown; error?: string } | { op: 'complete'; seq: number };

export function workerGroup(cfg: GroupConfig, onComplete: (seq: number) => void): GroupHandle {
  const w = new Worker(new URL(import.meta.url), { workerData: cfg });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let dead: Error | null = null;
  w.on('message', (m: FromWorker) => {
    if (m.op === 'complete') return onComplete(m.seq);
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.error !== undefined) p?.reject(new Error(m.error));
    else p?.resolve(m.value);
  });
  const die = (e: Error) => {
    dead = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  w.on('error', die);
  w.on('exit', (code) => die(new Error(`subscriber worker exited (${code})`)));
  const call = <T>(op: ToWorker['op'], seq?: number): Promise<T> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.postMessage({ op, id, seq } satisfies ToWorker);
    });
  };
  return {
    connect: () => call<void>('connect'),
    missing: () => call<number>('missing'),
    receivedBy: (seq) => call<number>('receivedBy', seq),
    stats: () => call<GroupStats>('stats'),
    close: async () => {
      if (!dead) await call<void>('close').catch(() => {});
      await w.terminate();
    },
  };
}

function runWorker(): void {
  const port = parentPort!;
  const g = new SubscriberGroup(workerData as GroupConfig, (seq) => port.postMessage({ op: 'complete', seq } satisfies FromWorker));
  port.on('message', (m: ToWorker) => {
    const reply = (p: Promise<unknown>) =>
      p.then(
        (value) => {
          if (value && typeof value === 'object' && 'latencies' in value) port.postMessage({ op: 'reply', id: m.id, value } satisfies FromWorker, [(value as GroupStats).latencies.buffer as ArrayBuffer]);
          else port.postMessage({ op: 'reply', id: m.id, value } satisfies FromWorker);
        },
        (e: unknown) => port.postMessage({ op: 'reply', id: m.id, error: (e as Error).message } satisfies FromWorker),
      );
    if (m.op === 'connect') reply(g.connect());
    else if (m.op === 'missing') reply(Promise.resolve(g.missing()));
    else if (m.op === 'receivedBy') reply(Promise.resolve(g.receivedBy(m.seq ?? 0)));
    else if (m.op === 'stats') reply(Promise.resolve(g.stats()));
    else if (m.op === 'close') reply(g.close());
  });
}

if (!isMainThread) runWorker();
