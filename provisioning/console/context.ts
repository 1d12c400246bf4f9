import type { FastifyRequest } from 'fastify';
import type { Logger } from '../../lib/log.js';
import type { LoginThrottle } from '../../lib/http-auth.js';
import { LoaError, type ErrorCode } from '../../protocol/errors.js';
import type { AssetLibrary, Ingest } from '../library.js';
import type { Registry } from '../registry.js';
import type { Reports } from '../reports.js';
import { can, type Permission, type Principal } from './access.js';
import type { Dispatcher } from './dispatch.js';
import type { FleetTracker } from './fleet.js';
import type { Jobs } from './jobs.js';
import type { LiveBroadcaster } from '../live-broadcaster.js';
import type { Sessions } from './sessions.js';

// What the console's routes share: the context every route gets (the
// services and the console's own session, throttle and job state), and the
// checks every route makes (who is asking, may they). The app (app.ts)
// builds the context and registers the routes; routes import from here, never
// from the app. Bodies and queries are parsed with parseWith
// (protocol/codec.ts), as every payload is.

export interface TtsService {
  /** Speaks Vietnamese text into WAV bytes (normalisation included). */
  synthesize(text: string, opts: { voice?: string; speed?: number; engine?: string }): Promise<Buffer>;
}
export interface IngestService {
  /** Loudness-normalises and encodes an audio file; the result file lies in outDir. */
  ingest: Ingest;
}

export interface ConsoleDeps {
  registry: Registry;
  library: AssetLibrary;
  reports: Reports;
  fleet: FleetTracker;
  dispatcher: Dispatcher;
  log: Logger;
  tts?: TtsService;
  ingest?: IngestService;
  /** Areas of CAP alerts → zones. */
  capAreas?: { geocode?: { valueName: string; value: string; zone: string }[]; areaDesc?: { match: string; zone: string }[] };
  /** Mark cookies Secure (the console is served over HTTPS, directly or behind a proxy). */
  secureCookies?: boolean;
  /**
   * Reverse proxies (addresses, CIDR blocks) whose X-Forwarded-For is
   * believed; none by default, so the client's address is the socket's peer
   * and a caller cannot choose the address the login back-off and the audit
   * log see (lib/trust-proxy.ts).
   */
  trustProxy?: readonly string[];
  now?: () => number;
  /** Largest upload accepted (bytes). */
  maxUploadBytes?: number;
  /** Static UI directory. */
  uiDir?: string;
  /**
   * Sends the stored targets to the broker now. The MQTT services notice
   * registry changes made by other processes (PRAGMA data_version), not this
   * process's own writes, so a publish from the API calls this.
   */
  publishTargets?: () => void;
  /** Live sessions (the studio and `loa live` speak through it). */
  live?: LiveBroadcaster;
}

export interface Ctx extends ConsoleDeps {
  sessions: Sessions;
  throttle: LoginThrottle;
  jobs: Jobs;
  now: () => number;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    csrf: string | null;
  }
}

export function httpError(code: ErrorCode, message?: string): LoaError {
  return new LoaError(code, message);
}

/** The signed-in principal, or a 401. */
export function who(req: FastifyRequest): Principal {
  if (!req.principal) throw httpError('LOA_E_UNAUTHENTICATED');
  return req.principal;
}

/** The signed-in principal holding `perm`, or a 401/403. */
export function need(req: FastifyRequest, perm: Permission): Principal {
  const p = who(req);
  if (!can(p, perm)) throw httpError('LOA_E_FORBIDDEN', `${p.role} accounts may not ${perm}`);
  return p;
}
