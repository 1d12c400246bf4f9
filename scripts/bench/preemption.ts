// Benchmark: how fast an emergency cuts a playing programme. A real agent
// (own process, own sink) plays a programme decoded by ffmpeg; a signed
// emergency arrives through the real broker on loopback. Measured in the
// agent's process, from the moment its MQTT client hands the message to the
// agent (the link's 'message' event) to (a) the sink's 'started' for the
// emergency — its first sample handed to the output — and (b) the sink's
// 'ended' (reason 'preempted') for the programme. Rounds repeat: programme,
// emergency, cancel, next programme. Runs for each sink asked for: the WAV
// file, the null sink, and ALSA through the file plugin (the real speaker
// child with its warm standby).
//
//   npx tsc -p tsconfig.json && node dist/scripts/bench/preemption.js [--rounds 200] [--warmup 10] [--sinks wav,alsa] [--json]
import { randomUUID } from 'node:crypto';
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../../device/agent.js';
import { ClockTrust } from '../../device/clock.js';
import { DeviceConfig } from '../../device/config.js';
import type { ArbiterEvent } from '../../device/arbiter.js';
import { AlsaSink } from '../../audio/alsa-sink.js';
import { NullSink } from '../../audio/null-sink.js';
import { WavFileSink } from '../../audio/wav-sink.js';
import type { AudioSink } from '../../audio/types.js';
import { createLogger } from '../../lib/log.js';
import { Signer } from '../../protocol/signing.js';
import { topics } from '../../protocol/topics.js';
import type { EmergencyStart } from '../../protocol/payloads.js';
import { benchAlsaHome, benchDir, benchProvince, removeBenchDirs } from './province.js';
import mqtt from 'mqtt';
import { forkWorker, machine, machineJiffies, monoMs, opusFile, parentChannel, procSample, sleep, summary, until, type Summary } from './playback-helpers.js';

type SinkKind = 'wav' | 'null' | 'alsa';
type ToWorker =
  | { t: 'init'; config: unknown; sink: SinkKind; dir: string; alsaHome: string | null; programme: string }
  | { t: 'prepare'; round: number; jitterMs: number }
  | { t: 'stop' };
interface Round {
  round: number;
  id: string;
  /** monoMs() at each step in the agent's process. */
  recv: number;
  dispatch: number;
  sinkPlay: number;
  firstPcm: number;
  started: number;
  progEnded: number;
  progEndReason: string;
  /** SQLite transactions committed between receipt and the first alert sample: how many, and their total ms. */
  txCount: number;
  txMs: number;
  /** ALSA: SIGKILL of the programme's child → its exit, as the sink measured it. */
  killToExitMs: number | null;
  /** ALSA: whether a ready standby child was waiting when the emergency arrived. */
  warm: boolean | null;
}
type FromWorker = { t: 'up' } | { t: 'ready'; round: number; outputPid: number | null } | ({ t: 'result' } & Round) | { t: 'error'; message: string };

const ZONE = 'qn/dak-ha/thon-3';
const DEVICE = 't3a';

// ───────────────────────── agent process ─────────────────────────

