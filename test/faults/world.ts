import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { processState, spawnLoa, type LoaProcess } from '../helpers/processes.js';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { connect, endAll } from '../helpers/mqtt.js';
import { readWav, toneLevel } from '../helpers/audio.js';
import { cleanupTempDirs, sleep, tempDir, waitFor } from '../helpers/tmp.js';
import { AssetLibrary } from '../../provisioning/library.js';
import { setTarget, type TargetSpec } from '../../provisioning/targets.js';
import { Signer } from '../../protocol/signing.js';
import { encodeSigned } from '../../protocol/codec.js';
import { topics } from '../../protocol/topics.js';
import type { EmergencyCommand, EmergencyStart, LogRecord } from '../../protocol/payloads.js';
import { PCM } from '../../audio/types.js';
import { localClock, localDate } from '../../schedules/time.js';

// A province as it runs for real, for the fault suite: `loa broker` and
// `loa console` as processes on loopback, village agents as `loa device`
// processes, each behind a link the test drives (test/helpers/proxy.ts), each
// run playing into its own WAV file (the horn), its clock optionally moved by
// libfaketime (Debian's faketime) the way a Pi without RTC sees it. What a
// test asserts is what users would see: the horn (WAV), the agent's log, the
// province's reports and roll-up (its HTTP API and reports.sqlite).


/**
 * One HTTP request on a connection of its own. Node's fetch reuses idle
 * keep-alive sockets, and a console that closes one at its keep-alive timeout
 * while the request is being written fails it with "fetch failed"; the fault
 * tests make calls minutes apart under load, where that race is real.
 */
export function httpOnce(method: string, url: URL, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface LogLine {
  level: number;
  msg: string;
  /** ISO instant by the process's wall clock (pino isoTime). */
  time: string;
  [k: string]: unknown;
}

export type Proc = LoaProcess;

/** libfaketime's preload library from Debian's `faketime` package, or null when it is not installed. */
export function faketimeLibrary(): string | null {
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib/arm-linux-gnueabihf', '/usr/lib']) {
    const f = join(dir, 'faketime', 'libfaketime.so.1');
    if (existsSync(f)) return f;
  }
  return null;
}

/** A clock the test moves: writes libfaketime's offset file (`+3h`, `-2h`, `@1970-01-01 00:00:05`); the process sees it within a second. */
export class FakeClock {
  readonly file: string;
  constructor(dir: string, spec = '+0') {
    this.file = join(dir, 'faketime.rc');
    this.set(spec);
  }
  set(spec: string): void {
    writeFileSync(this.file, spec + '\n');
  }
  env(): NodeJS.ProcessEnv {
    const lib = faketimeLibrary();
    if (!lib) throw new Error('libfaketime is not installed: run scripts/setup-system.sh (package faketime)');
    // The monotonic clock stays real: the agent's timers and its time since an answer run on it, as on a Pi.
    return { LD_PRELOAD: lib, FAKETIME_TIMESTAMP_FILE: this.file, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
  }
}

export interface AgentRun {
  proc: Proc;
  wav: string;
  startedAt: number;
}

export class FaultAgent {
  readonly runs: AgentRun[] = [];

  constructor(
    readonly world: FaultWorld,
    readonly id: string,
    readonly data: string,
    readonly proxy: Proxy,
    readonly settings: Record<string, unknown>,
  ) {}

  get current(): AgentRun | null {
    return this.runs.at(-1) ?? null;
  }

