import type { FastifyInstance } from 'fastify';
import { httpError, need, who, type Ctx } from './context.js';
import { allInScope, can } from './access.js';
import { LoaError } from '../../protocol/errors.js';

export function dispatchRoutes(app: FastifyInstance, ctx: Ctx): void {
  app.get('/api/dispatches', async (req) => {
    const p = need(req, 'read');
    return { dispatches: ctx.dispatcher.list(p) };
  });

  app.get<{ Params: { id: string } }>('/api/dispatches/:id', async (req) => {
    const p = need(req, 'read');
    const d = ctx.dispatcher.get(req.params.id);
    if (!d || !allInScope(p, d.zones)) throw httpError('LOA_E_NOT_FOUND', 'no such dispatch');
    return { dispatch: d, rollup: d.kind === 'start' ? ctx.dispatcher.rollup(d.id) : null };
  });

  app.post('/api/dispatches', async (req) => {
    const p = who(req);
    return { dispatch: await ctx.dispatcher.compose(p, req.body) };
  });

  app.post<{ Params: { id: string } }>('/api/dispatches/:id/approve', async (req) => {
    const p = who(req);
    return { dispatch: await ctx.dispatcher.approve(p, req.params.id) };
  });

  app.post<{ Params: { id: string } }>('/api/dispatches/:id/cancel', async (req) => {
    const p = who(req);
    return { dispatch: await ctx.dispatcher.cancel(p, req.params.id) };
  });

  /**
   * CAP 1.2 alerts from a warning system. The caller is a dispatch account
   * (a browser session, or HTTP Basic auth for machines); the alert becomes
   * a pending dispatch that follows the same approval rule.
   */
  app.post('/api/cap', async (req, reply) => {
    const p = req.principal ?? (await basicAuth(ctx, req.headers.authorization));
    if (!p || !can(p, 'dispatch')) throw httpError(p ? 'LOA_E_FORBIDDEN' : 'LOA_E_UNAUTHENTICATED', 'CAP alerts need a dispatch account');
    const { handleCap } = await import('./cap-intake.js');
    const r = await handleCap(ctx, p, req.body as Buffer);
    return reply.code(r.status).send(r.body);
  });
}

async function basicAuth(ctx: Ctx, header: string | undefined) {
  if (!header?.startsWith('Basic ')) return null;
  const [name, password] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(/:(.*)/s);
  if (!name || password === undefined) return null;
  const key = `account:${name}`;
  if (ctx.throttle.waitMs(key) > 0) throw new LoaError('LOA_E_LOGIN_THROTTLED');
  const pr = ctx.registry.principal(name);
  const { verifySecret } = await import('../../lib/secrets.js');
  if (!pr || pr.kind !== 'account' || !pr.active || !(await verifySecret(password, pr.secretHash))) {
    ctx.throttle.failed(key);
    return null;
  }
  return { name: pr.name, role: pr.role, zone: pr.zone };
}
