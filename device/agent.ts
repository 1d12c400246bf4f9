import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/log.js';
import { loaVersion } from '../lib/version.js';
import { sweepOrphanTempDirs } from '../lib/owned-temp.js';
import { LoaError, isLoaError, reasonOf } from '../protocol/errors.js';
import { decodeSigned, encodePayload } from '../protocol/codec.js';
import { TargetState, type DeviceState, type DeviceStatus, type LogRecord, type Telemetry } from '../protocol/payloads.js';
import { Verifier } from '../protocol/signing.js';
import { topics } from '../protocol/topics.js';
import type { AssetFiles } from './asset-files.js';
import type { DeviceConfig } from './config.js';
import type { MqttLink } from './link.js';
import type { OutboxSender } from './outbox-sender.js';
import { recoverAssets } from './recovery.js';
import { storeFault, type DeviceStore, type InflightRow } from './store.js';
import type { RecordItem } from './store-keeper.js';
import { planRecovery } from './recovery-plays.js';
import type { SyncRunner } from './sync-runner.js';
import { cpuTemperatureC, freeBytes, ntpSynchronised } from './system-probe.js';
import { ClockTrust, systemMono } from './clock.js';
import type { PlayLogData, PlayRequest, Resume } from './arbiter.js';
import { PlaybackEngine } from './playback.js';
import { Scheduler } from './scheduler.js';
import { ScheduleTicker } from './ticker.js';
import { EmergencyDesk } from './emergency-desk.js';
import { EmergencyRateLimit } from './emergency.js';
import type { RelayController } from './relay-controller.js';
import { effectiveRules } from '../schedules/rules.js';
import { checkProgrammes } from '../schedules/plan.js';
import type { AudioSink } from '../audio/types.js';
import { espeakAvailable, openAgentParts, probeEspeak, type AgentParts } from './agent-parts.js';
import { routeMessage } from './agent-router.js';
import type { PanelPort, PanelStatusSource } from './panel-port.js';
import { LiveControl, TimeBeacon, type LogKind } from '../protocol/payloads.js';
import { isFrameBatch } from '../protocol/live-frames.js';
import { LiveDesk } from './live-desk.js';
import type { StoreKeeper } from './store-keeper.js';
import { zoneContains } from '../protocol/ids.js';
import { OperatorDesk } from './operator-desk.js';

// The village agent: it wires its adapters (device/agent-parts.ts) to the
// desks that judge what comes in (device/agent-router.ts routes by topic):
// the target in force, sync and outbox, the clock, emergencies, the
// scheduler, the player and the operator's desk. Constructing it stores its
// dependencies and does nothing else; start() opens the data directory, the
// store, the audio output, the relay and the link; stop() says goodbye and
// closes. The local panel reaches it through PanelPort (device/panel-port.ts).

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

/** An agent, started: what `loa device` runs (and stops on a signal). */
export async function startAgent(deps: AgentDeps): Promise<Agent> {
  const agent = new Agent(deps);
  await agent.start();
  return agent;
}

