import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from '../lib/log.js';
import { LoaError } from '../protocol/errors.js';
import { parseTopic } from '../protocol/topics.js';
import { contractFor, kindOf } from '../protocol/contract.js';
import { canPublish, canReceive, canSubscribe, type AclPrincipal } from '../protocol/acl.js';
import { Authenticator, CONNACK } from './auth.js';
import type { PrincipalSource } from './principals.js';
import { guardConnection, type GuardViolation, type RawConnection } from './guard.js';
import { ConnectionRateLimiter } from './rate-limit.js';
import { brokerEnding, ENDING_MESSAGE, ThrottledLog } from './refusals.js';
import { openSqliteStore, openRedisStore, type BrokerStore } from './persistence.js';
import { limitOfflineQueues, type QueueLimitStats } from './queue-limit.js';
import { keepPublishOrder } from './publish-order.js';
import type { BrokerConfig } from './config.js';

// The province broker: aedes with Loa's authentication, topic ACL, limits and
// persistence, on TCP, TLS and WebSocket listeners. Constructing it does
// nothing; start() opens the store and the listeners, stop() closes them.

export interface BrokerDeps {
  config: BrokerConfig;
  /** Devices and accounts: the province registry. */
  principals: PrincipalSource;
  log: Logger;
  now?: () => number;
}

interface Session {
  client: Client;
  principal: AclPrincipal;
  hashAtLogin: string | undefined;
}

export interface ListenAddresses {
  tcp: AddressInfo;
  tls: AddressInfo | null;
  ws: AddressInfo | null;
}

export class ProvinceBroker {
  readonly #deps: BrokerDeps;
  readonly #log: Logger;
  readonly #now: () => number;
  #aedes: Aedes | null = null;
  #store: BrokerStore | null = null;
  #servers: (NetServer | TlsServer | HttpServer)[] = [];
  #wss: WebSocketServer | null = null;
  #sockets = new Set<Socket>();
  #sessions = new Map<string, Session>();
  #authenticated = new WeakMap<Client, { principal: AclPrincipal; hash: string | undefined }>();
  #remote = new WeakMap<object, string>();
  /** The TCP (or TLS) socket under each stream aedes reads, for the idle timeout. */
  #socketOf = new WeakMap<object, Socket>();
  /** The keepalive each client asked for in its CONNECT. */
  #keepalive = new WeakMap<Client, number>();
  /** Errors handed to aedes by our own hooks, which logged them already. */
  #logged = new WeakSet<Error>();
  #poll: NodeJS.Timeout | null = null;
  #registryVersion = -1;
  #auth: Authenticator;
  #limiter: ConnectionRateLimiter;
  #refusals: ThrottledLog;
  #addresses: ListenAddresses | null = null;
  queueStats: QueueLimitStats = { dropped: 0, sessions: 0 };

