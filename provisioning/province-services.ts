import { createHash } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../lib/log.js';
import { endClient } from '../lib/mqtt-end.js';
import { decodePayload, encodeChunkFrame, encodePayload, encodeSigned } from '../protocol/codec.js';
import { LoaError, isLoaError, reasonOf } from '../protocol/errors.js';
import { ChunkRequest, DeviceStatus, LogBatch, type ChunkHeader, type LogAck, type TimeBeacon } from '../protocol/payloads.js';
import { Signer } from '../protocol/signing.js';
import { parseTopic, topics } from '../protocol/topics.js';
import type { AssetLibrary } from './library.js';
import type { Registry } from './registry.js';
import type { Reports } from './reports.js';
import { buildTarget, storedTargets } from './targets.js';

// The province side of sync, run by the console (or alone with
// `loa console --assets-only`): answers chunk requests from the library,
// stores devices' log batches and acknowledges them by key, and publishes
// each device's signed target state as a retained message whenever its
// version changes.
//
// The console holds a persistent session, so requests and log batches sent
// while it restarts wait for it in the broker; the broker caps that queue
// (limits.sessionQueueMax) and devices ask again for whatever is dropped.

export interface ProvinceServicesDeps {
  registry: Registry;
  library: AssetLibrary;
  reports: Reports;
  broker: { url: string; username: string; password: string; ca?: string | null };
  log: Logger;
  pollMs?: number;
  /** Period of the signed time beacon (default 60 s); null sends none (tests whose agents run on clocks they set). */
  beaconMs?: number | null;
  /** Least time between the extra beacons sent when devices come online (default 2 s). */
  beaconOnJoinMs?: number;
  /** The console's fleet view: gets devices' status, state and telemetry. */
  fleet?: { onMessage(device: string, kind: 'status' | 'state' | 'telemetry', payload: Buffer): void };
  /** Called after a log batch is stored (the console's dispatch roll-up listens). */
  onLogStored?: (device: string, batch: LogBatch) => void;
}

export interface ServiceStats {
  chunkRequests: number;
  chunksServed: number;
  chunkErrors: number;
  logBatches: number;
  logRecordsStored: number;
  targetsPublished: number;
}

/** A byte-bounded LRU of chunk frames (Map iteration order is insertion order). */
export class FrameCache {
  #map = new Map<string, Buffer>();
  #bytes = 0;
  constructor(readonly maxBytes: number) {}
  get(key: string): Buffer | undefined {
    const v = this.#map.get(key);
    if (v) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: string, v: Buffer): void {
    this.#map.set(key, v);
    this.#bytes += v.length;
    for (const [k, old] of this.#map) {
      if (this.#bytes <= this.maxBytes) break;
      this.#map.delete(k);
      this.#bytes -= old.length;
    }
  }
}

export class ProvinceServices {
  readonly #d: ProvinceServicesDeps;
  readonly #log: Logger;
  readonly stats: ServiceStats = { chunkRequests: 0, chunksServed: 0, chunkErrors: 0, logBatches: 0, logRecordsStored: 0, targetsPublished: 0 };
  #client: MqttClient | null = null;
  #published = new Map<string, number>();
  #poll: NodeJS.Timeout | null = null;
  #beacon: NodeJS.Timeout | null = null;
  #beaconSeq = 0;
  #beaconSentAt = 0;
  #joinBeacon: NodeJS.Timeout | null = null;
  #seenChange = -1;
  #signer: Signer | null = null;
  /** Recently served chunk frames: a bulletin goes to thousands of clusters, the same chunks again and again. */
  #frames = new FrameCache(32 * 1024 * 1024);

  constructor(deps: ProvinceServicesDeps) {
    this.#d = deps;
    this.#log = deps.log.child({ mod: 'province-services' });
  }

