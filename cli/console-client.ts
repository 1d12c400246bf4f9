import { readFileSync } from 'node:fs';
import { str, UsageError, type Invocation, type OptionSpec } from '../lib/cli.js';
import { LoaError } from '../protocol/errors.js';

// Commands that act through the province console with a person's own
// account (`loa dispatch`, `loa live`): the same login, rules and audit log
// as the web console, the keys staying with the console.

export const CONN: Record<string, OptionSpec> = {
  console: { type: 'string', placeholder: 'URL', description: 'the province console ($LOA_CONSOLE_URL)', default: 'http://127.0.0.1:8080' },
  user: { type: 'string', placeholder: 'NAME', description: 'your account ($LOA_USER)' },
  'password-file': { type: 'string', placeholder: 'FILE', description: 'your password (or $LOA_PASSWORD)' },
  json: { type: 'boolean', description: 'print machine-readable JSON' },
};

export class Api {
  #cookie = '';
  #csrf = '';
  #user = '';
  constructor(readonly base: string) {}

  /** The session cookie (`name=value`) and CSRF token, for what is not a JSON call (the live WebSocket). */
  get cookie(): string {
    return this.#cookie;
  }
  get csrf(): string {
    return this.#csrf;
  }
  get user(): string {
    return this.#user;
  }

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      const payload = body ?? (method === 'GET' ? undefined : {});
      res = await fetch(new URL(path, this.base), { method, headers: { cookie: this.#cookie, 'x-csrf-token': this.#csrf, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}) });
    } catch (e) {
      throw new LoaError('LOA_E_LINK_DOWN', `cannot reach the console at ${this.base}: ${(e as Error).message}`, { cause: e });
    }
    const text = await res.text();
    let json: { error?: { code: string; message: string } } = {};
    try {
      json = text ? (JSON.parse(text) as typeof json) : {};
    } catch {
      // A proxy's error page, not the console: say what came back.
      throw new LoaError('LOA_E_LINK_DOWN', `${this.base} answered HTTP ${res.status} with something that is not the console's JSON: ${text.slice(0, 120)}`);
    }
    if (!res.ok) throw new LoaError((json.error?.code as never) ?? 'LOA_E_INTERNAL', json.error?.message ?? `HTTP ${res.status}`);
    const set = res.headers.get('set-cookie');
    if (set) this.#cookie = set.split(';')[0]!;
    return json;
  }

  async login(name: string, password: string): Promise<void> {
    const r = (await this.call('POST', '/api/login', { name, password })) as { csrf: string };
    this.#csrf = r.csrf;
    this.#user = name;
  }
}

/** Logs in with --user and the password (--password-file or $LOA_PASSWORD). */
export async function session(inv: Invocation): Promise<Api> {
  const api = new Api(str(inv.values.console) === 'http://127.0.0.1:8080' && inv.io.env.LOA_CONSOLE_URL ? inv.io.env.LOA_CONSOLE_URL : str(inv.values.console)!);
  const user = str(inv.values.user) ?? inv.io.env.LOA_USER;
  if (!user) throw new UsageError('--user NAME (or $LOA_USER) is required');
  const pf = str(inv.values['password-file']);
  let password = inv.io.env.LOA_PASSWORD;
  if (pf) {
    try {
      password = readFileSync(pf, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new LoaError('LOA_E_CONFIG_INVALID', `cannot read ${pf}: ${(e as Error).message}`, { cause: e });
    }
  }
  if (!password) throw new UsageError('your password is needed: --password-file FILE or $LOA_PASSWORD');
  await api.login(user, password);
  return api;
}
