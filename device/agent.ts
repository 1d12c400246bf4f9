import { execFile } from 'node:child_process';
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
import { ClockTrust } from './clock.js';
import type { PlayLogData } from './arbiter.js';
import { PlaybackEngine } from './playback.js';
import { Scheduler } from './scheduler.js';
import { ScheduleTicker } from './ticker.js';
import { EmergencyDesk } from './emergency-desk.js';
import { EmergencyRateLimit } from './emergency.js';
import { RelayController, systemClock } from './relay-controller.js';
import { openRelay } from './relay-open.js';
import { effectiveRules } from '../schedules/rules.js';
import { checkProgrammes } from '../schedules/plan.js';
import type { AudioSink } from '../audio/types.js';
import { LiveControl, TimeBeacon } from '../protocol/payloads.js';
import { zoneContains } from '../protocol/ids.js';
import { OperatorDesk } from './operator-desk.js';

// The village agent's composition: store, asset files, MQTT link, sync and
// outbox, wired to the loa/v1 contract. Constructing it does nothing;
// start() recovers the store and connects; stop() says goodbye and closes.

export interface AgentDeps {
  config: DeviceConfig;
  log: Logger;
  /** The agent's clock: NTP, RTC or the province's beacon vouch for it (tests inject one). */
  clock?: ClockTrust;
  /** Audio output; by default built from config.agent.audio. */
  sink?: AudioSink;
  /** Amplifier relay; by default opened from config.agent.relay. */
  relay?: RelayController | null;
}

export interface AgentEvents {
  applied: [version: number];
  rejected: [error: LoaError];
  telemetry: [t: Telemetry];
  /** An event recorded for the province (a play, an emergency ack, an operator action), once it is in the outbox. */
  record: [record: LogRecord];
}

