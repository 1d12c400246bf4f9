import { join } from 'node:path';
import { Agent } from '../../device/agent.js';
import { ClockTrust } from '../../device/clock.js';
import { Panel } from '../../device/panel/server.js';
import { WavFileSink } from '../../audio/wav-sink.js';
import { silentLogger } from '../../lib/log.js';
import type { SyncFixture } from './sync-fixture.js';
import { tempDir } from './tmp.js';
import { localDate } from '../../schedules/time.js';

// A village agent playing into a WAV file with its local panel on loopback,
// and an HTTP client that keeps the panel's cookie and CSRF token.

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export class PanelClient {
  cookie = '';
  csrf = '';
  constructor(readonly base: string) {}

  async req<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.cookie) h.cookie = this.cookie;
    if (method !== 'GET' && this.csrf && !('x-csrf-token' in h)) h['x-csrf-token'] = this.csrf;
    let payload: FormData | string | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      h['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(new URL(path, this.base), { method, headers: h, ...(payload !== undefined ? { body: payload } : {}) });
    const set = res.headers.get('set-cookie');
    if (set) this.cookie = /Expires=Thu, 01 Jan 1970/i.test(set) ? '' : set.split(';')[0]!;
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, body: (type.includes('json') ? await res.json() : await res.text()) as T, headers: res.headers };
  }

  async login(password: string): Promise<Reply> {
    const r = await this.req('POST', '/api/login', { password });
    if (r.status === 200) this.csrf = r.body.csrf;
    return r;
  }

  upload(path: string, name: string, bytes: Buffer, title?: string): Promise<Reply> {
    const form = new FormData();
    if (title) form.set('title', title);
    form.set('file', new Blob([new Uint8Array(bytes)]), name);
    return this.req('POST', path, form);
  }
}

export interface PanelAgent {
  agent: Agent;
  panel: Panel;
  url: string;
  wav: string;
  sink: WavFileSink;
  client: () => PanelClient;
  password: string;
}

/** An agent of the fixture's province with a WAV horn and its panel on 127.0.0.1 (any free port). */
export async function startPanelAgent(f: SyncFixture, id: string, opts: { now?: () => number; offsetMs?: number; idleMs?: number; maxMs?: number; maxUploadBytes?: number; data?: string; url?: string } = {}): Promise<PanelAgent> {
  const clock = new ClockTrust({ wall: () => Date.now() + (opts.offsetMs ?? 0), mono: () => performance.now(), ntp: () => true, rtc: false, beaconTrustMs: 3600_000, correctAboveMs: 2000 });
  const wav = join(tempDir('loa-panel-'), `${id}.wav`);
  const sink = new WavFileSink({ file: wav, now: () => clock.now() });
  const agent = new Agent({ config: f.deviceConfig(id, { ...(opts.data ? { data: opts.data } : {}), ...(opts.url ? { url: opts.url } : {}), agent: { audio: { output: 'wav' } } }), log: silentLogger(), clock, sink, relay: null });
  await agent.start();
  const panel = new Panel({ agent, log: silentLogger(), port: 0, bind: ['127.0.0.1'], sessionIdleMs: opts.idleMs ?? 30 * 60_000, sessionMaxMs: opts.maxMs ?? 8 * 3600_000, maxUploadBytes: opts.maxUploadBytes ?? 10 * 1024 * 1024, ...(opts.now ? { now: opts.now } : {}) });
  const [url] = await panel.start();
  return { agent, panel, url: url!, wav, sink, client: () => new PanelClient(url!), password: f.p.devices[id]!.panelPassword };
}

/**
 * A village target with `clip` on the device and a night bulletin at 23:30 that the
 * quiet hours refuse (allowed 00:00–22:00, cap 70, default 60); with the clock offset
 * that puts the agent at 10:00 today in Việt Nam, inside the window.
 */
export function quietNightTarget(f: SyncFixture, device: string, zone: string, clip: string): { version: number; offsetMs: number } {
  const today = localDate(Date.now());
  const version = f.setTarget(device, {
    assets: [clip],
    programmes: [{ id: 'dem-khuya', title: 'Bản tin đêm', level: 'normal', playlist: [clip], recurrence: { kind: 'once', date: today, time: '23:30' }, resumable: false, zones: [zone] }],
    rules: [{ zone: 'qn', windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '22:00', volumeCap: 70 }], defaultVolume: 60, blackoutDates: [] }],
  });
  return { version, offsetMs: Date.parse(`${today}T03:00:00Z`) - Date.now() };
}