  get alive(): boolean {
    const p = this.current?.proc.child;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  /** Starts `loa device` (a new WAV file per run); waits for "agent started" unless told not to. */
  async start(opts: { clock?: FakeClock; wait?: boolean; settings?: Record<string, unknown> } = {}): Promise<AgentRun> {
    const n = this.runs.length;
    const dir = join(this.world.dir, 'agents', this.id);
    mkdirSync(dir, { recursive: true });
    const wav = join(dir, `run-${n}.wav`);
    const bundle = this.world.p.devices[this.id]!.bundle;
    const config = {
      ...bundle,
      broker: { ...bundle.broker, urls: [this.proxy.url] },
      data: this.data,
      agent: {
        audio: { output: 'wav', wavFile: wav },
        relay: { driver: 'noop' },
        panel: { port: 0, bind: ['127.0.0.1'] },
        heartbeatSec: 5,
        keepaliveSec: 10,
        connectTimeoutMs: 5000,
        backoff: { minMs: 200, maxMs: 2000 },
        responseTimeoutMs: 2000,
        retryMs: 500,
        logAckTimeoutMs: 3000,
        clock: { ntpFlag: null },
        emergency: { holdMs: 8000 },
        ...this.settings,
        ...(opts.settings ?? {}),
      },
    };
    const file = join(dir, `config-${n}.json`);
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    const proc = spawnLoa(['device', '--config', file], opts.clock ? opts.clock.env() : {});
    const run = { proc, wav, startedAt: Date.now() };
    this.runs.push(run);
    if (opts.wait !== false) await waitFor(() => proc.out().includes('"msg":"agent started"') || proc.child.exitCode !== null, { timeoutMs: 20_000, what: `${this.id} started` });
    return run;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    return (await this.current?.proc.stop(signal)) ?? null;
  }

  /**
   * Every log line of every run, parsed (pino JSON); of one run only when given
   * (a time window around a restart is no way to tell runs apart: a stop that
   * is quick puts the last run's lines within any window one picks).
   */
  logs(run?: AgentRun): LogLine[] {
    const all: LogLine[] = [];
    for (const r of run ? [run] : this.runs) {
      for (const line of r.proc.out().split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          all.push(JSON.parse(line) as LogLine);
        } catch {
          // a line cut by SIGKILL
        }
      }
    }
    return all;
  }

  /** The village panel's status, as the commune operator's phone reads it (logged in with the cluster's panel password). */
  async panelStatus(): Promise<{ store: { state: string; held: number }; disk: { full: boolean } }> {
    const line = await this.waitLog((l) => l.msg === 'local panel listening', 'its panel listening', undefined, this.current!);
    const url = (line.urls as string[])[0]!;
    const login = await httpOnce('POST', new URL('/api/login', url), { 'content-type': 'application/json' }, JSON.stringify({ password: this.world.p.devices[this.id]!.panelPassword }));
    if (login.status !== 200) throw new Error(`panel login: ${login.status} ${login.text}`);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    return JSON.parse((await httpOnce('GET', new URL('/api/status', url), { cookie })).text) as never;
  }

  async waitLog(pred: (l: LogLine) => boolean, what: string, timeoutMs = 20_000, run?: AgentRun): Promise<LogLine> {
    return waitFor(() => this.logs(run).find(pred), { timeoutMs, what: () => `${this.id}: ${what}\n${processState(this.current?.proc.child.pid)}\n${this.current?.proc.out().slice(-6000)}` });
  }