  async start(): Promise<void> {
    this.#signer = new Signer(this.#d.registry.readPrivateKey('console'));
    const b = this.#d.broker;
    const c = mqtt.connect(b.url, {
      protocolVersion: 4,
      clientId: `${b.username}:services`,
      username: b.username,
      password: b.password,
      clean: false,
      resubscribe: false,
      reconnectPeriod: 500,
      ...(b.ca ? { ca: b.ca } : {}),
    });
    this.#client = c;
    c.on('message', (topic, payload, packet) => this.#onMessage(topic, payload, packet.retain));
    c.on('error', (err) => this.#log.warn({ err: err.message }, 'broker link error'));
    c.on('connect', (connack) => {
      this.#log.info({ broker: b.url, sessionPresent: connack.sessionPresent }, 'connected to the broker');
      // Chunk requests at QoS 0: idempotent and retried by the device, so the
      // broker need not store each one in this session (a third of its work).
      // Log batches at QoS 1: they wait in this session while the console restarts.
      // Subscribing again on a present session is harmless and picks up topics added since.
      // Status always: a device coming online gets a time beacon within seconds, not at the next minute.
      c.subscribe({ 'loa/v1/d/+/chunk/req': { qos: 0 }, 'loa/v1/d/+/log': { qos: 1 }, 'loa/v1/d/+/status': { qos: 1 }, ...(this.#d.fleet ? { 'loa/v1/d/+/state': { qos: 1 }, 'loa/v1/d/+/telemetry': { qos: 0 } } : {}) }, (err) => {
        if (err) this.#log.error({ err: err.message }, 'cannot subscribe to device requests');
      });
      // Retained targets survive in the broker, but publishing again after a reconnect costs little and heals a wiped broker.
      this.#published.clear();
      this.publishTargets();
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new LoaError('LOA_E_LINK_DOWN', `cannot reach the broker at ${b.url}`)), 15_000);
      c.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
    });
    if (this.#d.beaconMs !== null) {
      this.publishTimeBeacon();
      this.#beacon = setInterval(() => this.publishTimeBeacon(), this.#d.beaconMs ?? 60_000);
    }
    this.#poll = setInterval(() => {
      const v = this.#d.registry.changeCounter();
      if (v !== this.#seenChange) {
        this.#seenChange = v;
        this.publishTargets();
      }
    }, this.#d.pollMs ?? 1000);
  }

