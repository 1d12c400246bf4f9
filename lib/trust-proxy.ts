import { isIP } from 'node:net';
import { LoaError } from '../protocol/errors.js';

// Which peers may speak for the client in X-Forwarded-For / -Proto / -Host.
// A web server that believes any X-Forwarded-For lets a caller pick its own
// address: a new address per request escapes the per-address login back-off
// and writes a forged address into the audit log. Only the reverse proxies the
// operator names are believed (none by default); fastify walks the header
// from the right and stops at the first address that is not one of them.

/**
 * Parses `ADDR`, `ADDR/PREFIX` entries (each may itself be a comma list, as
 * a flag may be repeated or given once with commas) into the list fastify's
 * `trustProxy` takes. Throws LOA_E_CONFIG_INVALID naming every bad entry.
 */
export function parseTrustedProxies(values: readonly string[], what = '--trust-proxy'): string[] {
  const entries = values.flatMap((v) => v.split(',')).map((e) => e.trim()).filter((e) => e !== '');
  const bad: string[] = [];
  for (const e of entries) {
    const [addr = '', prefix, extra] = e.split('/');
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
    if (!family || !prefixOk || extra !== undefined) bad.push(e);
  }
  if (bad.length) {
    throw new LoaError('LOA_E_CONFIG_INVALID', `${what}: not an IP address or CIDR block: ${bad.map((b) => JSON.stringify(b)).join(', ')} (e.g. 127.0.0.1, 10.0.0.0/8, ::1)`, { context: { entries: bad } });
  }
  return [...new Set(entries)];
}
