// Benchmark: one 5 MB asset to 100 agents over MQTT (loa broker + console
// services, real agents in a few processes), against the same 100 downloads
// over plain HTTP on loopback, in the same run. Prints completion times, the
// ratio, the broker's RSS growth during the sync, and an agent's idle RSS.
//
//   npm run build && node dist/scripts/bench/asset-sync.js [--devices 100] [--size 5242880] [--workers 4] [--json]
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from '../../provisioning/registry.js';
import { AssetLibrary } from '../../provisioning/library.js';
import { setTarget } from '../../provisioning/targets.js';
import { BUNDLE_FORMAT } from '../../protocol/bundle.js';

const { values: opt } = parseArgs({ options: { devices: { type: 'string', default: '100' }, size: { type: 'string', default: String(5 * 1024 * 1024) }, workers: { type: 'string', default: '4' }, agent: { type: 'string', default: '{}' }, json: { type: 'boolean' } } });
const DEVICES = Number(opt.devices);
const SIZE = Number(opt.size);
const WORKERS = Number(opt.workers);
const root = join(import.meta.dirname, '..', '..', '..');
const LOA = join(root, 'bin', 'loa.js');
const WORKER = join(import.meta.dirname, 'asset-sync-worker.js');
const dir = mkdtempSync(join(tmpdir(), 'loa-bench-sync-'));
const children: ChildProcess[] = [];
const log = (s: string) => !opt.json && process.stderr.write(s + '\n');

function rssKb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSec(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string; lines: (cb: (o: Record<string, unknown>) => void) => void } {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LOA_LOG_LEVEL: 'warn', ...env } });
  children.push(child);
  let out = '';
  const listeners: ((o: Record<string, unknown>) => void)[] = [];
  let buf = '';
  child.stdout!.on('data', (d) => {
    out += d;
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        for (const l of listeners) l(o);
      } catch {
        /* not a JSON line */
      }
    }
  });
  child.stderr!.on('data', (d) => (out += d));
  return { child, out: () => out, lines: (cb) => listeners.push(cb) };
}