  async stop(): Promise<void> {
    if (this.#poll) clearInterval(this.#poll);
    if (this.#beacon) clearInterval(this.#beacon);
    if (this.#joinBeacon) clearTimeout(this.#joinBeacon);
    const c = this.#client;
    this.#client = null;
    if (c) await endClient(c);
  }

  /** Publishes on the console's services link (live audio and its controls); dropped while the link is down: live is never late. */
  publishLive(topic: string, payload: Buffer, qos: 0 | 1): void {
    const c = this.#client;
    if (c?.connected) c.publish(topic, payload, { qos, retain: false });
  }

  /**
   * The signed time beacon: devices without NTP or RTC learn the time from it
   * (device/clock.ts). QoS 0 and never retained: a stale time is worse than none.
   */
  publishTimeBeacon(): void {
    const c = this.#client;
    if (!c?.connected || !this.#signer) return;
    const beacon: TimeBeacon = { at: new Date().toISOString(), validMs: Math.max(1000, Math.min(600_000, 2 * (this.#d.beaconMs ?? 60_000))), seq: this.#beaconSeq++ };
    c.publish(topics.time(), encodeSigned('time', this.#signer.sign('time', beacon)), { qos: 0, retain: false });
    this.#beaconSentAt = Date.now();
  }

  /**
   * A device just came online: a Pi without NTP or RTC plays no programme
   * until it knows the time, so send a beacon soon rather than at the next
   * period. Devices reconnecting together share one: at most one extra beacon
   * per `beaconOnJoinMs`, however many join.
   */
  #beaconForJoin(): void {
    if (this.#joinBeacon || this.#d.beaconMs === null) return;
    const gap = this.#d.beaconOnJoinMs ?? 2000;
    const wait = Math.max(0, this.#beaconSentAt + gap - Date.now());
    this.#joinBeacon = setTimeout(() => {
      this.#joinBeacon = null;
      this.publishTimeBeacon();
    }, wait);
  }

  /** Publishes every target whose version differs from what this process last published. */
  publishTargets(): void {
    const c = this.#client;
    if (!c?.connected || !this.#signer) return;
    for (const t of storedTargets(this.#d.registry)) {
      if (this.#published.get(t.device) === t.version) continue;
      try {
        const target = buildTarget(this.#d.registry, this.#d.library, t, new Date().toISOString());
        const payload = encodeSigned('target', this.#signer.sign('target', target));
        this.#published.set(t.device, t.version);
        c.publish(topics.target(t.device), payload, { qos: 1, retain: true }, (err) => {
          if (err) {
            this.#published.delete(t.device);
            this.#log.warn({ device: t.device, err: err.message }, 'target not published');
          } else {
            this.stats.targetsPublished++;
            this.#log.info({ device: t.device, version: t.version, assets: target.assets.length }, 'target published');
          }
        });
      } catch (e) {
        this.#published.set(t.device, t.version); // do not retry a broken spec every second; a new version will be tried
        this.#log.error({ device: t.device, version: t.version, err: isLoaError(e) ? e.toJSON() : reasonOf(e) }, 'target cannot be built');
      }
    }
  }

  /**
   * Answers a device's time request (the nonce of its status) on its own
   * topic. Only live statuses are answered: a retained one, replayed to this
   * console when it subscribes, asked long ago.
   */
  #answerTime(device: string, nonce: string): void {
    const c = this.#client;
    if (!c?.connected || !this.#signer || this.#d.beaconMs === null) return;
    const beacon: TimeBeacon = { at: new Date().toISOString(), validMs: Math.max(1000, Math.min(600_000, 2 * (this.#d.beaconMs ?? 60_000))), seq: this.#beaconSeq++, nonce };
    c.publish(topics.deviceClock(device), encodeSigned('time', this.#signer.sign('time', beacon)), { qos: 0, retain: false });
  }

  #onMessage(topic: string, payload: Buffer, retained = false): void {
    const t = parseTopic(topic);
    if (!t || t.kind !== 'device') return;
    try {
      if (t.sub === 'chunk/req') this.#serveChunk(t.deviceId, payload);
      else if (t.sub === 'log') this.#storeLog(t.deviceId, payload);
      else if (t.sub === 'status') {
        const status = decodePayload('status', DeviceStatus, payload);
        if (status.state === 'online' && !retained) {
          if (status.nonce) this.#answerTime(t.deviceId, status.nonce);
          this.#beaconForJoin();
        }
        this.#d.fleet?.onMessage(t.deviceId, t.sub, payload);
      } else if (t.sub === 'state' || t.sub === 'telemetry') this.#d.fleet?.onMessage(t.deviceId, t.sub, payload);
    } catch (e) {
      this.#log.warn({ device: t.deviceId, topic, err: isLoaError(e) ? e.toJSON() : reasonOf(e) }, 'device message rejected');
    }
  }

  #serveChunk(device: string, payload: Buffer): void {
    this.stats.chunkRequests++;
    const req = decodePayload('chunk/req', ChunkRequest, payload);
    const asset = this.#d.library.get(req.asset);
    const offset = req.index * req.size;
    let frame: Buffer;
    if (!asset || offset >= asset.size) {
      this.stats.chunkErrors++;
      const error = !asset ? { code: 'LOA_E_ASSET_UNKNOWN', message: 'no such asset in the province library' } : { code: 'LOA_E_PAYLOAD_SCHEMA', message: `chunk ${req.index} lies past the end of the asset` };
      frame = encodeChunkFrame({ asset: req.asset, index: req.index, error });
      this.#log.warn({ device, asset: req.asset, index: req.index, reason: error.code }, 'chunk request refused');
    } else {
      const key = `${asset.sha256}:${req.size}:${req.index}`;
      let cached = this.#frames.get(key);
      if (!cached) {
        const data = this.#d.library.read(asset.sha256, offset, Math.min(req.size, asset.size - offset));
        const header: ChunkHeader = { asset: asset.sha256, index: req.index, size: req.size, total: asset.size, sha256: createHash('sha256').update(data).digest('hex') };
        cached = encodeChunkFrame(header, data);
        this.#frames.set(key, cached);
      }
      frame = cached;
      this.stats.chunksServed++;
    }
    this.#client?.publish(topics.chunkResponse(device), frame, { qos: 0 });
  }

  #storeLog(device: string, payload: Buffer): void {
    const batch = decodePayload('log', LogBatch, payload);
    if (this.#d.registry.principal(device)?.kind !== 'device') throw new LoaError('LOA_E_DEVICE_NOT_FOUND', `log batch from unknown device ${device}`);
    const { keys, inserted } = this.#d.reports.storeBatch(device, batch, new Date().toISOString());
    this.stats.logBatches++;
    this.stats.logRecordsStored += inserted;
    const ack: LogAck = { batch: batch.batch, stored: keys };
    this.#client?.publish(topics.logAck(device), encodePayload('log/ack', ack), { qos: 1 });
    if (inserted) this.#d.onLogStored?.(device, batch);
  }
}