export class Agent extends EventEmitter<AgentEvents> implements PanelPort {
  readonly config: DeviceConfig;
  readonly clock: ClockTrust;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #verifier: Verifier;
  readonly #deps: AgentDeps;
  /** The adapters, once start() has opened them. */
  #parts: AgentParts | null = null;
  #engine: PlaybackEngine | null = null;
  #scheduler: Scheduler | null = null;
  #desk: EmergencyDesk | null = null;
  #live: LiveDesk | null = null;
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
    this.#verifier = new Verifier(c.keys.console);
  }

  #opened(): AgentParts {
    if (!this.#parts) throw new LoaError('LOA_E_INTERNAL', 'the agent is not started');
    return this.#parts;
  }

  /** The device store (the data directory holds it while the agent runs). */
  get store(): DeviceStore {
    return this.#opened().keeper.store;
  }
  get files(): AssetFiles {
    return this.#opened().files;
  }
  get link(): MqttLink {
    return this.#opened().link;
  }
  get sync(): SyncRunner {
    return this.#opened().sync;
  }
  get outbox(): OutboxSender {
    return this.#opened().outbox;
  }
  get #keeper(): StoreKeeper {
    return this.#opened().keeper;
  }
  get #boot(): string {
    return this.#opened().boot;
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
    this.#parts = await openAgentParts(
      this.config,
      { ...(this.#deps.sink ? { sink: this.#deps.sink } : {}), ...(this.#deps.relay !== undefined ? { relay: this.#deps.relay } : {}) },
      {
        now: this.#now,
        untrusted: (boot) => (this.clock.trusted ? null : { mono: this.clock.mono(), boot }),
        changed: () => this.#publishTelemetry(false),
        corrupt: (err) => this.#onStoreCorrupt(err),
      },
      this.#log,
    );
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
    this.link.on('message', (topic, payload) =>
      routeMessage(
        topic,
        payload,
        {
          target: (p) => this.#onTarget(p),
          chunk: ({ header, data }) => this.sync.onChunk(header, data),
          logAck: (ack) => this.outbox.onAck(ack),
          emergency: (p) => this.#desk?.handle(p),
          time: (p) => this.#onBeacon(p),
          live: (p) => this.#onLive(p),
        },
        this.#log,
      ),
    );
    this.#startPlayback();
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

  /** Wires the player, the emergency desk, the scheduler and the operator's desk to the opened sink and relay. */
  #startPlayback(): void {
    const c = this.config;
    const { sink, relay } = this.#opened();
    relay?.on('changed', () => this.#publishTelemetry(false));
    const record = (data: PlayLogData) => this.record('play', data);
    const hasAsset = (sha: string) => this.store.asset(sha) !== null;
    this.#live = new LiveDesk({
      now: this.#now,
      trusted: () => this.clock.trusted,
      rules: () => effectiveRules(this.#target?.rules ?? []),
      dispatch: (ev) => this.#engine!.dispatch(ev),
      record,
      log: this.#log.child({ mod: 'live' }),
      settings: c.agent.live,
    });
    const live = this.#live;
    this.#engine = new PlaybackEngine({
      sink,
      relay,
      live: (session, signal) => live.pcm(session, signal),
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
    sink.on('started', () => this.#publishTelemetry(false));
    sink.on('ended', () => this.#publishTelemetry(false));
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
        available: espeakAvailable,
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

  /** This cluster (the panel shows it). */
  get device(): { id: string; zone: string } {
    return this.config.device;
  }

  now(): number {
    return this.#now();
  }

  /** What the panel's status page shows (PanelPort). */
  panelStatus(): PanelStatusSource {
    const request = this.#engine?.playingRequest ?? null;
    const now = this.#engine?.nowPlaying ?? null;
    return {
      telemetry: this.telemetry(),
      state: this.deviceState(),
      lastSyncAt: this.store.target()?.appliedAt ?? null,
      link: this.linkState,
      playing: request && now ? { request, now, volume: this.#engine?.volume ?? null } : null,
      outboxPending: this.store.outboxSize(),
      maxAnnouncementMs: this.config.agent.panel.maxAnnouncementMs,
    };
  }

  /** The clips of the target in force that are on the device (the panel's announcements). */
  clips(): { sha256: string; title: string; durationMs: number }[] {
    return (this.#target?.assets ?? []).filter((a) => this.store.asset(a.sha256) !== null).map((a) => ({ sha256: a.sha256, title: a.title ?? a.sha256.slice(0, 12), durationMs: a.durationMs }));
  }

  /** The local journal, newest first (records held in memory included). */
  journal(limit: number, kind: 'play' | 'operator'): LogRecord[] {
    return this.store.recentJournal(limit, kind);
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
    if (!this.#parts) return;
    for (const t of this.#timers) clearInterval(t);
    this.#desk?.stop();
    this.#saveFloor(true);
    await this.#engine?.stop();
    await this.#parts.sink.close();
    await this.#parts.relay?.close();
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
    if (isFrameBatch(payload)) return this.#live?.onFrames(payload);
    const live = decodeSigned('zone-live', 'live', LiveControl, payload, this.#verifier).payload;
    if (!zoneContains(live.zone, this.config.device.zone)) return;
    if (this.clock.trusted && this.#now() >= Date.parse(live.expiresAt)) return this.#log.warn({ live: live.id }, 'live control expired; ignored');
    this.#live?.onControl(live);
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
    if (!this.#parts?.link.connected) return;
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
      amplifier: this.#parts?.relay?.state ?? 'off',
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
    if (!this.#parts?.link.connected) return;
    const t = this.telemetry();
    const key = JSON.stringify([t.appliedVersion, t.disk.full, t.playing?.level, t.playing?.title, t.playing?.since, t.volume, t.amplifier, t.clock, t.store?.state]);
    if (!force && key === this.#lastTelemetryKey) return;
    this.#lastTelemetryKey = key;
    this.emit('telemetry', t);
    void this.link.publish(topics.telemetry(this.#id), encodePayload('telemetry', t), { qos: 0 }).catch(() => {});
  }
}