const until = async (cond: () => boolean, what: string, ms = 120_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

async function main(): Promise<void> {
  log(`provisioning ${DEVICES} devices…`);
  const reg = Registry.init(dir, { brokerUrls: ['mqtt://127.0.0.1:1'] }, { scryptLogN: 12 });
  reg.addZone('qn', 'Quảng Ngãi');
  reg.addZone('qn/bench', 'Bench');
  const villages = Math.ceil(DEVICES / 10);
  for (let v = 0; v < villages; v++) reg.addZone(`qn/bench/v${v}`, `Thôn ${v}`);
  const { secret: consolePw } = await reg.addAccount({ name: 'console', role: 'console' });
  const devices: { id: string; zone: string; secret: string; panelHash: string }[] = [];
  for (let i = 0; i < DEVICES; i += 10) {
    devices.push(...(await Promise.all(Array.from({ length: Math.min(10, DEVICES - i) }, async (_, j) => {
      const id = `bench-${i + j}`;
      const zone = `qn/bench/v${Math.floor((i + j) / 10)}`;
      const r = await reg.addDevice({ zone, id });
      return { id, zone, secret: r.secret, panelHash: r.panelHash };
    }))));
  }
  const lib = new AssetLibrary(reg);
  const asset = lib.add(randomBytes(SIZE), { title: 'Bản tin 5 MB', mime: 'audio/ogg', durationMs: 1_300_000, actor: 'bench' });

  const brokerCfg = join(dir, 'broker.json');
  writeFileSync(brokerCfg, JSON.stringify({ limits: { connectRate: { globalPerSec: 10000, globalBurst: 10000, perAddressPerSec: 10000, perAddressBurst: 10000 } } }));
  const broker = start([...(process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []), LOA, 'broker', '--data', dir, '--port', '0', '--config', brokerCfg], { LOA_LOG_LEVEL: 'info', ...(process.env.BENCH_BROKER_ENV ? (JSON.parse(process.env.BENCH_BROKER_ENV) as object) : {}) });
  await until(() => /broker listening/.test(broker.out()), 'broker start', 20_000);
  const port = Number(/"tcp":"127\.0\.0\.1:(\d+)"/.exec(broker.out())![1]);
  const url = `mqtt://127.0.0.1:${port}`;
  const pwFile = join(dir, 'console.pw');
  writeFileSync(pwFile, consolePw, { mode: 0o600 });
  const consoleProc = start([LOA, 'console', '--assets-only', '--data', dir, '--broker', url, '--password-file', pwFile], { LOA_LOG_LEVEL: 'info' });
  await until(() => /connected to the broker/.test(consoleProc.out()), 'console start', 20_000);

  const configs = devices.map((d) => {
    const file = join(dir, `${d.id}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        format: BUNDLE_FORMAT,
        issuedAt: new Date().toISOString(),
        device: { id: d.id, zone: d.zone },
        broker: { urls: [url], username: d.id, password: d.secret, ca: null },
        keys: { console: reg.publicKeys('console'), dispatch: reg.publicKeys('dispatch') },
        panel: { passwordHash: d.panelHash },
        data: join(dir, 'agents', d.id),
        agent: { heartbeatSec: 300, audio: { output: 'null' }, ...(JSON.parse(opt.agent!) as object) },
      }),
    );
    return file;
  });

  log(`starting ${DEVICES} agents in ${WORKERS} processes…`);
  const per = Math.ceil(DEVICES / WORKERS);
  const results: Record<string, unknown>[] = [];
  let ready = 0;
  const workers = Array.from({ length: WORKERS }, (_, w) => {
    const wk = start([...(process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []), WORKER, JSON.stringify({ mode: 'mqtt', configs: configs.slice(w * per, (w + 1) * per) })]);
    wk.lines((o) => (o.ready !== undefined ? ready++ : o.done !== undefined && results.push(o)));
    return wk;
  });
  await until(() => ready === WORKERS, 'agents connected', 60_000);
  await new Promise((r) => setTimeout(r, 1000));
  const brokerPid = broker.child.pid!;
  const base = rssKb(brokerPid);
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(brokerPid))), 25);

  const cpu0 = { broker: cpuSec(brokerPid), console: cpuSec(consoleProc.child.pid!), agents: workers.reduce((n, w) => n + cpuSec(w.child.pid!), 0) };
  log('setting targets…');
  const t0 = Date.now();
  for (const d of devices) setTarget(reg, lib, d.id, { assets: [asset.sha256], reserve: [], programmes: [], rules: [] }, 'bench');
  await until(() => results.length === WORKERS, 'all agents applied', 600_000);
  const totalMs = Date.now() - t0;
  // From the first agent starting to fetch to the last one done: excludes the console noticing the new targets.
  const mqttMs = Math.max(...results.map((r) => r.lastApplied as number)) - Math.min(...results.map((r) => r.firstTarget as number));
  clearInterval(sampler);
  const cpu = { broker: cpuSec(brokerPid) - cpu0.broker, console: cpuSec(consoleProc.child.pid!) - cpu0.console, agents: workers.reduce((n, w) => n + cpuSec(w.child.pid!), 0) - cpu0.agents };
  const requests = results.reduce((n, r) => n + (r.requests as number), 0);
  for (const w of workers) w.child.stdin!.end('stop\n');

  log('HTTP peer…');
  const httpServer = start(['-e', `const http=require('http'),fs=require('fs');const f=${JSON.stringify(lib.path(asset.sha256))};const size=fs.statSync(f).size;http.createServer((q,s)=>{s.writeHead(200,{'content-length':size,'content-type':'audio/ogg'});fs.createReadStream(f).pipe(s)}).listen(0,'127.0.0.1',function(){console.log(JSON.stringify({port:this.address().port}))})`]);
  let httpPort = 0;
  httpServer.lines((o) => (httpPort = o.port as number));
  await until(() => httpPort > 0, 'http server');
  const httpResults: Record<string, unknown>[] = [];
  let httpReady = 0;
  const hworkers = Array.from({ length: WORKERS }, (_, w) => {
    const wk = start([WORKER, JSON.stringify({ mode: 'http', url: `http://127.0.0.1:${httpPort}/a`, count: Math.min(per, DEVICES - w * per), dir: join(dir, 'http', String(w)), sha256: asset.sha256 })]);
    wk.lines((o) => (o.ready !== undefined ? httpReady++ : o.done !== undefined && httpResults.push(o)));
    return wk;
  });
  await until(() => httpReady === WORKERS, 'http workers');
  const h0 = Date.now();
  for (const w of hworkers) w.child.stdin!.end('go\n');
  await until(() => httpResults.length === WORKERS, 'http downloads');
  const httpMs = Date.now() - h0;
  const httpBad = httpResults.reduce((n, r) => n + (r.bad as number), 0);

  // An agent that has just synced the asset, then idles: plain Node, and with the
  // environment of docs/deploy/loa-device.service (smaller V8 young generation, one malloc arena).
  const idleRss = async (env: NodeJS.ProcessEnv) => {
    const cfg = JSON.parse(readFileSync(configs[0]!, 'utf8')) as { data: string };
    cfg.data = join(dir, 'idle', String(Math.random()).slice(2));
    const file = join(dir, `idle-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    const a = start([LOA, 'device', '--config', file], { LOA_LOG_LEVEL: 'info', ...env });
    await until(() => /target applied/.test(a.out()), 'idle agent sync', 60_000).catch((e) => { console.error(a.out().slice(-3000)); throw e; });
    await new Promise((r) => setTimeout(r, 10_000));
    const kb = rssKb(a.child.pid!);
    a.child.kill('SIGTERM');
    return kb;
  };
  log('agent idle RSS…');
  const idleRssKb = await idleRss({});
  const idleRssUnitKb = await idleRss({ NODE_OPTIONS: '--max-semi-space-size=1', MALLOC_ARENA_MAX: '1', MALLOC_TRIM_THRESHOLD_: '131072' });

  const out = {
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    devices: DEVICES,
    assetBytes: SIZE,
    mqtt: { ms: mqttMs, totalMs, chunkRequests: requests, chunks: DEVICES * Math.ceil(SIZE / 65536), cpuSec: cpu },
    http: { ms: httpMs, bad: httpBad },
    ratio: +(mqttMs / httpMs).toFixed(2),
    broker: { baseRssMiB: +(base / 1024).toFixed(1), peakRssMiB: +(peak / 1024).toFixed(1), growthMiB: +((peak - base) / 1024).toFixed(1), growthVsFile: +(((peak - base) * 1024) / SIZE).toFixed(2) },
    agentIdleRssMiB: +(idleRssKb / 1024).toFixed(1),
    agentIdleRssAsDeployedMiB: +(idleRssUnitKb / 1024).toFixed(1),
  };
  if (opt.json) console.log(JSON.stringify(out, null, 2));
  else {
    console.log(`asset-sync: ${DEVICES} agents × ${(SIZE / 2 ** 20).toFixed(1)} MiB on ${out.machine.cores}× ${out.machine.cpu}, ${out.machine.node}`);
    console.log(`  MQTT (loa broker + console, real agents): ${(mqttMs / 1000).toFixed(2)} s from first fetch to last agent done (${(totalMs / 1000).toFixed(2)} s from \`target set\`), ${requests} chunk requests for ${out.mqtt.chunks} chunks`);
    console.log(`    CPU seconds during the sync: broker ${cpu.broker.toFixed(1)}, console ${cpu.console.toFixed(1)}, agents ${cpu.agents.toFixed(1)}`);
    console.log(`  HTTP on loopback (same downloads):        ${(httpMs / 1000).toFixed(2)} s${httpBad ? `, ${httpBad} bad` : ''}`);
    console.log(`  ratio MQTT/HTTP: ${out.ratio}  (target ≤ 1.5)`);
    console.log(`  broker RSS: ${out.broker.baseRssMiB} → peak ${out.broker.peakRssMiB} MiB, growth ${out.broker.growthMiB} MiB = ${out.broker.growthVsFile}× the file (target ≤ 2)`);
    console.log(`  agent idle RSS after its sync: ${out.agentIdleRssMiB} MiB plain node, ${out.agentIdleRssAsDeployedMiB} MiB with the systemd unit's environment (target ≤ 80)`);
  }
  reg.close();
}

try {
  await main();
} finally {
  // SIGTERM first, so services stop cleanly (and --cpu-prof can write its profile), then SIGKILL.
  const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of alive) c.kill('SIGTERM');
  await Promise.race([Promise.all(alive.map((c) => new Promise((r) => c.once('exit', r)))), new Promise((r) => setTimeout(r, 5000))]);
  for (const c of alive) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
