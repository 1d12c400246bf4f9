import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/log.js';
import { loaVersion } from '../lib/version.js';
import { LoaError, isLoaError, reasonOf } from '../protocol/errors.js';
import { decodeChunkFrame, decodePayload, decodeSigned, encodePayload } from '../protocol/codec.js';
import { LogAck, TargetState, type DeviceState, type DeviceStatus, type LogRecord, type Telemetry } from '../protocol/payloads.js';
import { Verifier } from '../protocol/signing.js';
import { deviceSubscriptions, parseTopic, topics } from '../protocol/topics.js';
import { AssetFiles } from './asset-files.js';
import type { DeviceConfig } from './config.js';
import { MqttLink } from './link.js';
import { OutboxSender } from './outbox-sender.js';
import { recoverAssets } from './recovery.js';
import { DeviceStore } from './store.js';
import { SyncRunner } from './sync-runner.js';
import { cpuTemperatureC, freeBytes, ntpSynchronised } from './system-probe.js';

// The village agent's composition: store, asset files, MQTT link, sync and
// outbox, wired to the loa/v1 contract. Constructing it does nothing;
// start() recovers the store and connects; stop() says goodbye and closes.

export interface AgentDeps {
  config: DeviceConfig;
  log: Logger;
  now?: () => number;
}

export interface AgentEvents {
  applied: [version: number];
  rejected: [error: LoaError];
  telemetry: [t: Telemetry];
}

export class Agent extends EventEmitter<AgentEvents> {
  readonly config: DeviceConfig;
  readonly store: DeviceStore;
  readonly files: AssetFiles;
  readonly link: MqttLink;
  readonly sync: SyncRunner;
  readonly outbox: OutboxSender;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #verifier: Verifier;
  readonly #id: string;
  #target: TargetState | null = null;
  #receivedVersion: number | null = null;
  #rejection: LoaError | null = null;
  #timers: NodeJS.Timeout[] = [];
  #startedAt = 0;
  #lastTelemetryKey = '';
  #stopped = false;

