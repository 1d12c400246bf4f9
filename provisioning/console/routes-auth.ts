import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { verifySecret } from '../../lib/secrets.js';
import { httpError, need, who, type Ctx } from './context.js';
import { parseWith } from '../../protocol/codec.js';
import { can } from './access.js';
import { SESSION_COOKIE } from './sessions.js';

export function authRoutes(app: FastifyInstance, ctx: Ctx): void {
  const Login = z.strictObject({ name: z.string().min(1).max(64), password: z.string().min(1).max(512) });

  app.post('/api/login', async (req, reply) => {
    const { name, password } = parseWith(Login, req.body ?? {}, 'login');
    const keys = [`account:${name}`, `ip:${req.ip}`];
    const wait = Math.max(...keys.map((k) => ctx.throttle.waitMs(k)));
    if (wait > 0) {
      reply.header('retry-after', Math.ceil(wait / 1000));
      throw httpError('LOA_E_LOGIN_THROTTLED', `too many failed logins: try again in ${Math.ceil(wait / 1000)} s`);
    }
    const p = ctx.registry.principal(name);
    // Service accounts (console) never log in to the web console.
    const ok = !!p && p.kind === 'account' && p.active && p.role !== 'console' && (await verifySecret(password, p.secretHash));
    if (!ok) {
      for (const k of keys) ctx.throttle.failed(k);
      ctx.registry.audit(name, 'login.failed', req.ip);
      throw httpError('LOA_E_UNAUTHENTICATED', 'wrong account name or password');
    }
    for (const k of keys) ctx.throttle.succeeded(k);
    const s = ctx.sessions.create(name);
    ctx.registry.audit(name, 'login', req.ip);
    reply.setCookie(SESSION_COOKIE, s.id, { path: '/', httpOnly: true, sameSite: 'strict', secure: !!ctx.secureCookies, expires: new Date(s.expiresAt) });
    const a = ctx.registry.account(name)!;
    return { account: { name: a.name, role: a.role, zone: a.zone }, csrf: s.csrf };
  });

  app.post('/api/logout', async (req, reply) => {
    who(req);
    const id = req.cookies[SESSION_COOKIE];
    if (id) ctx.sessions.destroy(id);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });

  app.get('/api/me', async (req) => {
    const p = who(req);
    return { account: p, csrf: req.csrf, approvalModes: (['actual', 'exercise', 'test'] as const).filter((m) => ctx.dispatcher.needsApproval(m)), can: { edit: can(p, 'edit'), dispatch: can(p, 'dispatch'), approve: can(p, 'approve'), live: can(p, 'live'), admin: can(p, 'admin') } };
  });

  app.get('/api/audit', async (req) => {
    need(req, 'admin');
    return { entries: ctx.registry.auditLog(200) };
  });
}
