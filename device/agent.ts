import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/log.js';
import { loaVersion } from '../lib/version.js';
import { sweepOrphanTempDirs } from '../lib/owned-temp.js';
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
import { storeFault, type DeviceStore, type InflightRow } from './store.js';
import { StoreKeeper, type RecordItem } from './store-keeper.js';
import { planRecovery } from './recovery-plays.js';
import { SyncRunner } from './sync-runner.js';
import { bootId, cpuTemperatureC, freeBytes, ntpSynchronised } from './system-probe.js';
import { ClockTrust, systemMono } from './clock.js';
import type { PlayLogData, PlayRequest, Resume } from './arbiter.js';
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
import { LiveControl, TimeBeacon, type LogKind } from '../protocol/payloads.js';
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
  /** The signed envelope of the target in force, as received (written again into a rebuilt store). */
  #targetEnvelope: string | null = null;
  #targetReceivedAt = 0;
  #receivedVersion: number | null = null;
  #rejection: LoaError | null = null;
  #timers: NodeJS.Timeout[] = [];
  #startedAt = 0;
  #lastTelemetryKey = '';
  #stopped = false;
  /** The data directory and what is recorded in it, whatever happens to the disk (device/store-keeper.ts). */
  readonly #keeper: StoreKeeper;
  /** This boot's id: monotonic instants kept in the store are comparable within it only. */
  readonly #boot: string;
  /** Requests recovered after a restart that wait for a trusted clock before they go back to the arbiter (device/recovery-plays.ts). */
  #recovering = new Map<string, { req: PlayRequest; resume: Resume | null; row: InflightRow }>();
  /** In-flight rows of emergencies recovered and still held by the desk (kept on disk until it plays them). */
  #recoveringEmergencies = new Map<string, InflightRow>();
  #wasTrusted = false;
  #askedTimeAt = -Infinity;
  #floorSavedAt = -Infinity;
  #rebuilding = false;

  constructor(deps: AgentDeps) {
    super();
    const c = deps.config;
    this.config = c;
    this.#id = c.device.id;
    this.#log = deps.log.child({ device: c.device.id });
    this.#deps = deps;
    this.clock =
      deps.clock ??
      new ClockTrust({ wall: Date.now, mono: systemMono, ntp: () => c.agent.clock.ntpFlag !== null && ntpSynchronised(c.agent.clock.ntpFlag), rtc: c.agent.clock.rtc, beaconTrustMs: c.agent.clock.beaconTrustMs, correctAboveMs: c.agent.clock.correctAboveMs, maxRoundTripMs: c.agent.clock.maxAnswerMs });
    this.#now = () => this.clock.now();
    this.#boot = bootId();
    this.#verifier = new Verifier(c.keys.console);
    // One agent per data directory: a second one refuses to start, saying which one has it (device/store-guard.ts).
    this.#keeper = new StoreKeeper({
      data: c.data,
      outboxMax: c.agent.outboxMax,
      reserveBytes: c.agent.storeReserveBytes,
      now: this.#now,
      untrusted: () => (this.clock.trusted ? null : { mono: this.clock.mono(), boot: this.#boot }),
      log: this.#log,
      changed: () => this.#publishTelemetry(false),
      corrupt: (err) => this.#onStoreCorrupt(err),
      freeBytes,
    });
    this.store = this.#keeper.store;
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

  /** The store went bad while running: set it aside, start afresh, write back what the agent knows (target, assets on disk). */
  #onStoreCorrupt(err: LoaError): void {
    if (this.#rebuilding || this.#stopped) return;
    this.#rebuilding = true;
    // Not inside the failing call: the rebuild closes the connection that call runs on.
    setImmediate(() => {
      void this.#rebuildStore(err.message).finally(() => (this.#rebuilding = false));
    });
  }

  async #rebuildStore(reason: string): Promise<void> {
    try {
      const dir = this.store.rebuild(reason);
      this.#log.error({ code: 'LOA_E_STORE_CORRUPT', quarantined: dir, reason }, 'device store damaged while running: set aside for the technician; rebuilt from the target in force');
      const t = this.#target;
      const env = this.#targetEnvelope;
      if (t && env) this.store.saveTarget(t.version, env, this.#iso());
      await recoverAssets(this.store, this.files, t?.assets ?? [], this.#log);
      this.store.flushHeld();
      this.sync.setTarget(t);
      this.#publishState();
      this.#publishTelemetry(true);
    } catch (e) {
      this.#log.error({ err: reasonOf(e) }, 'cannot rebuild the device store; emergencies still sound, records wait in memory');
    }
  }

  async start(): Promise<void> {
    this.#startedAt = this.#now();
    // Panel uploads of an agent killed mid-upload (and any other dead process's), never a running one's: lib/owned-temp.ts.
    for (const removed of sweepOrphanTempDirs()) this.#log.warn({ removed }, 'removed the temporary folder of a process that is gone');
    this.files.ensureDirs();
    // Time known to have passed: the floor stored before the restart (moved on by the monotonic clock within one boot).
    this.#loadFloor();
    const stored = this.store.target();
    if (stored) {
      try {
        this.#target = decodeSigned('target', 'target', TargetState, stored.envelope, this.#verifier).payload;
        this.#targetEnvelope = stored.envelope;
        this.#targetReceivedAt = Date.parse(stored.receivedAt);
        this.#receivedVersion = stored.version;
        this.clock.observeFloor(Date.parse(this.#target.issuedAt));
      } catch (e) {
        // The bundle's keys changed under a stored target: wait for the province to send a new one.
        this.#log.error({ err: e }, 'stored target no longer verifies; waiting for a new one');
      }
    }
    // Records stamped with an untrusted clock in an earlier boot can never be corrected: they go marked as such.
    this.store.releaseOtherBoots(this.#boot);
    this.#wasTrusted = this.clock.trusted;
    this.#keeper.ensureReserve();
    // Without a target (a new or rebuilt store) the asset files on the disk are kept, to be adopted when it comes.
    await recoverAssets(this.store, this.files, this.#target?.assets ?? [], this.#log, { keepUnwanted: !this.#target });
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
      this.#announce();
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
    this.#recoverPlays();
    this.sync.setTarget(this.#target);
    this.link.start();
    this.#timers.push(
      setInterval(() => {
        this.sync.tick();
        this.#watchClock();
      }, 1000),
    );
    this.#timers.push(setInterval(() => this.#housekeeping(), 5000));
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
      // One transaction per decision: its records, the acks that end emergencies, and what the arbiter holds now.
      persist: (logs, held) => this.#persistDecision(logs, held),
      emergency: (id, status) => {
        if (status === 'playing') this.#desk?.onPlaying(id);
      },
    });
    this.#engine.start();
    this.#sink.on('started', () => this.#publishTelemetry(false));
    this.#sink.on('ended', () => this.#publishTelemetry(false));
    this.#desk = new EmergencyDesk({
      deviceId: this.#id,
      zone: c.device.zone,
      verifier: new Verifier(c.keys.dispatch),
      store: this.store,
      clock: this.clock,
      mono: () => this.clock.mono(),
      boot: this.#boot,
      volume: () => effectiveRules(this.#target?.rules ?? []).emergencyVolume,
      hasAsset,
      fetchNow: (asset, until) => this.sync.fetchNow(asset, until),
      dispatch: (ev) => {
        if (ev.type === 'request') this.#recoveringEmergencies.delete(ev.req.id);
        this.#engine!.dispatch(ev);
      },
      commit: (records, also) => this.#commit(records, also),
      askTime: () => this.#askTime(),
      holdMs: c.agent.emergency.holdMs,
      skewMs: c.agent.emergency.skewMs,
      rate: new EmergencyRateLimit(c.agent.emergency.maxStarts, c.agent.emergency.perMs),
      log: this.#log,
    });
    this.#scheduler = new Scheduler({
      now: this.#now,
      mono: () => this.clock.mono(),
      target: () => {
        const t = this.#target;
        if (!t) return null;
        // Planned with every asset's duration from the target; an item whose asset is still on its way waits for it (scheduler.ts).
        return { state: t, receivedAt: this.#targetReceivedAt };
      },
      hasAsset,
      clockTrusted: () => this.clock.trusted,
      // markPlanDone keeps the key in memory when the disk is full: still done once (device/store.ts).
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
    this.#desk?.stop();
    this.#saveFloor(true);
    await this.#engine?.stop();
    await this.#sink?.close();
    await this.#relay?.close();
    this.sync.stop();
    this.outbox.stop();
    await this.link.stop({ topic: topics.status(this.#id), payload: encodePayload('status', { state: 'offline', reason: 'shutdown', at: this.#iso() } satisfies DeviceStatus) });
    this.#keeper.close();
    this.#log.info('agent stopped');
  }

  /** Records an event for the province (outbox and local journal). */
  record(kind: LogRecord['kind'], data: LogRecord['data'], at = this.#iso()): void {
    this.#commit([{ kind, data, at }]);
  }

  /** Records events in one transaction with `also.disk`, or in memory when the store cannot write (StoreKeeper.commit). */
  #commit(items: RecordItem[], also?: { disk: () => void; memory: () => void }): void {
    const made = this.#keeper.commit(items, () => this.#iso(), also);
    if (made.length) this.outbox.kick();
    for (const r of made) this.emit('record', r);
  }

  /** The player's decision: its play-log records, the acks ending emergencies, and what the arbiter holds (device/playback.ts persist). */
  #persistDecision(logs: PlayLogData[], held: InflightRow[]): void {
    const records: { kind: LogKind; data: LogRecord['data'] }[] = [];
    const ended: string[] = [];
    for (const d of logs) {
      records.push({ kind: 'play', data: d });
      const ack = EmergencyDesk.endingAck(d);
      if (ack) {
        records.push(ack);
        ended.push(d.emergency!);
      }
    }
    const rows = [...held, ...[...this.#recovering.values()].map((r) => r.row), ...[...this.#recoveringEmergencies.values()].filter((r) => this.#desk?.isHolding(r.id))];
    this.#commit(records, {
      disk: () => {
        this.store.setInflight(rows);
        for (const id of ended) this.store.removeActiveEmergency(id);
      },
      memory: () => {},
    });
    for (const id of ended) this.#desk?.ended(id);
  }

  /**
   * After a restart: plays the store says were held when the agent stopped
   * are reported or given back to the arbiter (device/recovery-plays.ts);
   * emergencies are judged again by the desk.
   */
  #recoverPlays(): void {
    const rows = this.store.inflight();
    const active = this.store.activeEmergencies();
    if (!rows.length && !active.length) return;
    const plan = planRecovery(rows, this.#iso());
    for (const r of plan.requeue) this.#recovering.set(r.req.id, r);
    for (const r of plan.emergencies) this.#recoveringEmergencies.set(r.id, r);
    if (plan.report.length) this.#commit(plan.report.map((d) => ({ kind: 'play' as const, data: d })));
    const emergencies = this.#desk?.recover(active, plan.emergencies) ?? 0;
    this.#log.warn({ reported: plan.report.length, toResume: plan.requeue.length, emergencies }, 'recovered what was playing when the agent stopped');
    this.#requeueRecovered();
  }

  /** Gives recovered requests back to the arbiter once the clock allows them. */
  #requeueRecovered(): void {
    if (!this.#recovering.size || !this.#engine) return;
    for (const [id, r] of this.#recovering) {
      if (r.req.requiresTrustedClock && !this.clock.trusted) continue;
      this.#recovering.delete(id);
      this.#engine.dispatch({ type: 'request', req: r.req, at: this.#now(), ...(r.resume ? { resume: r.resume } : {}) });
    }
  }

  /** Publishes the online status, asking the province for the time (device/clock.ts). */
  #announce(): void {
    this.#askedTimeAt = this.clock.mono();
    const status: DeviceStatus = { state: 'online', reason: 'connected', at: this.#iso(), agent: loaVersion(), nonce: this.clock.requestTime() };
    void this.link.publish(topics.status(this.#id), encodePayload('status', status), { qos: 1, retain: true }).catch(() => {});
  }

  /** Asks the province for the time again, at most every 2 s (after a slow answer, until a sharp one comes: one small message each). */
  #askTime(): void {
    if (!this.link.connected || this.clock.mono() - this.#askedTimeAt < 2000) return;
    this.#announce();
  }

  /** The clock became trusted (an answered beacon, NTP): correct what was stamped before, judge held emergencies, resume recovered plays. */
  #watchClock(): void {
    const trusted = this.clock.trusted;
    if (trusted === this.#wasTrusted) return;
    this.#wasTrusted = trusted;
    if (!trusted) return void this.#publishTelemetry(false);
    const n = this.store.correctUntrusted(this.#boot, (mono) => this.clock.timeAt(mono));
    if (n) this.#log.info({ records: n }, 'records made before the clock was trusted: times corrected');
    this.#saveFloor(true);
    this.#desk?.onClock();
    this.#requeueRecovered();
    this.outbox.kick();
    this.#publishTelemetry(true);
  }

  #loadFloor(): void {
    const v = this.store.setting('time_floor');
    if (!v) return;
    try {
      const f = JSON.parse(v) as { at: number; mono: number; boot: string };
      this.clock.observeFloor(f.boot === this.#boot ? f.at + Math.max(0, this.clock.mono() - f.mono) : f.at);
    } catch {
      // an unreadable floor is no evidence
    }
  }

  /** Stores a time known to have passed (the trusted time, or the floor), at most every minute unless `now`. */
  #saveFloor(now = false): void {
    const mono = this.clock.mono();
    if (!now && mono - this.#floorSavedAt < 60_000) return;
    const at = this.clock.trusted ? this.clock.now() : this.clock.floor();
    if (at === null) return;
    this.#floorSavedAt = mono;
    try {
      this.store.setSetting('time_floor', JSON.stringify({ at, mono, boot: this.#boot }));
    } catch {
      // a full disk: the floor in memory still holds
    }
  }

  /** Every few seconds: keep the time floor; once the disk has room, write what was held and the target in force (StoreKeeper). */
  #housekeeping(): void {
    this.#saveFloor();
    const recovered = this.#keeper.housekeeping(() => {
      const t = this.#target;
      if (!t || !this.#targetEnvelope || this.store.target()?.version === t.version) return;
      try {
        this.store.saveTarget(t.version, this.#targetEnvelope, new Date(this.#targetReceivedAt).toISOString());
      } catch {
        // still no room: next time
      }
    });
    if (recovered) this.#publishTelemetry(true);
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
      if (t.kind === 'device' && t.sub === 'clock') return this.#onBeacon(payload);
      if (t.kind === 'zone-live') return this.#onLive(payload);
      this.#log.debug({ topic }, 'message on a topic the agent does not act on');
    } catch (e) {
      // Bad input from the network is logged and dropped; it never stops the agent.
      this.#log.warn({ topic, err: isLoaError(e) ? e.toJSON() : reasonOf(e) }, 'message rejected');
    }
  }

  #onBeacon(payload: Buffer): void {
    const beacon = decodeSigned('time', 'time', TimeBeacon, payload, this.#verifier).payload;
    const r = this.clock.onBeacon(beacon);
    if (r.wantTime) this.#askTime();
    if (!r.ok) return this.#log.warn({ seq: beacon.seq, reason: r.reason }, 'time beacon refused');
    if (r.answered) this.#log.info({ correctedByMs: Math.round(r.correctedByMs), roundTripMs: Math.round(r.roundTripMs ?? 0), seq: beacon.seq }, 'the province answered with the time');
    if (r.correctedByMs) {
      if (Math.abs(r.correctedByMs) > this.config.agent.clock.correctAboveMs) this.#log.warn({ correctedByMs: Math.round(r.correctedByMs), seq: beacon.seq, answered: r.answered }, 'clock corrected by the province time beacon');
      // What the player holds was stamped by the old time: it moves with the clock.
      this.#engine?.clockShifted(r.correctedByMs);
    }
    this.#watchClock();
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
    const envelope = payload.toString('utf8');
    try {
      this.store.saveTarget(target.version, envelope, this.#iso());
    } catch (e) {
      // A full disk or a damaged store: the target is in force from memory all the same, and written when the store can.
      if (storeFault(e) === null) throw e;
      this.#log.error({ version: target.version, err: reasonOf(e) }, 'target accepted but not stored');
    }
    this.#target = target;
    this.#targetEnvelope = envelope;
    this.#targetReceivedAt = this.#now();
    this.clock.observeFloor(Date.parse(target.issuedAt));
    this.#rejection = null;
    this.#log.info({ version: target.version, assets: target.assets.length, programmes: target.programmes.length }, 'target accepted');
    if (!current) {
      // The first target this store holds: files already on the disk (from before a rebuild) are adopted, not fetched again.
      void recoverAssets(this.store, this.files, target.assets, this.#log)
        .catch((e) => this.#log.error({ err: reasonOf(e) }, 'cannot adopt the asset files on the disk'))
        .finally(() => {
          if (this.#target === target) this.sync.setTarget(target);
          this.#publishState();
        });
      return;
    }
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
      disk: { freeBytes: free, usedBytes: this.store.storedBytes(), budgetBytes: this.config.agent.diskBudgetBytes, full: this.sync.noRoom.length > 0 || this.store.health.state === 'full' },
      cpuTempC: cpuTemperatureC(),
      clock: { trusted: this.clock.trusted, source: this.clock.source },
      rttMs: this.link.rttMs,
      ...(dropped ? { outboxDropped: dropped } : {}),
      ...(this.storeStatus ? { store: this.storeStatus } : {}),
    };
  }

  /** How the store is, when it is not simply well (telemetry, the panel). */
  get storeStatus(): NonNullable<Telemetry['store']> | null {
    return this.#keeper.status();
  }

  /** Publishes telemetry: always when `force`, otherwise only when something watched has changed. */
  #publishTelemetry(force: boolean): void {
    if (!this.link.connected) return;
    const t = this.telemetry();
    const key = JSON.stringify([t.appliedVersion, t.disk.full, t.playing?.level, t.playing?.title, t.playing?.since, t.volume, t.amplifier, t.clock, t.store?.state]);
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
