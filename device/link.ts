import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../lib/log.js';
import { endClient } from '../lib/mqtt-end.js';
import { LoaError } from '../protocol/errors.js';

// The agent's MQTT link (mqtt.js): a persistent session (clean=false, client
// id = device id), QoS 1 where it matters, a retained offline will, reconnects
// with jittered exponential backoff, a keepalive fit for 3G/4G, TLS with the
// provisioned CA, and failover across the province's broker URLs. It speaks
// plain MQTT 3.1.1, so any broker enforcing the documented ACL serves.

export interface LinkOptions {
  urls: readonly string[];
  clientId: string;
  username: string;
  password: string;
  ca: string | null;
  keepaliveSec: number;
  connectTimeoutMs: number;
  backoff: { minMs: number; maxMs: number };
  will: { topic: string; payload: Buffer };
  subscriptions: readonly string[];
  log: Logger;
  random?: () => number;
}

export interface LinkEvents {
  up: [sessionPresent: boolean];
  down: [];
  message: [topic: string, payload: Buffer];
  refused: [topics: string[]];
}

/** Delay before reconnect attempt n (0-based): between half and all of min·2ⁿ, capped. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number): number {
  const d = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(d / 2 + random() * (d / 2));
}

export class MqttLink extends EventEmitter<LinkEvents> {
  readonly #o: LinkOptions;
  readonly #log: Logger;
  #client: MqttClient | null = null;
  #attempt = 0;
  #pingAt = 0;
  #rttMs: number | null = null;
  #since = Date.now();
  #subscribed = false;

  constructor(opts: LinkOptions) {
    super();
    this.#o = opts;
    this.#log = opts.log.child({ mod: 'link' });
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** Most recent round trip to the broker: PINGREQ→PINGRESP or PUBLISH→PUBACK. */
  get rttMs(): number | null {
    return this.#rttMs;
  }

  /** When the link last went up or down. */
  get since(): number {
    return this.#since;
  }

  start(): void {
    const o = this.#o;
    const random = o.random ?? Math.random;
    const servers = o.urls.map((u) => {
      const url = new URL(u);
      const protocol = url.protocol.replace(':', '') as 'mqtt' | 'mqtts' | 'ws' | 'wss';
      return { host: url.hostname, port: Number(url.port) || (protocol === 'mqtts' ? 8883 : protocol === 'wss' ? 443 : protocol === 'ws' ? 80 : 1883), protocol };
    });
    const first = new URL(o.urls[0]!);
    const opts: IClientOptions = {
      protocolVersion: 4,
      clientId: o.clientId,
      username: o.username,
      password: o.password,
      clean: false,
      keepalive: o.keepaliveSec,
      connectTimeout: o.connectTimeoutMs,
      reconnectPeriod: backoffDelay(0, o.backoff.minMs, o.backoff.maxMs, random),
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: o.will.topic, payload: o.will.payload, qos: 1, retain: true },
      servers,
      ...(o.ca ? { ca: o.ca, rejectUnauthorized: true } : {}),
      ...(first.pathname && first.pathname !== '/' ? { path: first.pathname } : {}),
    };
    const c = mqtt.connect(o.urls[0]!, opts);
    this.#client = c;
    c.on('connect', (connack) => {
      this.#attempt = 0;
      c.options.reconnectPeriod = backoffDelay(0, o.backoff.minMs, o.backoff.maxMs, random);
      this.#since = Date.now();
      this.#log.info({ sessionPresent: connack.sessionPresent, broker: `${c.options.host}:${c.options.port}` }, 'link up');
      // Subscribe when the broker has no session, and once per process start in any case:
      // retained messages (the target state) come only with a SUBSCRIBE, and a device whose
      // store was wiped but whose session survived would otherwise never see its target again.
      if (!connack.sessionPresent || !this.#subscribed) {
        this.#subscribed = true;
        void this.#subscribeAll(c);
      }
      this.emit('up', connack.sessionPresent);
    });
    c.on('reconnect', () => {
      this.#attempt++;
      // mqtt.js waits `reconnectPeriod` before the next attempt; set it for the one after this.
      c.options.reconnectPeriod = backoffDelay(this.#attempt, o.backoff.minMs, o.backoff.maxMs, random);
    });
    c.on('close', () => {
      this.#since = Date.now();
      this.emit('down');
    });
    c.on('offline', () => this.#log.warn({ nextAttemptMs: c.options.reconnectPeriod }, 'link down'));
    c.on('error', (err) => this.#log.warn({ err: { message: err.message, code: (err as { code?: unknown }).code } }, 'link error'));
    c.on('message', (topic, payload) => this.emit('message', topic, payload));
    c.on('packetsend', (p) => {
      if (p.cmd === 'pingreq') this.#pingAt = Date.now();
    });
    c.on('packetreceive', (p) => {
      if (p.cmd === 'pingresp' && this.#pingAt) this.#rttMs = Date.now() - this.#pingAt;
    });
  }

  async #subscribeAll(c: MqttClient): Promise<void> {
    const refused: string[] = [];
    await Promise.all(
      this.#o.subscriptions.map(
        (topic) =>
          new Promise<void>((resolve) =>
            c.subscribe(topic, { qos: 1 }, (err) => {
              // mqtt.js fails the call when the broker answers SUBACK 0x80.
              if (err) refused.push(topic);
              resolve();
            }),
          ),
      ),
    );
    if (refused.length) {
      this.#log.error({ topics: refused }, 'broker refused subscriptions this device needs; check the broker ACL');
      this.emit('refused', refused);
    }
  }

  /** Publishes; QoS 1 resolves on PUBACK. Refuses at once when the link is down, so callers keep their own queue. */
  publish(topic: string, payload: Buffer | string, opts: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    const c = this.#client;
    if (!c || !c.connected) return Promise.reject(new LoaError('LOA_E_LINK_DOWN', 'not connected to the broker'));
    const t0 = Date.now();
    return new Promise((resolve, reject) =>
      c.publish(topic, payload, { qos: opts.qos, retain: opts.retain ?? false }, (err) => {
        if (err) return reject(err);
        if (opts.qos === 1) this.#rttMs = Date.now() - t0;
        resolve();
      }),
    );
  }

  /** Publishes the final status, then disconnects cleanly (the will is not sent on a clean disconnect). */
  async stop(final?: { topic: string; payload: Buffer }): Promise<void> {
    const c = this.#client;
    if (!c) return;
    this.#client = null;
    if (final && c.connected) {
      // The bound is cleared once the broker has acknowledged: a timer left pending held `loa demo` open for 2 s after it had stopped.
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((r) => c.publish(final.topic, final.payload, { qos: 1, retain: true }, () => r())), new Promise((r) => (bound = setTimeout(r, 2000)))]);
      clearTimeout(bound);
    }
    await endClient(c);
  }
}
