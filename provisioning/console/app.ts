import Fastify, { type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import multipart from '@fastify/multipart';
import { installErrorHandler } from '../../lib/http-errors.js';
import { csrfMatches, LoginThrottle } from '../../lib/http-auth.js';
import { uiRoutes } from '../../lib/ui-routes.js';
import { httpError, type ConsoleDeps, type Ctx } from './context.js';
import { Jobs } from './jobs.js';
import { authRoutes } from './routes-auth.js';
import { dispatchRoutes } from './routes-dispatch.js';
import { fleetRoutes } from './routes-fleet.js';
import { libraryRoutes } from './routes-library.js';
import { liveRoutes } from './routes-live.js';
import { planningRoutes } from './routes-planning.js';
import { reportRoutes } from './routes-reports.js';
import { Sessions, SESSION_COOKIE } from './sessions.js';

// The console's HTTP API (fastify). Every route states the permission it
// needs; every change needs the session's CSRF token; every refusal is a JSON
// error with a stable code. Routes live in routes-*.ts, grouped by area; what
// they share lives in context.ts.

export async function buildApp(deps: ConsoleDeps): Promise<FastifyInstance> {
  const now = deps.now ?? Date.now;
  const jobs = deps.registry.openStore((db) => new Jobs({ db, now, onError: (err, job) => deps.log.warn({ err, job }, 'job outcome not recorded') }));
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

  for (const r of [authRoutes, fleetRoutes, libraryRoutes, planningRoutes, dispatchRoutes, reportRoutes, liveRoutes]) r(app, ctx);
  if (deps.uiDir) await uiRoutes(app, deps.uiDir);
  return app;
}
