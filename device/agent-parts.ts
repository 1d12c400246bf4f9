import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Logger } from '../lib/log.js';
import type { LoaError } from '../protocol/errors.js';
import { encodePayload } from '../protocol/codec.js';
import type { DeviceStatus } from '../protocol/payloads.js';
import { deviceSubscriptions, topics } from '../protocol/topics.js';
import type { AudioSink } from '../audio/types.js';
import { AssetFiles } from './asset-files.js';
import type { DeviceConfig } from './config.js';
import { MqttLink } from './link.js';
import { OutboxSender } from './outbox-sender.js';
import { RelayController, systemClock } from './relay-controller.js';
import { openRelay } from './relay-open.js';
import { StoreKeeper } from './store-keeper.js';
import type { UntrustedStamp } from './store.js';
import { SyncRunner } from './sync-runner.js';
import { bootId, freeBytes } from './system-probe.js';

// The agent's adapters, opened: the data directory's lock and store, the
// asset files, the MQTT link, sync and outbox, the audio output and the
// amplifier relay. This is where the agent's start-up touches the machine;
// the Agent (device/agent.ts) wires what it gets here to its desks.

export interface AgentParts {
  /** This boot's id: monotonic instants kept in the store are comparable within it only. */
  boot: string;
  keeper: StoreKeeper;
  files: AssetFiles;
  link: MqttLink;
  sync: SyncRunner;
  outbox: OutboxSender;
  sink: AudioSink;
  relay: RelayController | null;
}

/** What the parts call back into the agent (they run only once the parts are open). */
export interface PartHooks {
  now: () => number;
  /** A stamp for records made while the clock is not trusted (null when it is). */
  untrusted: (boot: string) => UntrustedStamp | null;
  /** The disk filled up or has room again, the relay switched: telemetry may have changed. */
  changed: () => void;
  /** SQLite reported the store damaged while running. */
  corrupt: (err: LoaError) => void;
}

export async function openAgentParts(c: DeviceConfig, given: { sink?: AudioSink; relay?: RelayController | null }, hooks: PartHooks, log: Logger): Promise<AgentParts> {
  const boot = bootId();
  const id = c.device.id;
  // One agent per data directory: a second one refuses to start, saying which one has it (device/store-guard.ts).
  const keeper = StoreKeeper.open({
    data: c.data,
    outboxMax: c.agent.outboxMax,
    reserveBytes: c.agent.storeReserveBytes,
    now: hooks.now,
    untrusted: () => hooks.untrusted(boot),
    log,
    changed: hooks.changed,
    corrupt: hooks.corrupt,
    freeBytes,
  });
  try {
    const store = keeper.store;
    const files = new AssetFiles(c.data);
    const will: DeviceStatus = { state: 'offline', reason: 'will' };
    const link = new MqttLink({
      urls: c.broker.urls,
      clientId: id,
      username: c.broker.username,
      password: c.broker.password,
      ca: c.broker.ca,
      keepaliveSec: c.agent.keepaliveSec,
      connectTimeoutMs: c.agent.connectTimeoutMs,
      backoff: c.agent.backoff,
      will: { topic: topics.status(id), payload: encodePayload('status', will) },
      subscriptions: deviceSubscriptions(id, c.device.zone),
      log,
    });
    const sync = new SyncRunner({
      store,
      files,
      settings: c.agent,
      sendRequest: (req) => link.publish(topics.chunkRequest(id), encodePayload('chunk/req', req), { qos: 1 }),
      linkUp: () => link.connected,
      freeBytes: () => freeBytes(c.data),
      log: log.child({ mod: 'sync' }),
      now: hooks.now,
    });
    const outbox = new OutboxSender({
      store,
      publish: (payload) => link.publish(topics.log(id), payload, { qos: 1 }),
      connected: () => link.connected,
      batchSize: c.agent.logBatch,
      ackTimeoutMs: c.agent.logAckTimeoutMs,
      log: log.child({ mod: 'outbox' }),
    });
    const sink = given.sink ?? (await createSink(c, log));
    await sink.start();
    let relay: RelayController | null;
    if (given.relay !== undefined) relay = given.relay;
    else {
      const r = c.agent.relay;
      const opened = await openRelay({ driver: r.driver, pin: r.pin, activeLow: r.activeLow, gpioChip: r.gpioChip, gpiosetPath: r.gpiosetPath }, log);
      relay = new RelayController({ relay: opened, clock: systemClock, log, timing: { warmUpMs: r.warmUpMs, idleOffMs: r.idleOffMs, maxOnMs: r.maxOnMs, cooldownMs: r.cooldownMs } });
    }
    return { boot, keeper, files, link, sync, outbox, sink, relay };
  } catch (e) {
    keeper.close();
    throw e;
  }
}

let espeak: boolean | null = null;
/** Finds out once, in the background, whether espeak-ng can speak here (the panel's typed announcements). */
export function probeEspeak(): void {
  if (espeak !== null) return;
  espeak = false;
  execFile('espeak-ng', ['--version'], { timeout: 5000 }, (err) => (espeak = !err));
}
export const espeakAvailable = (): boolean => espeak === true;

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
