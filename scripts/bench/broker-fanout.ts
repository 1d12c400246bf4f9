// broker-fanout: one publisher, N authenticated QoS1 subscribers, small
// messages; delivered messages per second and publish→receive latency, first
// for `loa broker`, then for Debian's Mosquitto with the same clients, in the
// same run on the same machine.
//
//   npx tsc -p tsconfig.json && node dist/scripts/bench/broker-fanout.js [--subscribers 1000] [--messages 200] ...
//
// Both brokers run as child processes started the same way (loa: `node
// bin/loa.js broker`, Mosquitto: `mosquitto -c FILE`); the clients (real
// mqtt.js clients over loopback TCP) live in this process, optionally spread
// over worker threads (--workers; the groups are in fanout-subscribers.ts).
// See docs/benchmarks.md.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isMainThread } from 'node:worker_threads';
import { Registry } from '../../provisioning/registry.js';
import { connectClient, localGroup, nowMs, TOPIC, workerGroup, ZONE, type Device, type GroupConfig, type GroupHandle } from './fanout-subscribers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEVICES_PER_VILLAGE = 100;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Options {
  subscribers: number;
  messages: number;
  warmup: number;
  window: number;
  rate: number;
  payload: number;
  workers: number;
  brokers: ('loa' | 'mosquitto')[];
  connectConcurrency: number;
  persistent: boolean;
  brokerNodeArgs: string[];
  stallSec: number;
  keep: boolean;
  json: boolean;
}

// -------------------------------------------------------------- one run

interface RunResult {
  broker: string;
  subscribers: number;
  measuredMessages: number;
  deliveries: number;
  received: number;
  duplicates: number;
  seconds: number;
  deliveriesPerSec: number;
  publishesPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  connectSec: number;
  brokerCpuPct: number;
  /** Broker CPU time per delivered message: comparable even when the clients, not the broker, are the bottleneck. */
  brokerCpuUsPerDelivery: number;
  clientCpuPct: number;
  /** CPU used by everything else on the machine meanwhile (other processes, kernel), in % of one core. */
  otherCpuPct: number;
  brokerRssIdleMiB: number | null;
  brokerRssAfterConnectMiB: number | null;
  brokerPeakRssMiB: number | null;
}

interface Target {
  name: string;
  url: string;
  pid: number;
  publisher: { clientId: string; username: string; password: string };
}

