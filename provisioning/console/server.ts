import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../lib/log.js';
import { endClient } from '../../lib/mqtt-end.js';
import { sweepOrphanTempDirs } from '../../lib/owned-temp.js';
import { ROOT_DIR } from '../../lib/paths.js';
import { LoaError } from '../../protocol/errors.js';
import { AssetLibrary } from '../library.js';
import { ProvinceServices } from '../province-services.js';
import { LiveBroadcaster, type LiveBroadcasterDeps } from '../live-broadcaster.js';
import { Signer } from '../../protocol/signing.js';
import type { Registry } from '../registry.js';
import { Reports } from '../reports.js';
import { buildApp } from './app.js';
import type { ConsoleDeps, IngestService, TtsService } from './context.js';
import { Dispatcher } from './dispatch.js';
import { FleetTracker } from './fleet.js';

// `loa console`: the province's console in one process — the HTTP API and
// web UI, the MQTT services that keep devices in sync and take their
// reports, and the dispatch connection that sends signed emergencies.
// Constructing it does nothing; start() connects and listens; stop() closes.

export const UI_DIR = join(ROOT_DIR, 'provisioning', 'console', 'ui');

export interface ConsoleServerOptions {
  registry: Registry;
  log: Logger;
  broker: { url: string; ca?: string | null; console: { username: string; password: string }; dispatch: { username: string; password: string } | null };
  http: { host: string; port: number } | null;
  tts?: TtsService;
  ingest?: IngestService;
  capAreas?: ConsoleDeps['capAreas'];
  secureCookies?: boolean;
  /** Reverse proxies whose X-Forwarded-For is believed (ConsoleDeps.trustProxy). */
  trustProxy?: readonly string[];
  /** How often to re-send a live emergency to devices that have not acknowledged it. */
  resendMs?: number;
  beaconMs?: number;
  /** Dispatch modes besides 'actual' that need a second person's approval (e.g. ['exercise']). */
  approvalModes?: readonly ('actual' | 'exercise' | 'test')[];
  /** The wall clock of the fleet view and the HTTP API (what they record and report); Date.now by default. */
  now?: () => number;
  /** Live sessions' timing and codec (defaults in provisioning/live-broadcaster.ts). */
  live?: Pick<LiveBroadcasterDeps, 'delayMs' | 'framesPerBatch' | 'maxMs' | 'bitrate' | 'expectedLossPct'>;
}

export class ConsoleServer {
  readonly #o: ConsoleServerOptions;
  readonly library: AssetLibrary;
  readonly reports: Reports;
  readonly fleet: FleetTracker;
  readonly dispatcher: Dispatcher;
  readonly services: ProvinceServices;
  /** Live sessions on air (provisioning/live-broadcaster.ts); made once the services are connected. */
  live: LiveBroadcaster | null = null;
  #dispatchClient: MqttClient | null = null;
  #app: FastifyInstance | null = null;
  #resend: NodeJS.Timeout | null = null;
  #address: AddressInfo | null = null;

