import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import multipart from '@fastify/multipart';
import { z } from 'zod';
import type { Logger } from '../../lib/log.js';
import { LoaError, type ErrorCode } from '../../protocol/errors.js';
import { installErrorHandler } from '../../lib/http-errors.js';
import { schemaError } from '../../protocol/codec.js';
import type { AssetLibrary, Ingest } from '../library.js';
import type { Registry } from '../registry.js';
import type { Reports } from '../reports.js';
import { can, type Permission, type Principal } from './access.js';
import type { Dispatcher } from './dispatch.js';
import type { FleetTracker } from './fleet.js';
import { Sessions, SESSION_COOKIE } from './sessions.js';
import { csrfMatches, LoginThrottle } from '../../lib/http-auth.js';
import { Jobs } from './jobs.js';

// The console's HTTP API (fastify). Every route states the permission it
// needs; every change needs the session's CSRF token; every refusal is a JSON
// error with a stable code. Routes live in routes-*.ts, grouped by area.

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

/** Parses a body or query with a schema, as a 400 with every problem listed. */
export function body<S extends z.ZodType>(schema: S, value: unknown, what = 'request'): z.output<S> {
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw schemaError(what, r.error);
  return r.data;
}

export async function buildApp(deps: ConsoleDeps): Promise<FastifyInstance> {
  const now = deps.now ?? Date.now;
  const jobs = new Jobs({ db: deps.registry.db, now, onError: (err, job) => deps.log.warn({ err, job }, 'job outcome not recorded') });
  // Jobs of a console that died (killed, a power cut) answer as interrupted, not as running for ever.
  const interrupted = jobs.recover();
  if (interrupted) deps.log.warn({ jobs: interrupted }, 'jobs interrupted by the console\'s restart');
  const ctx: Ctx = { ...deps, now, sessions: new Sessions(deps.registry, { now }), throttle: new LoginThrottle(5, 15 * 60_000, now), jobs };
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024, trustProxy: deps.trustProxy?.length ? [...deps.trustProxy] : false });
  await app.register(cookie);
  await app.register(multipart, { limits: { fileSize: deps.maxUploadBytes ?? 200 * 1024 * 1024, files: 1, fields: 10 } });
  // CAP alerts arrive as XML.
  app.addContentTypeParser(['application/xml', 'text/xml', 'application/cap+xml'], { parseAs: 'buffer', bodyLimit: 256 * 1024 }, (_req, b, done) => done(null, b));
  app.decorateRequest('principal', null);
  app.decorateRequest('csrf', null);

  app.addHook('onRequest', async (req) => {
    const s = ctx.sessions.lookup(req.cookies[SESSION_COOKIE]);
    req.principal = s?.principal ?? null;
    req.csrf = s?.csrf ?? null;
    // Changes need the session's token in a header, which another site cannot set (CSRF).
    if (s && req.method !== 'GET' && req.method !== 'HEAD' && !csrfMatches(s.csrf, req.headers['x-csrf-token'] as string | undefined)) {
      throw httpError('LOA_E_CSRF');
    }
  });

  installErrorHandler(app, { log: deps.log, what: 'console request', expose: ['rule', 'reason'] });

  const { authRoutes } = await import('./routes-auth.js');
  const { fleetRoutes } = await import('./routes-fleet.js');
  const { libraryRoutes } = await import('./routes-library.js');
  const { planningRoutes } = await import('./routes-planning.js');
  const { dispatchRoutes } = await import('./routes-dispatch.js');
  const { reportRoutes } = await import('./routes-reports.js');
  for (const r of [authRoutes, fleetRoutes, libraryRoutes, planningRoutes, dispatchRoutes, reportRoutes]) r(app, ctx);
  if (deps.uiDir) {
    const { uiRoutes } = await import('../../lib/ui-routes.js');
    uiRoutes(app, deps.uiDir);
  }
  return app;
}