async function runFanout(target: Target, devices: Device[], opts: Options): Promise<RunResult> {
  const totalSeqs = opts.warmup + opts.messages;
  const groups: GroupHandle[] = [];
  const complete = new Uint16Array(totalSeqs); // groups that received a seq in full
  const pubacked = new Uint8Array(totalSeqs);
  const waiting = new Map<number, () => void>();
  let nGroups = 0;
  const done = (seq: number) => {
    if (complete[seq] === nGroups && pubacked[seq]) waiting.get(seq)?.();
  };
  const onComplete = (seq: number) => {
    complete[seq]!++;
    done(seq);
  };
  const nWorkers = opts.workers;
  const slices = nWorkers === 0 ? [devices] : Array.from({ length: nWorkers }, (_, i) => devices.filter((_, j) => j % nWorkers === i));
  const publisher = await connectClient(target.url, { ...target.publisher, clean: true });
  try {
    for (const slice of slices) {
      if (!slice.length) continue;
      const cfg: GroupConfig = { url: target.url, devices: slice, totalSeqs, warmup: opts.warmup, clean: !opts.persistent, connectConcurrency: Math.ceil(opts.connectConcurrency / slices.length) };
      groups.push(nWorkers === 0 ? localGroup(cfg, onComplete) : workerGroup(cfg, onComplete));
    }
    nGroups = groups.length;
    const rssIdle = procStatusKb(target.pid, 'VmRSS');
    const t0 = nowMs();
    await Promise.all(groups.map((g) => g.connect()));
    const connectSec = (nowMs() - t0) / 1000;
    const rssAfterConnect = procStatusKb(target.pid, 'VmRSS');
    const pad = 'x'.repeat(Math.max(0, opts.payload - JSON.stringify({ s: totalSeqs, t: nowMs(), z: ZONE, p: '' }).length));

    // A publish is outstanding until its PUBACK has arrived and every
    // subscriber has received it. PUBACK alone bounds nothing: Mosquitto
    // acknowledges once a message is queued, before fanning it out.
    const publish = (seq: number): Promise<void> =>
      new Promise((resolve, reject) => {
        waiting.set(seq, () => {
          waiting.delete(seq);
          resolve();
        });
        const payload = JSON.stringify({ s: seq, t: nowMs(), z: ZONE, p: pad });
        publisher.publish(TOPIC, payload, { qos: 1 }, (err) => {
          if (err) return reject(err);
          pubacked[seq] = 1;
          done(seq);
        });
      });

    let progress = 0;
    let stalled: Error | null = null;
    const watchdog = setInterval(() => {
      void (async () => {
        const missing = (await Promise.all(groups.map((g) => g.missing().catch(() => -1)))).reduce((a, b) => a + b, 0);
        if (missing === progress && missing > 0 && !stalled) {
          const open = [...waiting.keys()].sort((a, b) => a - b).slice(0, 10);
          const detail: string[] = [];
          for (const s of open) {
            const got = (await Promise.all(groups.map((g) => g.receivedBy(s).catch(() => 0)))).reduce((a, b) => a + b, 0);
            detail.push(`#${s} ${pubacked[s] ? 'PUBACKed' : 'not PUBACKed'}, received by ${got}/${devices.length} subscribers`);
          }
          if (stalled) return;
          stalled = new Error(`${target.name}: nothing delivered for ${opts.stallSec} s; outstanding publishes: ${detail.join('; ') || 'none'}`);
          for (const w of waiting.values()) w();
        }
        progress = missing;
      })();
    }, opts.stallSec * 1000);

    const pump = async (from: number, to: number): Promise<void> => {
      const inflight = new Set<Promise<void>>();
      if (opts.rate > 0) {
        const start = nowMs();
        for (let seq = from; seq < to; ) {
          const due = from + Math.floor(((nowMs() - start) / 1000) * opts.rate) + 1;
          for (; seq < Math.min(due, to); seq++) {
            const p: Promise<void> = publish(seq).finally(() => inflight.delete(p));
            inflight.add(p);
          }
          if (seq < to) await sleep(1);
        }
      } else {
        for (let seq = from; seq < to; seq++) {
          while (inflight.size >= opts.window) await Promise.race(inflight);
          const p: Promise<void> = publish(seq).finally(() => inflight.delete(p));
          inflight.add(p);
        }
      }
      await Promise.all(inflight);
      if (stalled) throw stalled;
    };

    let result: RunResult;
    try {
      await pump(0, opts.warmup); // JIT, buffers, scrypt cache: not measured
      const cpu0 = process.cpuUsage();
      const bcpu0 = procCpuSec(target.pid);
      const sys0 = machineCpuSec();
      const start = nowMs();
      await pump(opts.warmup, totalSeqs);
      const stats = await Promise.all(groups.map((g) => g.stats()));
      const end = Math.max(...stats.map((s) => s.lastReceiveMs));
      const cpu1 = process.cpuUsage(cpu0);
      const bcpu1 = procCpuSec(target.pid);
      const sys1 = machineCpuSec();
      const seconds = (end - start) / 1000;
      const lat = concat(stats.map((s) => s.latencies)).sort();
      const deliveries = devices.length * opts.messages;
      if (lat.length !== deliveries) throw new Error(`${target.name}: ${lat.length} measured deliveries, expected ${deliveries}`);
      result = {
        broker: target.name,
        subscribers: devices.length,
        measuredMessages: opts.messages,
        deliveries,
        received: stats.reduce((a, s) => a + s.received, 0),
        duplicates: stats.reduce((a, s) => a + s.duplicates, 0),
        seconds,
        deliveriesPerSec: deliveries / seconds,
        publishesPerSec: opts.messages / seconds,
        latencyMs: { p50: pct(lat, 0.5), p90: pct(lat, 0.9), p99: pct(lat, 0.99), max: lat[lat.length - 1]!, mean: lat.reduce((a, b) => a + b, 0) / lat.length },
        connectSec,
        brokerCpuPct: ((bcpu1 - bcpu0) / seconds) * 100,
        brokerCpuUsPerDelivery: ((bcpu1 - bcpu0) * 1e6) / deliveries,
        clientCpuPct: ((cpu1.user + cpu1.system) / 1e6 / seconds) * 100,
        otherCpuPct: ((sys1 - sys0 - (bcpu1 - bcpu0) - (cpu1.user + cpu1.system) / 1e6) / seconds) * 100,
        brokerRssIdleMiB: rssIdle === null ? null : rssIdle / 1024,
        brokerRssAfterConnectMiB: rssAfterConnect === null ? null : rssAfterConnect / 1024,
        brokerPeakRssMiB: null,
      };
    } finally {
      clearInterval(watchdog);
    }
    const hwm = procStatusKb(target.pid, 'VmHWM');
    result.brokerPeakRssMiB = hwm === null ? null : hwm / 1024;
    return result;
  } finally {
    await Promise.all(groups.map((g) => g.close().catch(() => {})));
    await new Promise<void>((r) => publisher.end(true, {}, () => r()));
  }
}