  constructor(deps: BrokerDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ mod: 'broker' });
    this.#now = deps.now ?? Date.now;
    this.#auth = new Authenticator({ source: deps.principals, allowAnonymous: deps.config.allowAnonymous });
    this.#limiter = new ConnectionRateLimiter(deps.config.limits.connectRate, this.#now());
    this.#refusals = new ThrottledLog(this.#log);
  }

  get aedes(): Aedes {
    if (!this.#aedes) throw new Error('broker not started');
    return this.#aedes;
  }

  get addresses(): ListenAddresses {
    if (!this.#addresses) throw new Error('broker not started');
    return this.#addresses;
  }

  get connectedClients(): number {
    return this.#aedes?.connectedClients ?? 0;
  }

  #zoneOf = (deviceId: string): string | null => {
    const p = this.#deps.principals.principal(deviceId);
    return p && p.kind === 'device' ? p.zone : null;
  };

  async start(): Promise<ListenAddresses> {
    const cfg = this.#deps.config;
    const lim = cfg.limits;
    if (cfg.allowAnonymous) {
      this.#log.warn('*** --allow-anonymous: ANY client may connect WITHOUT credentials and publish ANYTHING, emergencies included. Local development only; never run a province like this. ***');
    }
    this.#store = cfg.redis ? await openRedisStore(cfg.redis) : await openSqliteStore(cfg.data);
    this.queueStats = limitOfflineQueues(this.#store.persistence, lim.sessionQueueMax, this.#log);
    try {
      const opts: AedesOptions = {
        id: cfg.id ?? `${hostname()}:${process.pid}`,
        persistence: this.#store.persistence,
        drainTimeout: lim.drainTimeoutMs,
        queueLimit: lim.queueLimit,
        maxInflightInbound: lim.maxInflightInbound,
        maxTopicLevels: lim.maxTopicLevels,
        connectTimeout: lim.connectTimeoutMs,
        // 0: aedes' own check refuses keepalive 0 with CONNACK code 6, which
        // MQTT 3.1.1 does not define; #authenticate applies the limit instead.
        keepaliveLimit: 0,
        preConnect: (client, packet, cb) => {
          this.#keepalive.set(client, packet.keepalive ?? 0);
          cb(null, true);
        },
        authenticate: (client, username, password, done) => this.#authenticate(client, username, password, done),
        authorizePublish: (client, packet, cb) => this.#authorizePublish(client, packet.topic, packet.retain, packet.payload, cb),
        authorizeSubscribe: (client, sub, cb) => this.#authorizeSubscribe(client, sub, cb),
        authorizeForward: (client, packet) => this.#authorizeForward(client, packet),
      };
      if (this.#store.mq) opts.mq = this.#store.mq;
      this.#aedes = await Aedes.createBroker(opts);
      keepPublishOrder(this.#aedes as unknown as Parameters<typeof keepPublishOrder>[0]);
      this.#wireEvents(this.#aedes);
      const tcp = await this.#listenTcp();
      const tls = cfg.tls ? await this.#listenTls(cfg.tls) : null;
      const ws = cfg.ws ? await this.#listenWs(cfg.ws) : null;
      this.#addresses = { tcp, tls, ws };
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.#registryVersion = this.#deps.principals.changeCounter();
    this.#poll = setInterval(() => this.#checkRegistry(), cfg.registryPollMs);
    this.#poll.unref();
    this.#log.info({ tcp: fmt(this.#addresses.tcp), tls: this.#addresses.tls && fmt(this.#addresses.tls), ws: this.#addresses.ws && fmt(this.#addresses.ws), store: this.#store.describe, maxPacketBytes: lim.maxPacketBytes }, 'broker listening');
    return this.#addresses;
  }

  async stop(): Promise<void> {
    if (this.#poll) clearInterval(this.#poll);
    this.#poll = null;
    for (const s of this.#servers) s.close();
    this.#wss?.close();
    for (const sock of this.#sockets) sock.destroy();
    if (this.#aedes) {
      const a = this.#aedes;
      // Let clients already disconnecting finish their clean-up before the store closes under them.
      for (let i = 0; i < 40 && a.connectedClients > 0; i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise<void>((resolve) => a.close(() => resolve()));
    }
    this.#aedes = null;
    if (this.#store) await this.#store.close();
    this.#store = null;
    this.#servers = [];
    this.#log.info('broker stopped');
  }

  // ------------------------------------------------------------ listeners

  #admit(sock: Socket, listener: string): boolean {
    const remote = `${sock.remoteAddress}:${sock.remotePort}`;
    const now = this.#now();
    if (this.#sockets.size >= this.#deps.config.limits.maxConnections) {
      this.#refusals.warn(now, { remote, listener, reason: 'max-connections' }, 'connection refused: too many connections');
      sock.destroy();
      return false;
    }
    const limited = this.#limiter.admit(sock.remoteAddress ?? '?', now);
    if (limited) {
      this.#refusals.warn(now, { remote, listener, reason: `rate-${limited}` }, 'connection refused: connection rate limit');
      sock.destroy();
      return false;
    }
    this.#sockets.add(sock);
    sock.once('close', () => this.#sockets.delete(sock));
    sock.on('error', () => {}); // reported through aedes' connectionError; never fatal here
    return true;
  }

  #handle(raw: RawConnection, sock: Socket, remote: string, listener: string, req?: IncomingMessage): void {
    const stream: Duplex = guardConnection(raw, this.#deps.config.limits.maxPacketBytes, (v: GuardViolation) => {
      this.#refusals.warn(this.#now(), { remote, listener, reason: v.kind, violation: v.kind, ...(v.kind === 'packet-too-large' ? { size: v.size, max: v.max } : {}), ...(v.kind === 'not-connect' ? { firstByte: v.firstByte } : {}) }, 'connection closed: protocol violation');
    });
    this.#remote.set(stream, `${listener}:${remote}`);
    this.#socketOf.set(stream, sock);
    if (!this.#aedes) return void raw.destroy();
    this.#aedes.handle(stream, req);
  }

  #listen(server: NetServer | TlsServer | HttpServer, host: string, port: number, what: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      server.once('error', (e) => reject(new LoaError('LOA_E_LISTEN', `cannot listen for ${what} on ${host}:${port}: ${e.message}`, { cause: e })));
      server.listen(port, host, () => {
        this.#servers.push(server);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  #listenTcp(): Promise<AddressInfo> {
    const server = createNetServer((sock) => {
      if (!this.#admit(sock, 'tcp')) return;
      sock.setNoDelay(true);
      this.#handle(sock, sock, `${sock.remoteAddress}:${sock.remotePort}`, 'tcp');
    });
    return this.#listen(server, this.#deps.config.host, this.#deps.config.port, 'MQTT');
  }

  #listenTls(t: NonNullable<BrokerConfig['tls']>): Promise<AddressInfo> {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(t.cert);
      key = readFileSync(t.key);
    } catch (e) {
      throw new LoaError('LOA_E_TLS_CONFIG', `cannot read TLS certificate or key: ${(e as Error).message}`, { cause: e });
    }
    let server: TlsServer;
    try {
      server = createTlsServer({ cert, key, minVersion: 'TLSv1.2', handshakeTimeout: this.#deps.config.limits.connectTimeoutMs });
    } catch (e) {
      throw new LoaError('LOA_E_TLS_CONFIG', `TLS certificate or key is not usable: ${(e as Error).message}`, { cause: e });
    }
    // Rate limits apply before the handshake, which is the expensive part.
    server.on('connection', (sock: Socket) => {
      if (this.#admit(sock, 'tls')) sock.setNoDelay(true);
    });
    server.on('secureConnection', (sock) => this.#handle(sock, sock, `${sock.remoteAddress}:${sock.remotePort}`, 'tls'));
    server.on('tlsClientError', (err, sock) => this.#refusals.warn(this.#now(), { remote: `${sock.remoteAddress}:${sock.remotePort}`, listener: 'tls', reason: 'tls-handshake', err: err.message }, 'TLS handshake failed'));
    return this.#listen(server, t.host, t.port, 'MQTT over TLS');
  }

  #listenWs(w: NonNullable<BrokerConfig['ws']>): Promise<AddressInfo> {
    const http = createHttpServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain; charset=utf-8' }).end('MQTT over WebSocket: connect with the "mqtt" subprotocol\n');
    });
    http.on('connection', (sock: Socket) => void this.#admit(sock, 'ws'));
    const wss = new WebSocketServer({ server: http, path: w.path, maxPayload: this.#deps.config.limits.maxPacketBytes + 16, handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false) });
    wss.on('connection', (ws, req) => {
      const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
      const stream = createWebSocketStream(ws);
      stream.on('error', () => {});
      this.#handle(stream as unknown as RawConnection, req.socket, remote, 'ws', req);
    });
    this.#wss = wss;
    return this.#listen(http, w.host, w.port, 'MQTT over WebSocket');
  }

  // ------------------------------------------------------------ aedes hooks

  #remoteOf(client: Client | null): string {
    return (client && this.#remote.get(client.conn)) ?? '?';
  }

  #authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void): void {
    /** Answers CONNACK `returnCode` after logging one line that says why. */
    const refuse = (returnCode: number, reason: string, fields: object = {}, msg = 'connection refused') => {
      this.#refusals.warn(this.#now(), { clientId: client.id, username, remote: this.#remoteOf(client), returnCode, reason, ...fields }, msg);
      const err = Object.assign(new Error(reason), { returnCode });
      this.#logged.add(err);
      done(err, null);
    };
    // The broker may have been stopped (and the registry closed), also while scrypt ran.
    const unavailable = () => refuse(CONNACK.SERVER_UNAVAILABLE, 'broker stopping');
    if (!this.#aedes) return unavailable();
    // MQTT-3.1.2-24: keepalive 0 turns the mechanism off, and is accepted (an
    // idle timeout closes such connections, see #closeWhenIdle). A longer
    // keepalive than the limit is a promise of silence the broker will not
    // wait out: 3.1.1 cannot tell the client a shorter one, so it is refused
    // at CONNECT, visibly, with the defined code that says a policy refused
    // it (docs/operations.md, "Keepalive").
    const limit = this.#deps.config.limits.keepaliveLimitSec;
    const keepalive = this.#keepalive.get(client) ?? 0;
    if (keepalive > limit) return refuse(CONNACK.NOT_AUTHORIZED, `keepalive of ${keepalive} s exceeds the broker's limit of ${limit} s`, { keepalive, keepaliveLimitSec: limit });
    this.#auth.authenticate(client.id, username, password).then(
      (r) => {
        if (!this.#aedes) return unavailable();
        if (!r.ok) return refuse(r.returnCode, r.reason);
        // Authorise the will now, so a client learns at CONNECT that its will is not allowed (MQTT-3.1.2-8).
        const will = (client as unknown as { _will?: { topic: string; retain: boolean; payload: Buffer } | null })._will;
        if (will) {
          const d = canPublish(r.principal, will.topic, will.retain, this.#zoneOf);
          if (!d.ok) return refuse(CONNACK.NOT_AUTHORIZED, d.reason, { topic: will.topic }, 'connection refused: will not allowed');
        }
        const hash = r.principal.anonymous ? undefined : this.#auth.currentHash(r.principal.name);
        this.#authenticated.set(client, { principal: r.principal, hash });
        const remote = this.#remoteOf(client);
        this.#log.info({ clientId: client.id, role: r.principal.role, zone: r.principal.zone, remote, keepalive }, 'client authenticated');
        // MQTT-3.1.4-2: aedes closes the earlier connection with this client id.
        if ((this.#aedes as unknown as { clients: Record<string, Client | undefined> }).clients[client.id]) this.#log.info({ clientId: client.id, remote, reason: 'session-taken-over' }, 'earlier connection with this client id closed: a new one took over its session');
        done(null, true);
      },
      (e: unknown) => {
        if (this.#aedes) this.#log.error({ clientId: client.id, err: e }, 'authentication failed with an internal error');
        refuse(CONNACK.SERVER_UNAVAILABLE, 'internal error during authentication');
      },
    ).catch((e: unknown) => {
      // An exception in the success path above must not become an unhandled rejection.
      this.#log.error({ clientId: client.id, err: e }, 'authentication failed with an internal error');
      refuse(CONNACK.SERVER_UNAVAILABLE, 'internal error during authentication');
    });
  }

  #authorizePublish(client: Client | null, topic: string, retain: boolean, payload: Buffer | string, cb: (err?: Error | null) => void): void {
    if (!client) return cb(null); // the broker's own publications
    const who = this.#authenticated.get(client);
    if (!who) return cb(this.#unauthenticated(client, 'publish', topic));
    const d = canPublish(who.principal, topic, retain, this.#zoneOf);
    let reason = d.ok ? null : d.reason;
    if (!reason && !who.principal.anonymous) {
      const t = parseTopic(topic)!;
      const c = contractFor(kindOf(t));
      const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
      if (size > c.maxBytes) reason = `payload of ${size} bytes exceeds the ${c.maxBytes} allowed on ${c.kind} topics`;
    }
    if (reason) {
      this.#log.warn({ clientId: client.id, role: who.principal.role, remote: this.#remoteOf(client), topic, retain, reason }, 'publish refused; client disconnected (MQTT 3.1.1 has no negative PUBACK)');
      const err = new Error(reason);
      this.#logged.add(err);
      return cb(err);
    }
    cb(null);
  }

  #authorizeSubscribe<S extends { topic: string }>(client: Client, sub: S, cb: (err: Error | null, sub?: S | null) => void): void {
    const who = this.#authenticated.get(client);
    if (!who) return cb(this.#unauthenticated(client, 'subscribe', sub.topic));
    const d = canSubscribe(who.principal, sub.topic, this.#zoneOf);
    if (!d.ok) {
      this.#log.warn({ clientId: client.id, role: who.principal.role, remote: this.#remoteOf(client), topic: sub.topic, reason: d.reason }, 'subscription refused');
      return cb(null, null); // SUBACK 0x80 for this filter; the client stays connected
    }
    cb(null, sub);
  }

  /** A packet from a client our authenticate hook never accepted: aedes should not let it through; refuse and say so. */
  #unauthenticated(client: Client, what: string, topic: string): Error {
    const err = new Error(`${what} before authentication`);
    this.#refusals.warn(this.#now(), { clientId: client.id, remote: this.#remoteOf(client), topic, reason: err.message }, `${what} refused; client disconnected`);
    this.#logged.add(err);
    return err;
  }

  #authorizeForward<P extends { topic: string }>(client: Client, packet: P): P | null {
    const who = this.#authenticated.get(client);
    if (!who) return null;
    return canReceive(who.principal, packet.topic, this.#zoneOf) ? packet : null;
  }

  #wireEvents(aedes: Aedes): void {
    aedes.on('clientReady', (client) => {
      const who = this.#authenticated.get(client);
      if (who) this.#sessions.set(client.id, { client, principal: who.principal, hashAtLogin: who.hash });
      if (this.#keepalive.get(client) === 0) this.#closeWhenIdle(client);
    });
    aedes.on('clientDisconnect', (client) => {
      if (this.#sessions.get(client.id)?.client === client) this.#sessions.delete(client.id);
    });
    aedes.on('clientError', (client, err) => this.#ended(client, err));
    aedes.on('connectionError', (client, err) => this.#ended(client, err));
  }

  /** One line for each connection aedes ends, unless our hook that refused it logged it already. */
  #ended(client: Client | null, err: Error): void {
    if (this.#logged.has(err)) return;
    const remote = this.#remoteOf(client);
    const clientId = client?.id || undefined;
    const e = brokerEnding(err);
    if (!e) return void this.#log.debug({ clientId, remote, err: err.message }, 'connection ended by the network');
    const lim = this.#deps.config.limits;
    const fields: Record<string, unknown> = { clientId, remote, reason: e.reason, detail: e.detail };
    if (e.returnCode !== undefined) fields.returnCode = e.returnCode;
    if (e.reason === 'slow-consumer') fields.drainTimeoutMs = lim.drainTimeoutMs;
    if (e.reason === 'keepalive-timeout') fields.keepalive = client && this.#keepalive.get(client);
    if (e.reason === 'connect-timeout') fields.connectTimeoutMs = lim.connectTimeoutMs;
    if (e.reason === 'topic-too-deep') fields.maxTopicLevels = lim.maxTopicLevels;
    if (e.reason === 'broker-error') this.#log.error({ ...fields, err }, ENDING_MESSAGE[e.reason]);
    else this.#refusals.warn(this.#now(), fields, ENDING_MESSAGE[e.reason]);
  }

  /**
   * A client with keepalive 0 asked the broker not to expect anything from it
   * (MQTT-3.1.2-24); "a Server is permitted to disconnect a Client that it
   * determines to be inactive ... at any time". So that vanished peers do not
   * hold sockets for ever, such a connection is closed after idleTimeoutSec
   * with no traffic in either direction.
   */
  #closeWhenIdle(client: Client): void {
    const sock = this.#socketOf.get(client.conn);
    if (!sock) return;
    const idleTimeoutSec = this.#deps.config.limits.idleTimeoutSec;
    sock.setTimeout(idleTimeoutSec * 1000);
    sock.once('timeout', () => {
      this.#refusals.warn(this.#now(), { clientId: client.id, remote: this.#remoteOf(client), reason: 'idle', keepalive: 0, idleTimeoutSec }, 'client disconnected: keepalive 0 and no traffic for the idle timeout');
      client.close();
    });
  }

  /** Disconnects clients whose account was revoked or whose secret was rotated since they logged in. */
  #checkRegistry(): void {
    let v: number;
    try {
      v = this.#deps.principals.changeCounter();
    } catch (e) {
      this.#log.error({ err: e }, 'cannot read the registry');
      return;
    }
    if (v === this.#registryVersion) return;
    this.#registryVersion = v;
    for (const [id, s] of this.#sessions) {
      if (this.#auth.stillValid(s.principal.name, !!s.principal.anonymous, s.hashAtLogin)) continue;
      this.#log.warn({ clientId: id, role: s.principal.role, remote: this.#remoteOf(s.client), reason: 'credentials revoked or rotated' }, 'credentials revoked or rotated: disconnecting');
      this.#sessions.delete(id);
      s.client.close();
    }
  }
}

function fmt(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