async function worker(): Promise<void> {
  const ch = parentChannel<ToWorker, FromWorker>();
  const init = (await ch.next()) as Extract<ToWorker, { t: 'init' }>;
  // Logs as an agent writes them (info, asynchronously), to a file rather than a terminal.
  const log = createLogger({ name: 'loa-device', level: 'info', destination: openSync(join(init.dir, `agent-${init.sink}.log`), 'a') });
  const clock = new ClockTrust({ wall: Date.now, mono: () => performance.now(), ntp: () => true, rtc: false, beaconTrustMs: 3600_000, correctAboveMs: 2000 });
  const sink: AudioSink =
    init.sink === 'wav'
      ? new WavFileSink({ file: join(init.dir, 'output.wav'), now: () => clock.now(), log })
      : init.sink === 'null'
        ? new NullSink({ now: () => clock.now(), log })
        : new AlsaSink({ log, env: { HOME: init.alsaHome!, ALSA_CONFIG_PATH: undefined }, now: () => clock.now() });
  const agent = new Agent({ config: DeviceConfig.parse(init.config), log, clock, sink, relay: null });

  // Instrumentation, registered before the agent's own listeners so each runs first.
  const recv: { t: number; payload: Buffer }[] = [];
  agent.link.on('message', (topic, payload) => {
    const t = monoMs();
    if (topic.includes('/emergency/')) recv.push({ t, payload });
  });
  const started = new Map<string, number>();
  const ended = new Map<string, { t: number; reason: string }>();
  sink.on('started', (id) => started.set(id, monoMs()));
  sink.on('ended', (id, _at, reason) => ended.set(id, { t: monoMs(), reason }));
  const played = new Map<string, number>();
  const play = sink.play.bind(sink);
  const firstPcm = new Map<string, number>();
  sink.play = (pcm, opts) => {
    played.set(opts.id, monoMs());
    // The first PCM the player pushes (tone generated, gain applied), without touching how the sink reads.
    const push = pcm.push.bind(pcm);
    pcm.push = (chunk, enc) => {
      if (!firstPcm.has(opts.id) && chunk) firstPcm.set(opts.id, monoMs());
      return push(chunk, enc);
    };
    play(pcm, opts);
  };

  // SQLite commits (synchronous=FULL: each one waits for fsync), timed where they happen.
  // Only outermost transactions commit; a nested one (a record inside the emergency desk's) is a savepoint.
  const txs: { t: number; ms: number }[] = [];
  const tx = agent.store.tx.bind(agent.store);
  let depth = 0;
  agent.store.tx = <T>(fn: () => T): T => {
    const t = monoMs();
    depth++;
    try {
      return tx(fn);
    } finally {
      if (--depth === 0) txs.push({ t, ms: monoMs() - t });
    }
  };
  await agent.start();
  const engine = agent.playback!;
  const dispatched = new Map<string, number>();
  const dispatch = engine.dispatch.bind(engine);
  engine.dispatch = (ev: ArbiterEvent) => {
    if (ev.type === 'request') dispatched.set(ev.req.id, monoMs());
    dispatch(ev);
  };
  await until(() => agent.link.connected, 'the agent connected');
  await sleep(1000); // its SUBSCRIBEs
  ch.send({ t: 'up' });

  const standbyReady = () => (sink as unknown as { standby: { state: string } | null }).standby?.state === 'ready';
  for (;;) {
    const m = await ch.next();
    if (m.t === 'stop') break;
    if (m.t !== 'prepare') continue;
    try {
      const progId = `prog-${m.round}`;
      engine.dispatch({
        type: 'request',
        at: clock.now(),
        req: { id: progId, level: 'normal', source: 'programme', programme: 'bench', title: 'Bản tin', segments: [{ kind: 'stream', url: init.programme, durationMs: null }], volume: 80, resumable: false, notAfter: null, endBy: null, requiresTrustedClock: true },
      });
      await until(() => started.has(progId), 'the programme playing', 10_000);
      if (sink instanceof AlsaSink) await until(standbyReady, 'a warm standby child', 10_000);
      await sleep(m.jitterMs);
      const before = recv.length;
      const warm = sink instanceof AlsaSink ? standbyReady() : null;
      const killStat = sink instanceof AlsaSink ? sink.stats.lastKillToExitMs : null;
      ch.send({ t: 'ready', round: m.round, outputPid: sink instanceof AlsaSink ? sink.playingPid : null });
      const id = await until(() => [...started.keys()].find((k) => k !== progId && !k.startsWith('prog-')), 'the emergency sounding', 10_000);
      // The programme child's exit, as the sink sees it (its stat changes); the paced sinks have no child.
      if (sink instanceof AlsaSink) await until(() => sink.stats.lastKillToExitMs !== killStat, 'the programme child exit', 2000).catch(() => {});
      const r = recv.slice(before).find((x) => (JSON.parse(x.payload.toString('utf8')) as { payload: { id: string } }).payload.id === id);
      if (!r) throw new Error(`emergency ${id} sounded but its receipt was not seen`);
      const pe = ended.get(progId);
      const inPath = txs.filter((x) => x.t >= r.t && x.t <= started.get(id)!);
      const res: Round = { round: m.round, id, recv: r.t, dispatch: dispatched.get(id)!, sinkPlay: played.get(id)!, firstPcm: firstPcm.get(id)!, started: started.get(id)!, progEnded: pe?.t ?? NaN, progEndReason: pe?.reason ?? 'none', txCount: inPath.length, txMs: inPath.reduce((n, x) => n + x.ms, 0), killToExitMs: sink instanceof AlsaSink ? sink.stats.lastKillToExitMs : null, warm };
      engine.dispatch({ type: 'cancel', id, at: clock.now(), reason: 'bench round over' });
      await until(() => ended.has(id), 'the emergency stopped', 5000);
      for (const map of [started, ended, played, dispatched, firstPcm]) {
        map.delete(progId);
        map.delete(id);
      }
      recv.length = 0;
      txs.length = 0;
      ch.send({ t: 'result', ...res });
    } catch (e) {
      ch.send({ t: 'error', message: (e as Error).message });
    }
  }
  await agent.stop();
  process.exit(0);
}

// ───────────────────────── bench process ─────────────────────────