function concat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Nearest-rank percentile of sorted values. */
function pct(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function procStatusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** User + system CPU seconds of a process, from /proc/PID/stat (clock ticks of 1/100 s on Linux). */
function procCpuSec(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine (all cores, idle and iowait excluded), from /proc/stat. */
function machineCpuSec(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
    return busy / 100;
  } catch {
    return NaN;
  }
}

// ------------------------------------------------------------- brokers

interface Child {
  proc: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

function startChild(cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Child {
  const fd = openSync(logFile, 'a');
  const proc = spawn(cmd, args, { stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  children.add(proc);
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => {
      children.delete(proc);
      resolve(code);
    });
    proc.once('error', () => {
      children.delete(proc);
      resolve(null);
    });
  });
  return { proc, logFile, exited };
}

async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const killed = await Promise.race([c.exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!killed) {
    c.proc.kill('SIGKILL');
    await c.exited;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: Child, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  let exited = false;
  void child.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`${what} exited during startup; see ${child.logFile}:\n${tail(child.logFile)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within 20 s; see ${child.logFile}:\n${tail(child.logFile)}`);
    await sleep(100);
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The loa broker's config file: connection-rate limits high enough for N connects from 127.0.0.1. */
const LOA_CONFIG = { limits: { connectRate: { globalPerSec: 100_000, globalBurst: 100_000, perAddressPerSec: 100_000, perAddressBurst: 100_000 } } };

async function startLoa(work: string, opts: Options): Promise<{ child: Child; port: number }> {
  const cfg = join(work, 'loa-broker.json');
  writeFileSync(cfg, JSON.stringify(LOA_CONFIG, null, 2));
  const port = await freePort();
  const child = startChild(process.execPath, [...opts.brokerNodeArgs, join(ROOT, 'bin', 'loa.js'), 'broker', '--data', join(work, 'loa'), '--host', '127.0.0.1', '--port', String(port), '--config', cfg], join(work, 'loa-broker.log'));
  await waitForPort(port, child, 'loa broker');
  return { child, port };
}

function mosquittoConfig(work: string, port: number | string, opts: Options): string {
  return [
    `# written by scripts/bench/broker-fanout.ts`,
    `per_listener_settings false`,
    `listener ${port} 127.0.0.1`,
    `allow_anonymous false`,
    `password_file ${join(work, 'mosquitto.passwd')}`,
    `acl_file ${join(work, 'mosquitto.acl')}`,
    `persistence false`,
    `set_tcp_nodelay true`,
    `max_keepalive 65535`,
    // Default per-client outgoing window; the publisher's window stays below it.
    `max_inflight_messages 20`,
    // Mosquitto silently drops QoS1 messages past this queue length; aedes has no such limit.
    `max_queued_messages ${Math.max(1000, opts.warmup + opts.messages + 100)}`,
    `log_dest stdout`,
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    '',
  ].join('\n');
}

async function startMosquitto(work: string, opts: Options): Promise<{ child: Child; port: number }> {
  const port = await freePort();
  const conf = join(work, 'mosquitto.conf');
  writeFileSync(conf, mosquittoConfig(work, port, opts));
  const child = startChild('mosquitto', ['-c', conf], join(work, 'mosquitto.log'));
  await waitForPort(port, child, 'mosquitto');
  return { child, port };
}

/** Same users and secrets as the loa registry; each device may read the zone topic only, the dispatcher may write it. */
function writeMosquittoAuth(work: string, devices: Device[], dispatch: Device): void {
  const passwd = join(work, 'mosquitto.passwd');
  writeFileSync(passwd, [...devices, dispatch].map((d) => `${d.id}:${d.secret}\n`).join(''), { mode: 0o600 });
  execFileSync('mosquitto_passwd', ['-U', passwd], { stdio: ['ignore', 'ignore', 'inherit'] });
  const acl = [`user ${dispatch.id}`, `topic write ${TOPIC}`, ''];
  for (const d of devices) acl.push(`user ${d.id}`, `topic read ${TOPIC}`, '');
  writeFileSync(join(work, 'mosquitto.acl'), acl.join('\n'));
}

// ---------------------------------------------------------- provisioning

async function provision(dir: string, n: number): Promise<{ devices: Device[]; dispatch: Device }> {
  mkdirSync(dir, { recursive: true });
  const reg = Registry.init(dir, { brokerUrls: ['mqtt://127.0.0.1:1883'] }, { scryptLogN: 12 });
  try {
    reg.addZone(ZONE, 'Bench province');
    const villages = Math.ceil(n / DEVICES_PER_VILLAGE);
    for (let v = 0; v < villages; v++) reg.addZone(`${ZONE}/thon-${v + 1}`, `Thôn ${v + 1}`);
    const devices: Device[] = new Array(n);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < n; i = next++) {
        const id = `d${String(i + 1).padStart(5, '0')}`;
        const r = await reg.addDevice({ zone: `${ZONE}/thon-${Math.floor(i / DEVICES_PER_VILLAGE) + 1}`, id, actor: 'bench' });
        devices[i] = { id, secret: r.secret };
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const d = await reg.addAccount({ name: 'bench-dispatch', role: 'dispatch', actor: 'bench' });
    return { devices, dispatch: { id: 'bench-dispatch', secret: d.secret } };
  } finally {
    reg.close();
  }
}

// ---------------------------------------------------------------- main

const HELP = `Usage: node dist/scripts/bench/broker-fanout.js [options]

One publisher, N authenticated QoS1 subscribers on one zone emergency topic,
over loopback TCP; loa broker first, then Mosquitto, same clients.

  --subscribers N          subscribers (default 1000)
  --messages N             measured publishes; deliveries = N x subscribers (default 200)
  --warmup N               publishes before measuring, not counted (default 20)
  --window N               closed loop: at most N publishes not yet PUBACKed and
                           received by every subscriber (default 4)
  --rate N                 open loop instead: N publishes per second, no window
  --payload BYTES          JSON payload size (default 100)
  --workers N              subscriber worker threads; 0 = all in the main thread (default 0)
  --brokers LIST           loa,mosquitto (default both, in that order)
  --connect-concurrency N  concurrent CONNECTs (default 50)
  --persistent             subscribers use persistent sessions (clean=false)
  --broker-node-args=ARGS extra node flags for the loa broker, e.g. --broker-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"
  --stall SEC              fail when nothing is delivered for SEC seconds (default 60)
  --keep                   keep the temporary directory (registry, configs, broker logs)
  --json                   print JSON
`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      subscribers: { type: 'string' },
      messages: { type: 'string' },
      warmup: { type: 'string' },
      window: { type: 'string' },
      rate: { type: 'string' },
      payload: { type: 'string' },
      workers: { type: 'string' },
      brokers: { type: 'string' },
      'connect-concurrency': { type: 'string' },
      persistent: { type: 'boolean' },
      'broker-node-args': { type: 'string' },
      stall: { type: 'string' },
      keep: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const int = (name: string, v: string | undefined, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number in ${min}..${max}, got ${JSON.stringify(v)}`);
    return n;
  };
  const brokers = (values.brokers ?? 'loa,mosquitto').split(',').map((s) => s.trim());
  for (const b of brokers) if (b !== 'loa' && b !== 'mosquitto') throw new Error(`--brokers: unknown broker ${JSON.stringify(b)}`);
  return {
    subscribers: Math.floor(int('subscribers', values.subscribers, 1000, 1, 20_000)),
    messages: Math.floor(int('messages', values.messages, 200, 1, 60_000)),
    warmup: Math.floor(int('warmup', values.warmup, 20, 0, 5000)),
    window: Math.floor(int('window', values.window, 4, 1, 10_000)),
    rate: int('rate', values.rate, 0, 0),
    payload: Math.floor(int('payload', values.payload, 100, 0, 32 * 1024 - 64)),
    workers: Math.floor(int('workers', values.workers, 0, 0, 64)),
    brokers: brokers as Options['brokers'],
    connectConcurrency: Math.floor(int('connect-concurrency', values['connect-concurrency'], 50, 1, 10_000)),
    persistent: !!values.persistent,
    brokerNodeArgs: values['broker-node-args']?.split(/\s+/).filter(Boolean) ?? [],
    stallSec: int('stall', values.stall, 60, 1),
    keep: !!values.keep,
    json: !!values.json,
  };
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]!.trim();
  } catch (e) {
    const out = String((e as { stdout?: unknown }).stdout ?? '');
    return out.split('\n')[0]!.trim() || 'unknown';
  }
}

function cleanup(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const log = (s: string) => {
    if (!opts.json) process.stderr.write(s + '\n');
  };
  const work = mkdtempSync(join(tmpdir(), 'loa-bench-fanout-'));
  if (opts.keep) log(`temporary directory (kept): ${work}`);
  else tempDirs.push(work);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanup();
      process.exit(130);
    });
  }

  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    mosquitto: opts.brokers.includes('mosquitto') ? version('mosquitto', ['-h']) : null,
    date: new Date().toISOString(),
  };

  const tp = nowMs();
  log(`provisioning ${opts.subscribers} devices and a dispatch account (scrypt 2^12)...`);
  const { devices, dispatch } = await provision(join(work, 'loa'), opts.subscribers);
  log(`  done in ${((nowMs() - tp) / 1000).toFixed(1)} s`);
  if (opts.brokers.includes('mosquitto')) writeMosquittoAuth(work, devices, dispatch);

  const results: RunResult[] = [];
  for (const name of opts.brokers) {
    log(`${name}: starting broker`);
    const { child, port } = name === 'loa' ? await startLoa(work, opts) : await startMosquitto(work, opts);
    try {
      log(`${name}: pid ${child.proc.pid}, port ${port}; connecting ${opts.subscribers} subscribers...`);
      const r = await runFanout({ name, url: `mqtt://127.0.0.1:${port}`, pid: child.proc.pid!, publisher: { clientId: dispatch.id, username: dispatch.id, password: dispatch.secret } }, devices, opts);
      results.push(r);
      log(`${name}: ${fmtRate(r.deliveriesPerSec)} deliveries/s, p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms`);
    } catch (e) {
      process.stderr.write(`${name}: FAILED; broker log ${child.logFile}:\n${tail(child.logFile)}\n`);
      throw e;
    } finally {
      await stopChild(child);
    }
  }

  const loa = results.find((r) => r.broker === 'loa');
  const mosq = results.find((r) => r.broker === 'mosquitto');
  const ratio = loa && mosq ? loa.deliveriesPerSec / mosq.deliveriesPerSec : null;
  const summary = {
    bench: 'broker-fanout',
    machine,
    settings: {
      subscribers: opts.subscribers,
      measuredMessages: opts.messages,
      warmupMessages: opts.warmup,
      mode: opts.rate > 0 ? `open loop, ${opts.rate} publishes/s` : `closed loop, window ${opts.window}`,
      payloadBytes: opts.payload,
      qos: 1,
      cleanSession: !opts.persistent,
      subscriberThreads: opts.workers === 0 ? 'main thread' : `${opts.workers} worker threads`,
      topic: TOPIC,
      loaConfig: LOA_CONFIG,
      mosquittoConfig: opts.brokers.includes('mosquitto') ? mosquittoConfig('<tmp>', '<port>', opts).split('\n').filter((l) => l && !l.startsWith('#')) : null,
    },
    results,
    ratio,
    target: { ratioMin: 0.5, p99MaxMs: 50, met: loa ? (ratio === null || ratio >= 0.5) && loa.latencyMs.p99 <= 50 : null },
  };
  if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else process.stdout.write(report(summary));
  return 0;
}

function fmtRate(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function report(s: { machine: Record<string, unknown>; settings: Record<string, unknown>; results: RunResult[]; ratio: number | null; target: { met: boolean | null } }): string {
  const f1 = (n: number | null) => (n === null ? 'n/a' : n.toFixed(1));
  const rows: [string, (r: RunResult) => string][] = [
    ['deliveries/s', (r) => fmtRate(r.deliveriesPerSec)],
    ['publishes/s', (r) => r.publishesPerSec.toFixed(1)],
    ['latency p50 ms', (r) => f1(r.latencyMs.p50)],
    ['latency p90 ms', (r) => f1(r.latencyMs.p90)],
    ['latency p99 ms', (r) => f1(r.latencyMs.p99)],
    ['latency max ms', (r) => f1(r.latencyMs.max)],
    ['broker CPU %', (r) => r.brokerCpuPct.toFixed(0)],
    ['broker CPU us per delivery', (r) => r.brokerCpuUsPerDelivery.toFixed(1)],
    ['client process CPU %', (r) => r.clientCpuPct.toFixed(0)],
    ['other load on machine CPU %', (r) => r.otherCpuPct.toFixed(0)],
    ['broker RSS before subscribers MiB', (r) => f1(r.brokerRssIdleMiB)],
    ['broker RSS after connect MiB', (r) => f1(r.brokerRssAfterConnectMiB)],
    ['broker peak RSS MiB', (r) => f1(r.brokerPeakRssMiB)],
    ['connect+subscribe s', (r) => r.connectSec.toFixed(1)],
    ['duplicates', (r) => String(r.duplicates)],
  ];
  const w = 36;
  const lines = [
    `broker-fanout: ${s.settings.subscribers} subscribers x ${s.settings.measuredMessages} messages, QoS1, ${s.settings.payloadBytes}-byte payload, ${s.settings.mode}, subscribers in ${s.settings.subscriberThreads}`,
    `machine: ${s.machine.cpu}, ${s.machine.cores} cores, ${s.machine.memGiB} GiB, node ${s.machine.node}, ${s.machine.mosquitto ?? ''}, ${s.machine.date}`,
    '',
    ''.padEnd(w) + s.results.map((r) => r.broker.padStart(12)).join(''),
    ...rows.map(([label, fn]) => label.padEnd(w) + s.results.map((r) => fn(r).padStart(12)).join('')),
    '',
  ];
  const loaCfg = s.settings.loaConfig as typeof LOA_CONFIG;
  const mq = s.settings.mosquittoConfig as string[] | null;
  lines.push(`loa broker: node bin/loa.js broker --config FILE (${JSON.stringify(loaCfg)}), other settings default (SQLite store)`);
  if (mq) lines.push(`mosquitto: ${mq.filter((l) => !/^(listener|password_file|acl_file|log_dest|user) /.test(l)).join('; ')}; password_file + acl_file with one user block per device`);
  lines.push(`session: ${s.settings.cleanSession ? 'clean' : 'persistent (clean=false)'}; topic ${s.settings.topic}`, '');
  if (s.ratio !== null) lines.push(`throughput ratio loa/mosquitto: ${s.ratio.toFixed(2)} (target >= 0.5)`);
  const loa = s.results.find((r) => r.broker === 'loa');
  if (loa) lines.push(`loa p99: ${loa.latencyMs.p99.toFixed(1)} ms (target <= 50 ms)`, `target met: ${s.target.met ? 'yes' : 'NO'}`);
  return lines.join('\n') + '\n';
}

if (isMainThread) {
  process.on('exit', cleanup);
  main().then(
    (code) => {
      cleanup();
      process.exitCode = code;
    },
    (e: unknown) => {
      cleanup();
      process.stderr.write(`broker-fanout: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