export class Agent extends EventEmitter<AgentEvents> {
  readonly config: DeviceConfig;
  readonly store: DeviceStore;
  readonly files: AssetFiles;
  readonly link: MqttLink;
  readonly sync: SyncRunner;
  readonly outbox: OutboxSender;
  readonly clock: ClockTrust;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #verifier: Verifier;
  readonly #deps: AgentDeps;
  #sink: AudioSink | null = null;
  #relay: RelayController | null = null;
  #engine: PlaybackEngine | null = null;
  #scheduler: Scheduler | null = null;
  #desk: EmergencyDesk | null = null;
  #operator: OperatorDesk | null = null;
  #linkSince: number | null = null;
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
    this.#deps = deps;
    this.clock =
      deps.clock ??
      new ClockTrust({ wall: Date.now, mono: () => performance.now(), ntp: () => ntpSynchronised(), rtc: c.agent.clock.rtc, beaconTrustMs: c.agent.clock.beaconTrustMs, correctAboveMs: c.agent.clock.correctAboveMs });
    this.#now = () => this.clock.now();
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
    this.#linkSince = this.#now();
    this.link.on('up', () => {
      this.#linkSince = this.#now();
      void this.link.publish(topics.status(this.#id), encodePayload('status', { state: 'online', reason: 'connected', at: this.#iso(), agent: loaVersion() } satisfies DeviceStatus), { qos: 1, retain: true }).catch(() => {});
      this.#publishState();
      this.#publishTelemetry(true);
      this.sync.onLinkUp();
      this.outbox.kick();
    });
    this.link.on('down', () => {
      this.#linkSince = this.#now();
      this.sync.onLinkDown();
      this.outbox.onLinkDown();
    });
    this.link.on('refused', (t) => {
      this.#rejection = new LoaError('LOA_E_SUBSCRIBE_REFUSED', `broker refused ${t.join(', ')}`);
      this.#publishState();
    });
    this.link.on('message', (topic, payload) => this.#onMessage(topic, payload));
    await this.#startPlayback();
    this.sync.setTarget(this.#target);
    this.link.start();
    this.#timers.push(setInterval(() => this.sync.tick(), 1000));
    // The scheduler wakes at its next item's instant (at least every 500 ms) and the player gets that item ready ahead (device/ticker.ts).
    const ticker = new ScheduleTicker({ scheduler: this.#scheduler!, player: this.#engine, now: this.#now, alive: () => !this.#stopped, log: this.#log });
    this.on('applied', () => ticker.rearm());
    ticker.start();
    this.#timers.push(setInterval(() => this.#publishTelemetry(true), this.config.agent.heartbeatSec * 1000));
    this.#timers.push(setInterval(() => this.outbox.kick(), 5000));
    this.#log.info({ zone: this.config.device.zone, data: this.config.data, version: loaVersion(), target: this.#receivedVersion }, 'agent started');
  }

  async #startPlayback(): Promise<void> {
    const c = this.config;
    this.#sink = this.#deps.sink ?? (await createSink(c, this.#log));
    await this.#sink.start();
    if (this.#deps.relay !== undefined) this.#relay = this.#deps.relay;
    else {
      const relay = await openRelay({ driver: c.agent.relay.driver, pin: c.agent.relay.pin, activeLow: c.agent.relay.activeLow, gpioChip: c.agent.relay.gpioChip, gpiosetPath: c.agent.relay.gpiosetPath }, this.#log);
      const { warmUpMs, idleOffMs, maxOnMs, cooldownMs } = c.agent.relay;
      this.#relay = new RelayController({ relay, clock: systemClock, log: this.#log, timing: { warmUpMs, idleOffMs, maxOnMs, cooldownMs } });
    }
    this.#relay?.on('changed', () => this.#publishTelemetry(false));
    const record = (data: PlayLogData) => this.record('play', data);
    const hasAsset = (sha: string) => this.store.asset(sha) !== null;
    this.#engine = new PlaybackEngine({
      sink: this.#sink,
      relay: this.#relay,
      assetPath: (sha) => (hasAsset(sha) ? this.files.path(sha) : null),
      log: this.#log,
      now: this.#now,
      clockTrusted: () => this.clock.trusted,
      record,
      emergency: (id, status, reason) => this.#desk?.onPlayer(id, status, reason),
    });
    this.#engine.start();
    this.#sink.on('started', () => this.#publishTelemetry(false));
    this.#sink.on('ended', () => this.#publishTelemetry(false));
    this.#desk = new EmergencyDesk({
      deviceId: this.#id,
      zone: c.device.zone,
      verifier: new Verifier(c.keys.dispatch),
      store: this.store,
      now: this.#now,
      clockTrusted: () => this.clock.trusted,
      volume: () => effectiveRules(this.#target?.rules ?? []).emergencyVolume,
      hasAsset,
      fetchNow: (asset, until) => this.sync.fetchNow(asset, until),
      dispatch: (ev) => this.#engine!.dispatch(ev),
      record: (kind, data) => this.record(kind, data),
      skewMs: c.agent.emergency.skewMs,
      rate: new EmergencyRateLimit(c.agent.emergency.maxStarts, c.agent.emergency.perMs),
      log: this.#log,
    });
    this.#scheduler = new Scheduler({
      now: this.#now,
      mono: () => performance.now(),
      target: () => {
        const t = this.#target;
        const stored = this.store.target();
        if (!t || !stored || stored.version !== t.version) return null;
        // Only what is on the device can be planned; an item whose asset is still missing is refused as such.
        return { state: { ...t, assets: t.assets.filter((a) => hasAsset(a.sha256)) }, receivedAt: Date.parse(stored.receivedAt) };
      },
      done: { has: (k) => this.store.planDone(k), add: (k, at) => this.store.markPlanDone(k, at), prune: (b) => this.store.prunePlanDone(b) },
      // The commune operator's volume, within the caps (device/operator-desk.ts).
      dispatch: (ev) => this.#engine!.dispatch(this.#operator ? this.#operator.adjust(ev) : ev),
      record,
      graceMs: c.agent.schedule.graceMs,
      log: this.#log,
    });
    probeEspeak();
    this.#operator = new OperatorDesk({
      engine: this.#engine,
      target: () => this.#target,
      setting: (k) => this.store.setting(k),
      setSetting: (k, v) => this.store.setSetting(k, v),
      record: (kind, data) => this.record(kind, data),
      hasAsset,
      now: this.#now,
      dir: join(c.data, 'local'),
      log: this.#log.child({ mod: 'operator' }),
      ingest: async (file, outDir, maxDurationMs) => {
        const { ingest } = await import('../audio/ingest.js');
        const r = await ingest(file, { outDir, maxDurationMs });
        return { file: r.file, durationMs: r.durationMs };
      },
      speech: {
        available: () => espeak === true,
        speak: async (text) => {
          const [{ textToSpeech }, { EspeakEngine }] = await Promise.all([import('../audio/tts/engine.js'), import('../audio/tts/espeak-engine.js')]);
          return textToSpeech(text, { engine: new EspeakEngine() });
        },
      },
      maxAnnouncementMs: c.agent.panel.maxAnnouncementMs,
    });
  }

  /** The commune operator's actions (the local panel calls these). */
  get operator(): OperatorDesk | null {
    return this.#operator;
  }

  /** The day plan of the target in force, for the panel. */
  planFor(date: string) {
    return this.#scheduler?.planFor(date) ?? null;
  }

  /** Connected to the province's broker, and since when (or since when not). */
  get linkState(): { connected: boolean; since: string | null } {
    return { connected: this.link.connected, since: this.#linkSince === null ? null : new Date(this.#linkSince).toISOString() };
  }

  /** The panel password's hash in force: the province's newer one from the target state, else the bundle's. */
  get panelPasswordHash(): string {
    return this.#target?.panel?.passwordHash ?? this.config.panel.passwordHash;
  }

  /** What plays now, the amplifier and the arbiter's state (the local panel reads these). */
  get playback(): PlaybackEngine | null {
    return this.#engine;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    await this.#engine?.stop();
    await this.#sink?.close();
    await this.#relay?.close();
    this.sync.stop();
    this.outbox.stop();
    await this.link.stop({ topic: topics.status(this.#id), payload: encodePayload('status', { state: 'offline', reason: 'shutdown', at: this.#iso() } satisfies DeviceStatus) });
    this.store.close();
    this.#log.info('agent stopped');
  }

  /** Records an event for the province: written to the outbox in the caller's transaction. */
  record(kind: LogRecord['kind'], data: LogRecord['data'], at = this.#iso()): void {
    const rec = this.store.tx(() => {
      const r = { key: this.store.nextKey(), at, kind, data } as LogRecord;
      this.store.enqueue(r);
      this.store.journal(r);
      return r;
    });
    this.outbox.kick();
    this.emit('record', rec);
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
      if (t.kind === 'zone-emergency' || t.kind === 'device-emergency') return this.#desk?.handle(payload);
      if (t.kind === 'time') return this.#onBeacon(payload);
      if (t.kind === 'zone-live') return this.#onLive(payload);
      this.#log.debug({ topic }, 'message on a topic the agent does not act on');
    } catch (e) {
      // Bad input from the network is logged and dropped; it never stops the agent.
      this.#log.warn({ topic, err: isLoaError(e) ? e.toJSON() : reasonOf(e) }, 'message rejected');
    }
  }

  #onBeacon(payload: Buffer): void {
    const beacon = decodeSigned('time', 'time', TimeBeacon, payload, this.#verifier).payload;
    const wasTrusted = this.clock.trusted;
    const r = this.clock.onBeacon(beacon);
    if (!r.ok) return this.#log.warn({ seq: beacon.seq, reason: r.reason }, 'time beacon refused');
    if (r.correctedByMs) this.#log.warn({ correctedByMs: r.correctedByMs, seq: beacon.seq }, 'clock corrected by the province time beacon');
    if (!wasTrusted && this.clock.trusted) this.#publishTelemetry(true);
  }

  #onLive(payload: Buffer): void {
    const live = decodeSigned('zone-live', 'live', LiveControl, payload, this.#verifier).payload;
    if (!zoneContains(live.zone, this.config.device.zone)) return;
    const now = this.#now();
    if (this.clock.trusted && now >= Date.parse(live.expiresAt)) return this.#log.warn({ live: live.id }, 'live control expired; ignored');
    if (live.type === 'stop') return this.#engine?.dispatch({ type: 'cancel', id: live.id, at: now, reason: 'live relay stopped by the province' });
    const rules = effectiveRules(this.#target?.rules ?? []);
    this.#engine?.dispatch({
      type: 'request',
      at: now,
      req: { id: live.id, level: 'live', source: 'live', ...(live.title ? { title: live.title } : {}), segments: [{ kind: 'stream', url: live.url, durationMs: null }], volume: rules.defaultVolume, resumable: false, notAfter: null, endBy: this.clock.trusted ? Date.parse(live.expiresAt) : null, requiresTrustedClock: false },
    });
  }

  #onTarget(payload: Buffer): void {
    let target: TargetState;
    try {
      target = decodeSigned('target', 'target', TargetState, payload, this.#verifier).payload;
      if (target.device !== this.#id) throw new LoaError('LOA_E_TARGET_REJECTED', `target addressed to ${target.device}, not to this device`);
      const bad = checkProgrammes(target.programmes);
      if (bad.length) throw new LoaError('LOA_E_TARGET_REJECTED', `target has programmes that cannot be scheduled: ${bad.map((e) => e.message).join('; ')}`);
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
    return {
      at: this.#iso(),
      agent: loaVersion(),
      uptimeSec: Math.floor((this.#now() - this.#startedAt) / 1000),
      appliedVersion: stored?.appliedAt ? stored.version : null,
      playing: this.#engine?.nowPlaying ?? null,
      volume: this.#engine?.volume ?? this.#operator?.volumeNow().setting ?? effectiveRules(this.#target?.rules ?? []).defaultVolume,
      amplifier: this.#relay?.state ?? 'off',
      disk: { freeBytes: free, usedBytes: this.store.storedBytes(), budgetBytes: this.config.agent.diskBudgetBytes, full: this.sync.noRoom.length > 0 },
      cpuTempC: cpuTemperatureC(),
      clock: { trusted: this.clock.trusted, source: this.clock.source },
      rttMs: this.link.rttMs,
      ...(dropped ? { outboxDropped: dropped } : {}),
    };
  }

  /** Publishes telemetry: always when `force`, otherwise only when something watched has changed. */
  #publishTelemetry(force: boolean): void {
    if (!this.link.connected) return;
    const t = this.telemetry();
    const key = JSON.stringify([t.appliedVersion, t.disk.full, t.playing?.level, t.playing?.title, t.playing?.since, t.volume, t.amplifier, t.clock]);
    if (!force && key === this.#lastTelemetryKey) return;
    this.#lastTelemetryKey = key;
    this.emit('telemetry', t);
    void this.link.publish(topics.telemetry(this.#id), encodePayload('telemetry', t), { qos: 0 }).catch(() => {});
  }
}

let espeak: boolean | null = null;
/** Finds out once, in the background, whether espeak-ng can speak here (the panel's typed announcements). */
function probeEspeak(): void {
  if (espeak !== null) return;
  espeak = false;
  execFile('espeak-ng', ['--version'], { timeout: 5000 }, (err) => (espeak = !err));
}

/** The configured audio output: ALSA through `speaker` in a child process, a WAV file, or nothing. */
export async function createSink(c: DeviceConfig, log: Logger): Promise<AudioSink> {
  switch (c.agent.audio.output) {
    case 'wav': {
      const { WavFileSink } = await import('../audio/wav-sink.js');
      return new WavFileSink({ file: c.agent.audio.wavFile ?? join(c.data, 'output.wav'), log });
    }
    case 'null': {
      const { NullSink } = await import('../audio/null-sink.js');
      return new NullSink({ log });
    }
    case 'alsa': {
      const { AlsaSink } = await import('../audio/alsa-sink.js');
      return new AlsaSink({ log, device: c.agent.audio.device });
    }
  }
}
