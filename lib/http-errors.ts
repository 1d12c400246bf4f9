import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isLoaError, type ErrorCode } from '../protocol/errors.js';
import type { Logger } from './log.js';

// How the console's and the panel's HTTP APIs answer a failure: JSON
// `{ error: { code, message, …context } }` with a stable code and an HTTP
// status from one table; fastify's own client errors (bad JSON, too large)
// become LOA_E_PAYLOAD_SCHEMA; anything else is logged and a bare 500.

export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  LOA_E_UNAUTHENTICATED: 401,
  LOA_E_FORBIDDEN: 403,
  LOA_E_CSRF: 403,
  LOA_E_LOGIN_THROTTLED: 429,
  LOA_E_NOT_FOUND: 404,
  LOA_E_ZONE_NOT_FOUND: 404,
  LOA_E_DEVICE_NOT_FOUND: 404,
  LOA_E_USER_NOT_FOUND: 404,
  LOA_E_ASSET_UNKNOWN: 404,
  LOA_E_NOTHING_PLAYING: 409,
  LOA_E_ANNOUNCE_REFUSED: 409,
};

export interface ErrorHandlerOptions {
  log: Logger;
  /** Statuses that differ from HTTP_STATUS for this API. */
  status?: Partial<Record<ErrorCode, number>>;
  /** Context fields of a LoaError the client may see (e.g. the rule that refused). */
  expose?: readonly string[];
  /** What the logs call a failed request. */
  what: string;
}

export function installErrorHandler(app: FastifyInstance, o: ErrorHandlerOptions): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    if (isLoaError(err)) {
      const status = o.status?.[err.code] ?? HTTP_STATUS[err.code] ?? 400;
      if (status >= 500 || status === 403) o.log.warn({ url: req.url, code: err.code }, err.message);
      const ctx = (err.context ?? {}) as Record<string, unknown>;
      const extra = Object.fromEntries((o.expose ?? []).filter((k) => typeof ctx[k] === 'string').map((k) => [k, ctx[k]]));
      return reply.code(status).send({ error: { code: err.code, message: err.message, ...extra } });
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.code === 'FST_REQ_FILE_TOO_LARGE' || e.code === 'FST_FILES_LIMIT') return reply.code(400).send({ error: { code: 'LOA_E_AUDIO_INVALID', message: 'the file is larger than the upload limit', reason: 'too-large' } });
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ error: { code: 'LOA_E_PAYLOAD_SCHEMA', message: e.message ?? 'bad request' } });
    o.log.error({ err, url: req.url }, `${o.what} failed`);
    return reply.code(500).send({ error: { code: 'LOA_E_INTERNAL', message: 'internal error' } });
  });
}