async function main(): Promise<void> {
  const { values: opt } = parseArgs({ options: { worker: { type: 'boolean' }, rounds: { type: 'string', default: '200' }, warmup: { type: 'string', default: '10' }, sinks: { type: 'string', default: 'wav,alsa' }, json: { type: 'boolean' } } });
  const ROUNDS = Number(opt.rounds);
  const WARMUP = Number(opt.warmup);
  const sinks = opt.sinks!.split(',') as SinkKind[];
  const say = (s: string) => !opt.json && process.stderr.write(s + '\n');
  const m0 = machine();

  const f = await benchProvince();
  const dispatcher = await mqtt.connectAsync(f.brokerUrl, { clientId: 'dispatch', username: 'dispatch', password: f.accounts.dispatch, reconnectPeriod: 0 });
  const signer = new Signer(f.registry.readPrivateKey('dispatch'));
  const dir = benchDir('loa-bench-preempt-');
  const programme = opusFile(join(dir, 'programme.ogg'), 60);
  const results: Record<string, unknown> = {};
  try {
    for (const kind of sinks) {
      say(`${kind}: starting the agent…`);
      const home = kind === 'alsa' ? benchAlsaHome() : null;
      const w = forkWorker<ToWorker, FromWorker>(new URL(import.meta.url).pathname, ['--worker']);
      const config = f.deviceConfig(DEVICE, { data: join(dir, `data-${kind}`), agent: { audio: { output: kind }, heartbeatSec: 60, emergency: { maxStarts: 1000, perMs: 60_000 } } });
      w.send({ t: 'init', config, sink: kind, dir, alsaHome: home?.dir ?? null, programme });
      await w.next((x) => x.t === 'up', 30_000);
      const rounds: (Round & { pub: number; dead: number })[] = [];
      const j0 = machineJiffies();
      const c0 = cpuTicks(process.pid) + cpuTicks(w.child.pid!);
      const t0 = Date.now();
      for (let i = 0; i < WARMUP + ROUNDS; i++) {
        // Jitter so the emergency never lands at one fixed phase of the sinks' 10 ms pacing or the agent's timers.
        w.send({ t: 'prepare', round: i, jitterMs: 150 + Math.floor(Math.random() * 350) });
        const ready = await w.next<Extract<FromWorker, { t: 'ready' | 'error' }>>((x) => x.t === 'error' || (x.t === 'ready' && x.round === i));
        if (ready.t === 'error') throw new Error(`${kind} round ${i}: ${ready.message}`);
        // ALSA: watch the programme's output child die (zombie or gone: its PCM is closed), from this process.
        const dead = ready.outputPid ? whenDead(ready.outputPid) : null;
        const now = Date.now();
        const e: EmergencyStart = { type: 'start', id: randomUUID(), issuedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 600_000).toISOString(), scope: { zones: [ZONE], devices: [] }, level: 4, mode: 'actual', content: { kind: 'standard', clip: 'chime' }, repeat: 1, title: 'Lũ quét' };
        const payload = JSON.stringify(signer.sign('emergency', e));
        const pub = monoMs();
        await dispatcher.publishAsync(topics.zoneEmergency(ZONE), payload, { qos: 1 });
        const r = await w.next<Extract<FromWorker, { t: 'result' | 'error' }>>((x) => x.t === 'error' || (x.t === 'result' && x.round === i));
        if (r.t === 'error') throw new Error(`${kind} round ${i}: ${r.message}`);
        if (r.id !== e.id) throw new Error(`${kind} round ${i}: ${r.id} sounded, ${e.id} was sent`);
        const deadAt = dead ? await dead : null;
        if (i >= WARMUP) rounds.push({ ...r, pub, dead: deadAt ?? NaN });
        if ((i + 1) % 50 === 0) say(`${kind}: ${i + 1 - WARMUP} rounds`);
      }
      const j1 = machineJiffies();
      const c1 = cpuTicks(process.pid) + cpuTicks(w.child.pid!);
      w.send({ t: 'stop' });
      await new Promise((r) => w.child.once('exit', r));
      const s = (xs: number[]) => summary(xs);
      results[kind] = {
        rounds: rounds.length,
        seconds: Math.round((Date.now() - t0) / 100) / 10,
        // Busy time of the machine apart from this process (broker, province services, dispatcher) and the agent's tree, in % of all cores.
        otherLoadPct: Math.round(((j1.busy - j0.busy - (c1 - c0)) / (j1.total - j0.total)) * 1000) / 10,
        benchCpuPct: Math.round(((c1 - c0) / (j1.total - j0.total)) * 1000) / 10,
        preemptedReasons: [...new Set(rounds.map((r) => r.progEndReason))],
        firstAlertSample: s(rounds.map((r) => r.started - r.recv)),
        previousStopped: s(rounds.map((r) => r.progEnded - r.recv)),
        ...(kind === 'alsa' ? { previousChildDead: s(rounds.map((r) => r.dead - r.recv)), killToExitSeen: s(rounds.map((r) => r.killToExitMs ?? NaN)), warmRounds: rounds.filter((r) => r.warm).length } : {}),
        publishToReceipt: s(rounds.map((r) => r.recv - r.pub)),
        sqliteInPath: { commits: summary(rounds.map((r) => r.txCount)), ms: s(rounds.map((r) => r.txMs)) },
        steps: {
          receiptToDispatch: s(rounds.map((r) => r.dispatch - r.recv)),
          dispatchToSinkPlay: s(rounds.map((r) => r.sinkPlay - r.dispatch)),
          sinkPlayToFirstPcm: s(rounds.map((r) => r.firstPcm - r.sinkPlay)),
          firstPcmToStarted: s(rounds.map((r) => r.started - r.firstPcm)),
        },
        slowest: [...rounds].sort((a, b) => b.started - b.recv - (a.started - a.recv)).slice(0, 5).map((r) => ({ round: r.round, toDispatch: +(r.dispatch - r.recv).toFixed(2), toSinkPlay: +(r.sinkPlay - r.recv).toFixed(2), toStarted: +(r.started - r.recv).toFixed(2), toEnded: +(r.progEnded - r.recv).toFixed(2) })),
      };
    }
  } finally {
    await dispatcher.endAsync();
    await f.stop();
    removeBenchDirs();
  }
  const out = { machine: m0, loadavgAfter: machine().loadavg, rounds: ROUNDS, warmup: WARMUP, targetP99Ms: 100, results };
  if (opt.json) return void console.log(JSON.stringify(out, null, 2));
  console.log(`preemption: ${ROUNDS} emergencies per sink against a playing programme, on ${m0.cores}× ${m0.cpu}, ${m0.node}, load ${m0.loadavg.join(' ')}`);
  console.log('ms from the agent receiving the command (MQTT message event)');
  const row = (name: string, x: Summary) => console.log(`  ${name.padEnd(34)} ${[x.p50, x.p90, x.p99, x.max].map((v) => v.toFixed(1).padStart(8)).join('')}`);
  for (const [kind, r] of Object.entries(results) as [string, Record<string, Summary> & { steps: Record<string, Summary>; otherLoadPct: number; seconds: number; preemptedReasons: string[]; warmRounds?: number }][]) {
    console.log(`\n${kind} sink: ${r.seconds} s, other load ${r.otherLoadPct} %, programme ended as ${r.preemptedReasons.join('/')}${r.warmRounds !== undefined ? `, warm standby in ${r.warmRounds} rounds` : ''}`);
    console.log(`${''.padEnd(36)}     p50     p90     p99     max`);
    row('→ first alert sample to the sink', r.firstAlertSample!);
    row('→ programme ended (preempted)', r.previousStopped!);
    if (r.previousChildDead) row('→ programme output child dead', r.previousChildDead);
    if (r.killToExitSeen) row('  (SIGKILL → exit seen by the sink)', r.killToExitSeen);
    row('  receipt → arbiter request', r.steps.receiptToDispatch!);
    row('  arbiter request → sink.play()', r.steps.dispatchToSinkPlay!);
    row('  sink.play() → first PCM pushed', r.steps.sinkPlayToFirstPcm!);
    row('  first PCM pushed → started', r.steps.firstPcmToStarted!);
    row('publish → receipt (loopback broker)', r.publishToReceipt!);
    const sq = (r as unknown as { sqliteInPath: { commits: Summary; ms: Summary } }).sqliteInPath;
    row(`SQLite commits in the path (×${sq.commits.p50})`, sq.ms);
    console.log(`  target p99 ≤ 100 ms: first sample ${r.firstAlertSample!.p99 <= 100 ? 'met' : 'NOT met'}, previous stopped ${r.previousStopped!.p99 <= 100 ? 'met' : 'NOT met'}`);
  }
}

/** utime + stime of a process and of its reaped children, in ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

/** monoMs() when `pid` is a zombie or gone, polled every millisecond; null after 3 s. */
function whenDead(pid: number): Promise<number | null> {
  const end = monoMs() + 3000;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const s = procSample(pid);
      if (!s || s.state === 'Z' || s.state === 'X') {
        clearInterval(timer);
        resolve(monoMs());
      } else if (monoMs() > end) {
        clearInterval(timer);
        resolve(null);
      }
    }, 1);
  });
}

const isWorker = process.argv.includes('--worker');
if (isWorker) await worker();
else await main();