  /**
   * Seconds of the horn's output (every run's WAV) where `freqHz` sounds,
   * counted in 100 ms windows; `fromRun` skips earlier runs.
   */
  soundedSeconds(freqHz: number, fromRun = 0, level = 0.05): number {
    let windows = 0;
    const win = PCM.sampleRate / 10;
    for (const r of this.runs.slice(fromRun)) {
      if (!existsSync(r.wav)) continue;
      let x: Int16Array;
      try {
        x = readWav(r.wav).samples;
      } catch {
        continue; // a run killed before its first header write
      }
      for (let i = 0; i + win <= x.length; i += win) if (toneLevel(x, i, win, freqHz) > level) windows++;
    }
    return windows / 10;
  }
}

export interface FaultWorld {
  dir: string;
  p: TestProvince;
  library: AssetLibrary;
  broker: Proc & { port: number };
  console: Proc & { url: string };
  signer: Signer;
  dispatcher: MqttClient;
  agents: FaultAgent[];
  /** An agent with its own link (not started); `data`: its data directory (default a new temporary one). */
  agent(id: string, settings?: Record<string, unknown>, opts?: { data?: string }): Promise<FaultAgent>;
  setTarget(device: string, spec: Partial<TargetSpec>): number;
  restartBroker(signal?: NodeJS.Signals): Promise<void>;
  restartConsole(signal?: NodeJS.Signals): Promise<void>;
  /** An emergency signed with the province's dispatch key, published straight to the broker (crafted times). */
  publishEmergency(cmd: EmergencyCommand, topic?: string): Promise<void>;
  /** An emergency through the console's API, as a dispatcher sends it. */
  dispatch(body: Record<string, unknown>): Promise<{ id: string; status: string }>;
  rollup(id: string): Promise<{ zones: { zone: string; counts: Record<string, number> }[]; devices: { device: string; status: string; code?: string }[] }>;
  /** What the province stored from a device (reports.sqlite), oldest key first. */
  records(device: string, kind?: LogRecord['kind']): LogRecord[];
  api(method: string, path: string, body?: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

const BEACON_SEC = 5;

async function startConsoleProc(dir: string, p: TestProvince, brokerUrl: string, port = 0): Promise<Proc & { url: string }> {
  const proc = spawnLoa(['console', '--data', dir, '--broker', brokerUrl, '--port', String(port), '--beacon-sec', String(BEACON_SEC)], { LOA_CONSOLE_PASSWORD: p.accounts.console!.secret, LOA_DISPATCH_PASSWORD: p.accounts.dispatch!.secret });
  const url = await waitFor(() => /Loa console: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(proc.out())?.[1] ?? (proc.child.exitCode !== null ? 'exited' : null), { timeoutMs: 30_000, what: () => `console listening:\n${proc.out()}` });
  if (url === 'exited') throw new Error(`console exited:\n${proc.out()}`);
  return Object.assign(proc, { url });
}

async function startBrokerProc(dir: string, port = 0): Promise<Proc & { port: number }> {
  const proc = spawnLoa(['broker', '--data', dir, '--port', String(port)]);
  const got = await waitFor(() => /"tcp":"127\.0\.0\.1:(\d+)"[^\n]*"msg":"broker listening"/.exec(proc.out())?.[1] ?? (proc.child.exitCode !== null ? 'exited' : null), { timeoutMs: 20_000, what: () => `broker listening:\n${proc.out()}` });
  if (got === 'exited') throw new Error(`broker exited:\n${proc.out()}`);
  return Object.assign(proc, { port: Number(got) });
}

export async function faultWorld(opts: { devices?: [string, string][] } = {}): Promise<FaultWorld> {
  const p = await makeProvince({
    accounts: [
      ['console', 'console'],
      ['dispatch', 'dispatch'],
      ['approver', 'approver'],
    ],
    ...(opts.devices ? { devices: opts.devices } : {}),
  });
  const dir = p.dir;
  const library = new AssetLibrary(p.registry);
  const signer = new Signer(p.registry.readPrivateKey('dispatch'));
  let broker = await startBrokerProc(dir);
  let cons = await startConsoleProc(dir, p, `mqtt://127.0.0.1:${broker.port}`);
  const dispatcher = await connect(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'dispatch:faults', username: 'dispatch', password: p.accounts.dispatch!.secret, reconnectPeriod: 500 });
  let cookie = '';
  let csrf = '';
  const api = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!cookie) {
        const r = await httpOnce('POST', new URL('/api/login', cons.url), { 'content-type': 'application/json' }, JSON.stringify({ name: 'dispatch', password: p.accounts.dispatch!.secret }));
        if (r.status !== 200) throw new Error(`login: ${r.status} ${r.text}`);
        cookie = String(r.headers['set-cookie']).split(';')[0]!;
        csrf = (JSON.parse(r.text) as { csrf: string }).csrf;
      }
      const r = await httpOnce(method, new URL(path, cons.url), { cookie, 'x-csrf-token': csrf, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body !== undefined ? JSON.stringify(body) : undefined);
      if (r.status === 401) {
        cookie = '';
        continue;
      }
      const text = r.text;
      if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${text}`);
      return JSON.parse(text);
    }
    throw new Error(`${method} ${path}: not logged in`);
  };
  const agents: FaultAgent[] = [];
  const world: FaultWorld = {
    dir,
    p,
    library,
    get broker() {
      return broker;
    },
    get console() {
      return cons;
    },
    signer,
    dispatcher,
    agents,
    async agent(id, settings = {}, o = {}) {
      const proxy = await startProxy(broker.port);
      const a = new FaultAgent(world, id, o.data ?? join(tempDir('loa-fault-data-'), id), proxy, settings);
      agents.push(a);
      return a;
    },
    setTarget(device, spec) {
      return setTarget(p.registry, library, device, { assets: [], reserve: [], programmes: [], rules: [], ...spec }, 'fault-test');
    },
    async restartBroker(signal = 'SIGTERM') {
      const port = broker.port;
      await broker.stop(signal);
      for (const a of agents) a.proxy.cut();
      broker = await startBrokerProc(dir, port);
    },
    async restartConsole(signal = 'SIGTERM') {
      const port = Number(new URL(cons.url).port);
      await cons.stop(signal);
      cookie = '';
      cons = await startConsoleProc(dir, p, `mqtt://127.0.0.1:${broker.port}`, port);
    },
    async publishEmergency(cmd, topic) {
      const t = topic ?? (cmd.scope.devices[0] ? topics.deviceEmergency(cmd.scope.devices[0]) : topics.zoneEmergency(cmd.scope.zones[0]!));
      await dispatcher.publishAsync(t, encodeSigned('zone-emergency', signer.sign('emergency', cmd)), { qos: 1 });
    },
    async dispatch(body) {
      const r = (await api('POST', '/api/dispatches', { mode: 'exercise', level: 3, repeat: 1, content: { kind: 'standard', clip: 'chime' }, ...body })) as { dispatch: { id: string; status: string } };
      return r.dispatch;
    },
    async rollup(id) {
      return ((await api('GET', `/api/dispatches/${id}`)) as { rollup: Awaited<ReturnType<FaultWorld['rollup']>> }).rollup;
    },
    records(device, kind) {
      const f = join(dir, 'reports.sqlite');
      const db = new Database(f, { readonly: true, fileMustExist: true });
      try {
        const rows = (kind ? db.prepare('SELECT record FROM device_log WHERE device = ? AND kind = ? ORDER BY key').all(device, kind) : db.prepare('SELECT record FROM device_log WHERE device = ? ORDER BY key').all(device)) as { record: string }[];
        return rows.map((r) => JSON.parse(r.record) as LogRecord);
      } finally {
        db.close();
      }
    },
    api,
    async stop() {
      for (const a of agents) {
        await a.kill('SIGTERM').catch(() => {});
        a.proxy.cut();
        await a.proxy.close();
      }
      await endAll(dispatcher);
      await cons.stop();
      await broker.stop();
      p.registry.close();
    },
  };
  return world;
}