  constructor(deps: AgentDeps) {
    super();
    const c = deps.config;
    this.config = c;
    this.#id = c.device.id;
    this.#log = deps.log.child({ device: c.device.id });
    this.#now = deps.now ?? Date.now;
    this.#verifier = new Verifier(c.keys.console);
    mkdirSync(c.data, { recursive: true, mode: 0o700 });
    this.store = new DeviceStore(join(c.data, 'device.sqlite'), { outboxMax: c.agent.outboxMax });
    this.files = new AssetFiles(c.data);
    const status = (reason: 'will'): Buffer => encodePayload('status', { state: 'offline', reason } satisfies DeviceStatus);
    this.link = new MqttLink({
      urls: c.broker.urls,
      clientId: c.device.id,
      username: c.broker.username,
      password: c.broker.password,
      ca: c.broker.ca,
      keepaliveSec: c.agent.keepaliveSec,
      connectTimeoutMs: c.agent.connectTimeoutMs,
      backoff: c.agent.backoff,
      will: { topic: topics.status(c.device.id), payload: status('will') },
      subscriptions: deviceSubscriptions(c.device.id, c.device.zone),
      log: this.#log,
    });
    this.sync = new SyncRunner({
      store: this.store,
      files: this.files,
      settings: c.agent,
      sendRequest: (req) => this.link.publish(topics.chunkRequest(this.#id), encodePayload('chunk/req', req), { qos: 1 }),
      linkUp: () => this.link.connected,
      freeBytes: () => freeBytes(c.data),
      log: this.#log.child({ mod: 'sync' }),
      now: this.#now,
    });
    this.outbox = new OutboxSender({
      store: this.store,
      publish: (payload) => this.link.publish(topics.log(this.#id), payload, { qos: 1 }),
      connected: () => this.link.connected,
      batchSize: c.agent.logBatch,
      ackTimeoutMs: c.agent.logAckTimeoutMs,
      log: this.#log.child({ mod: 'outbox' }),
    });
  }

  get target(): TargetState | null {
    return this.#target;
  }

  async start(): Promise<void> {
    this.#startedAt = this.#now();
    this.files.ensureDirs();
    const stored = this.store.target();
    if (stored) {
      try {
        this.#target = decodeSigned('target', 'target', TargetState, stored.envelope, this.#verifier).payload;
        this.#receivedVersion = stored.version;
      } catch (e) {
        // The bundle's keys changed under a stored target: wait for the province to send a new one.
        this.#log.error({ err: e }, 'stored target no longer verifies; waiting for a new one');
      }
    }
    await recoverAssets(this.store, this.files, this.#target?.assets ?? [], this.#log);
    this.sync.on('applied', (v) => {
      this.#publishState();
      this.#publishTelemetry(true);
      this.emit('applied', v);
    });
    this.sync.on('changed', () => {
      this.#publishState();
      this.#publishTelemetry(false);
    });
    this.link.on('up', () => {
      void this.link.publish(topics.status(this.#id), encodePayload('status', { state: 'online', reason: 'connected', at: this.#iso(), agent: loaVersion() } satisfies DeviceStatus), { qos: 1, retain: true }).catch(() => {});
      this.#publishState();
      this.#publishTelemetry(true);
      this.sync.onLinkUp();
      this.outbox.kick();
    });
    this.link.on('down', () => {
      this.sync.onLinkDown();
      this.outbox.onLinkDown();
    });
    this.link.on('refused', (t) => {
      this.#rejection = new LoaError('LOA_E_SUBSCRIBE_REFUSED', `broker refused ${t.join(', ')}`);
      this.#publishState();
    });
    this.link.on('message', (topic, payload) => this.#onMessage(topic, payload));
    this.sync.setTarget(this.#target);
    this.link.start();
    this.#timers.push(setInterval(() => this.sync.tick(), 1000));
    this.#timers.push(setInterval(() => this.#publishTelemetry(true), this.config.agent.heartbeatSec * 1000));
    this.#timers.push(setInterval(() => this.outbox.kick(), 5000));
    this.#log.info({ zone: this.config.device.zone, data: this.config.data, version: loaVersion(), target: this.#receivedVersion }, 'agent started');
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.sync.stop();
    this.outbox.stop();
    await this.link.stop({ topic: topics.status(this.#id), payload: encodePayload('status', { state: 'offline', reason: 'shutdown', at: this.#iso() } satisfies DeviceStatus) });
    this.store.close();
    this.#log.info('agent stopped');
  }

  /** Records an event for the province: written to the outbox in the caller's transaction. */
  record(kind: LogRecord['kind'], data: LogRecord['data'], at = this.#iso()): void {
    this.store.tx(() => this.store.enqueue({ key: this.store.nextKey(), at, kind, data } as LogRecord));
    this.outbox.kick();
  }

  #iso(): string {
    return new Date(this.#now()).toISOString();
  }

  #onMessage(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    try {
      if (!t) throw new LoaError('LOA_E_TOPIC_UNKNOWN', `message on unexpected topic ${topic}`);
      if (t.kind === 'device' && t.sub === 'target') return this.#onTarget(payload);
      if (t.kind === 'device' && t.sub === 'chunk/res') {
        const { header, data } = decodeChunkFrame(payload);
        return this.sync.onChunk(header, data);
      }
      if (t.kind === 'device' && t.sub === 'log/ack') return this.outbox.onAck(decodePayload('log/ack', LogAck, payload));
      // Emergency, live and time topics belong to playback, which this build does not include yet.
      this.#log.debug({ topic }, 'message for a subsystem this build does not run');
    } catch (e) {
      // Bad input from the network is logged and dropped; it never stops the agent.
      this.#log.warn({ topic, err: isLoaError(e) ? e.toJSON() : reasonOf(e) }, 'message rejected');
    }
  }

  #onTarget(payload: Buffer): void {
    let target: TargetState;
    try {
      target = decodeSigned('target', 'target', TargetState, payload, this.#verifier).payload;
      if (target.device !== this.#id) throw new LoaError('LOA_E_TARGET_REJECTED', `target addressed to ${target.device}, not to this device`);
    } catch (e) {
      const err = isLoaError(e) && e.code === 'LOA_E_TARGET_REJECTED' ? e : new LoaError('LOA_E_TARGET_REJECTED', `target refused: ${reasonOf(e)}`, { cause: e });
      return this.#reject(err);
    }
    this.#receivedVersion = Math.max(this.#receivedVersion ?? 0, target.version);
    const current = this.#target;
    if (current && target.version === current.version) return; // the retained copy again
    if (current && target.version < current.version) {
      return this.#reject(new LoaError('LOA_E_TARGET_STALE', `target version ${target.version} is older than version ${current.version} in force`, { context: { version: target.version } }));
    }
    this.store.tx(() => this.store.saveTarget(target.version, payload.toString('utf8'), this.#iso()));
    this.#target = target;
    this.#rejection = null;
    this.#log.info({ version: target.version, assets: target.assets.length, programmes: target.programmes.length }, 'target accepted');
    this.sync.setTarget(target);
    this.#publishState();
  }

  #reject(err: LoaError): void {
    this.#rejection = err;
    this.#log.error({ err: err.toJSON() }, 'target rejected; the previous one stays in force');
    this.#publishState();
    this.emit('rejected', err);
  }

  deviceState(): DeviceState {
    const stored = this.store.target();
    const err = this.#rejection ?? this.sync.lastError;
    return {
      at: this.#iso(),
      appliedVersion: stored?.appliedAt ? stored.version : null,
      receivedVersion: this.#receivedVersion,
      sync: this.sync.state,
      missingAssets: this.sync.missing,
      lastError: err ? { code: err.code, message: err.message.slice(0, 500) } : null,
    };
  }

  #publishState(): void {
    if (!this.link.connected) return;
    void this.link.publish(topics.state(this.#id), encodePayload('state', this.deviceState()), { qos: 1, retain: true }).catch(() => {});
  }

  telemetry(): Telemetry {
    const free = freeBytes(this.config.data);
    const stored = this.store.target();
    const dropped = Object.values(this.store.dropped()).reduce((a, b) => a + b, 0);
    const ntp = ntpSynchronised();
    return {
      at: this.#iso(),
      agent: loaVersion(),
      uptimeSec: Math.floor((this.#now() - this.#startedAt) / 1000),
      appliedVersion: stored?.appliedAt ? stored.version : null,
      playing: null,
      volume: 0,
      amplifier: 'off',
      disk: { freeBytes: free, usedBytes: this.store.storedBytes(), budgetBytes: this.config.agent.diskBudgetBytes, full: this.sync.noRoom.length > 0 },
      cpuTempC: cpuTemperatureC(),
      clock: { trusted: ntp, source: ntp ? 'ntp' : 'none' },
      rttMs: this.link.rttMs,
      ...(dropped ? { outboxDropped: dropped } : {}),
    };
  }

  /** Publishes telemetry: always when `force`, otherwise only when something watched has changed. */
  #publishTelemetry(force: boolean): void {
    if (!this.link.connected) return;
    const t = this.telemetry();
    const key = JSON.stringify([t.appliedVersion, t.disk.full, t.playing, t.volume, t.amplifier, t.clock]);
    if (!force && key === this.#lastTelemetryKey) return;
    this.#lastTelemetryKey = key;
    this.emit('telemetry', t);
    void this.link.publish(topics.telemetry(this.#id), encodePayload('telemetry', t), { qos: 0 }).catch(() => {});
  }
}