  constructor(o: ConsoleServerOptions) {
    this.#o = o;
    this.library = new AssetLibrary(o.registry);
    this.reports = new Reports(o.registry.dir);
    this.fleet = new FleetTracker({ registry: o.registry, reports: this.reports, log: o.log, ...(o.now ? { now: o.now } : {}) });
    this.dispatcher = new Dispatcher({ registry: o.registry, library: this.library, reports: this.reports, publish: (t, p) => this.#publishEmergency(t, p), log: o.log, ...(o.approvalModes ? { approvalModes: o.approvalModes } : {}) });
    this.services = new ProvinceServices({
      registry: o.registry,
      library: this.library,
      reports: this.reports,
      broker: { url: o.broker.url, username: o.broker.console.username, password: o.broker.console.password, ca: o.broker.ca ?? null },
      log: o.log,
      fleet: this.fleet,
      onLogStored: (_device, batch) => {
        for (const id of this.dispatcher.touched(batch)) this.dispatcher.emit('changed', id);
      },
      ...(o.beaconMs ? { beaconMs: o.beaconMs } : {}),
    });
  }

  get app(): FastifyInstance {
    if (!this.#app) throw new Error('console not started');
    return this.#app;
  }

  /** Where the HTTP console listens (null with --assets-only). */
  get address(): AddressInfo | null {
    return this.#address;
  }

  async #publishEmergency(topic: string, payload: Buffer): Promise<void> {
    const c = this.#dispatchClient;
    if (!c) throw new LoaError('LOA_E_CONFIG_INVALID', 'this console has no dispatch account: emergencies cannot be sent (configure --dispatch-user)');
    if (!c.connected) throw new LoaError('LOA_E_LINK_DOWN', 'the dispatch connection to the broker is down; the emergency was not sent');
    await c.publishAsync(topic, payload, { qos: 1 });
  }

  /**
   * Connects the MQTT services and the dispatch account, then listens. If
   * any step fails, whatever was started is stopped before the error is
   * thrown: nothing is left running half-started (a poll of the registry the
   * caller is about to close, a broker connection keeping the process alive).
   */
  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (e) {
      await this.#shutdown().catch((err: unknown) => this.#o.log.warn({ err }, 'cannot stop what had started'));
      throw e;
    }
  }

  async #start(): Promise<void> {
    const o = this.#o;
    // What consoles (or panels, or `loa library add`) killed mid-upload left in the temporary folder; never a live process's.
    const swept = sweepOrphanTempDirs();
    if (swept.length) o.log.warn({ removed: swept }, 'removed the temporary files of processes that are gone');
    await this.services.start();
    this.live = new LiveBroadcaster({ signer: new Signer(o.registry.readPrivateKey('console')), publish: (t, p, q) => this.services.publishLive(t, p, q), log: o.log, ...(o.live ?? {}) });
    if (o.broker.dispatch) {
      const d = o.broker.dispatch;
      const c = mqtt.connect(o.broker.url, { protocolVersion: 4, clientId: `${d.username}:console`, username: d.username, password: d.password, clean: true, reconnectPeriod: 1000, ...(o.broker.ca ? { ca: o.broker.ca } : {}) });
      c.on('error', (err) => o.log.warn({ err: err.message }, 'dispatch connection error'));
      this.#dispatchClient = c;
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new LoaError('LOA_E_LINK_DOWN', 'the dispatch account cannot connect to the broker')), 15_000);
        c.once('connect', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    if (o.http) {
      this.#app = await buildApp({
        registry: o.registry,
        library: this.library,
        reports: this.reports,
        fleet: this.fleet,
        dispatcher: this.dispatcher,
        log: o.log,
        ...(o.tts ? { tts: o.tts } : {}),
        ...(o.ingest ? { ingest: o.ingest } : {}),
        ...(o.capAreas ? { capAreas: o.capAreas } : {}),
        secureCookies: !!o.secureCookies,
        ...(o.trustProxy ? { trustProxy: o.trustProxy } : {}),
        uiDir: UI_DIR,
        publishTargets: () => this.services.publishTargets(),
        live: this.live,
        ...(o.now ? { now: o.now } : {}),
      });
      try {
        await this.#app.listen({ host: o.http.host, port: o.http.port });
      } catch (e) {
        throw listenError(e, o.http.host, o.http.port);
      }
      this.#address = this.#app.server.address() as AddressInfo;
      o.log.info({ http: `http://${this.#address.address}:${this.#address.port}` }, 'console listening');
    }
    this.#resend = setInterval(() => void this.#resendSilent(), o.resendMs ?? 60_000);
    this.#resend.unref();
  }

  async #resendSilent(): Promise<void> {
    for (const d of this.dispatcher.list({ name: 'console', role: 'admin', zone: null }, 50)) {
      if (d.kind !== 'start' || d.status !== 'sent') continue;
      try {
        const silent = await this.dispatcher.resendToSilent(d.id);
        if (silent.length) this.#o.log.warn({ dispatch: d.id, devices: silent.length }, 're-sent an emergency to devices that have not acknowledged it');
      } catch (e) {
        this.#o.log.warn({ dispatch: d.id, err: e }, 'cannot re-send an emergency');
      }
    }
  }

  async stop(): Promise<void> {
    await this.#shutdown();
    this.reports.close();
  }

  async #shutdown(): Promise<void> {
    this.live?.stopAll('the console is stopping');
    if (this.#resend) clearInterval(this.#resend);
    this.#resend = null;
    const app = this.#app;
    this.#app = null;
    this.#address = null;
    await app?.close();
    const c = this.#dispatchClient;
    this.#dispatchClient = null;
    if (c) await endClient(c);
    await this.services.stop();
  }
}

/** Why the HTTP listener cannot be opened, in words that say what to change. */
function listenError(e: unknown, host: string, port: number): LoaError {
  const code = (e as NodeJS.ErrnoException).code;
  const at = `${host}:${port}`;
  const why =
    code === 'EADDRINUSE'
      ? 'the port is in use by another program (another console?)'
      : code === 'EACCES'
        ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
        : code === 'EADDRNOTAVAIL'
          ? 'no network interface of this machine has that address'
          : (e as Error).message;
  return new LoaError('LOA_E_LISTEN', `cannot listen on ${at}: ${why}`, { cause: e, context: { host, port, reason: code ?? 'unknown' } });
}