/** A start command with sensible defaults: an exercise of the standard chime for a zone, valid for ten minutes from now. */
export function emergency(o: Partial<EmergencyStart> = {}): EmergencyStart {
  const now = Date.now();
  return { type: 'start', id: crypto.randomUUID(), issuedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 600_000).toISOString(), scope: { zones: ['qn/dak-ha'], devices: [] }, level: 3, mode: 'exercise', content: { kind: 'standard', clip: 'chime' }, repeat: 1, title: 'Diễn tập', ...o };
}

/** Every quarantine folder of an agent's data directory. */
export function quarantined(data: string): string[] {
  const q = join(data, 'quarantine');
  return existsSync(q) ? readdirSync(q) : [];
}

export { sleep };

/**
 * The fault world of one test file: made before its tests, stopped (and its
 * temporary folders removed) after; the value returned stands for it.
 */
export function useFaultWorld(suite: { before(fn: () => Promise<void>): void; after(fn: () => Promise<void>): void }, opts: Parameters<typeof faultWorld>[0] = {}): FaultWorld {
  let w: FaultWorld | null = null;
  suite.before(async () => {
    w = await faultWorld(opts);
  });
  suite.after(async () => {
    await w?.stop();
    cleanupTempDirs();
  });
  return new Proxy({} as FaultWorld, {
    get: (_, key) => {
      if (!w) throw new Error('the fault world is made in the test file\'s before hook');
      return Reflect.get(w, key, w);
    },
  });
}
/** A tone of `seconds` at `hz`, Opus in Ogg from Debian's ffmpeg, added to the province library: a programme whose sound the test can find in the horn. */
export function toneAsset(w: FaultWorld, seconds: number, hz: number, title = `Âm thử ${hz} Hz`) {
  const file = join(tempDir(), `tone-${hz}-${seconds}.ogg`);
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${seconds}`, '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '48k', file]);
  return w.library.add(readFileSync(file), { title, mime: 'audio/ogg', durationMs: seconds * 1000, actor: 'fault-test' });
}

/** The start of the next whole minute at least `leadMs` from now (programmes are scheduled by the minute), and its local date and time. */
export function nextMinute(leadMs: number): { at: number; date: string; time: string } {
  const at = Math.ceil((Date.now() + leadMs) / 60_000) * 60_000;
  const clock = localClock(at);
  return { at, date: localDate(at), time: clock.slice(0, 5) };
}

/**
 * How long a wait for something due at `when` may last: until then, and `afterMs`
 * beyond. A fixed timeout counted from the call ran out before a programme due
 * up to 100 s ahead (nextMinute rounds up to the minute), now and then.
 */
export function untilDue(when: { at: number }, afterMs = 30_000): number {
  return Math.max(0, when.at - Date.now()) + afterMs;
}

/** A one-off programme of one asset at `when` (no rules: every hour allowed). */
export function oneOff(id: string, sha256: string, when: { date: string; time: string }, o: { resumable?: boolean; level?: 'normal' | 'priority'; zones?: string[] } = {}) {
  return { id, title: `Chương trình ${id}`, level: o.level ?? 'normal', playlist: [sha256], recurrence: { kind: 'once' as const, date: when.date, time: when.time }, resumable: o.resumable ?? false, zones: o.zones ?? ['qn'] };
}
