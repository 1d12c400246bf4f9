// Benchmark: do four villages start the same programme together? Four real
// agents, each in its own process with its own sink, get a target whose
// programme is due at a whole minute. Their clocks are ClockTrust with the
// same offset from this machine's clock (they share it, as NTP-synchronised
// devices share true time), chosen so the minute is a few seconds away.
// Reported per round: the skew (max − min) of the four sinks' 'started'
// times, each by its sink's own now(), and how late each was against the
// minute, split into the scheduler handing the item to the arbiter and the
// audio starting after that. Every round starts four fresh agents on the
// same data directories (the asset is synced once, before round 1), each
// after its own random delay of up to 1 s, as villages do not boot together.
// Each round also reports the machine's other load while it ran: busy time
// apart from this process and the agents' trees, in % of all cores.
//
//   npx tsc -p tsconfig.json && node dist/scripts/bench/start-skew.js [--rounds 10] [--lead 5000] [--sink wav|null|alsa] [--chime] [--aligned] [--json]
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../../device/agent.js';
import { ClockTrust } from '../../device/clock.js';
import { DeviceConfig } from '../../device/config.js';
import type { ArbiterEvent } from '../../device/arbiter.js';
import { AlsaSink } from '../../audio/alsa-sink.js';
import { decode } from '../../audio/decode.js';
import { NullSink } from '../../audio/null-sink.js';
import { WavFileSink } from '../../audio/wav-sink.js';
import type { AudioSink } from '../../audio/types.js';
import { createLogger } from '../../lib/log.js';
import { localMinutes } from '../../schedules/time.js';
import { benchAlsaHome, benchDir, benchProvince, removeBenchDirs } from './province.js';
import { forkWorker, machine, machineJiffies, monoMs, opusFile, parentChannel, sleep, summary, until } from './playback-helpers.js';

type SinkKind = 'wav' | 'null' | 'alsa';
type ToWorker =
  | { t: 'init'; config: unknown; sink: SinkKind; dir: string; alsaHome: string | null }
  | { t: 'sync'; version: number }
  | { t: 'round'; round: number; offsetMs: number; version: number; programme: string; startDelayMs: number }
  | { t: 'stop' };
interface Started {
  /** The sink's 'started' time by its own now() (the agent's clock). */
  atMs: number;
  /** Agent-clock time when the scheduler handed the item to the arbiter, and when the sink was given the stream. */
  dispatchAt: number;
  playAt: number;
  /** monoMs() of the 'started' event, comparable across processes. */
  mono: number;
}
type FromWorker = { t: 'up' } | { t: 'synced' } | { t: 'ready'; round: number; agentNow: number } | ({ t: 'started'; round: number } & Started) | { t: 'stopped'; round: number } | { t: 'error'; message: string };

const DEVICES = ['t3a', 't3b', 't4a', 'l1a'];

// ───────────────────────── agent process ─────────────────────────

async function worker(): Promise<void> {
  const ch = parentChannel<ToWorker, FromWorker>();
  const init = (await ch.next()) as Extract<ToWorker, { t: 'init' }>;
  const config = DeviceConfig.parse(init.config);
  const log = createLogger({ name: 'loa-device', level: 'info', destination: openSync(join(init.dir, `agent-${config.device.id}.log`), 'a') });
  ch.send({ t: 'up' });

  const run = async (offsetMs: number, round: number | null, onStarted?: (id: string, s: Started) => void) => {
    const clock = new ClockTrust({ wall: () => Date.now() + offsetMs, mono: () => performance.now(), ntp: () => true, rtc: false, beaconTrustMs: 3600_000, correctAboveMs: 2000 });
    const now = () => clock.now();
    const sink: AudioSink =
      init.sink === 'wav'
        ? new WavFileSink({ file: join(init.dir, `${config.device.id}-${round ?? 'sync'}.wav`), now, log })
        : init.sink === 'null'
          ? new NullSink({ now, log })
          : new AlsaSink({ log, env: { HOME: init.alsaHome!, ALSA_CONFIG_PATH: undefined }, now });
    const agent = new Agent({ config, log, clock, sink, relay: null });
    const dispatched = new Map<string, number>();
    const played = new Map<string, number>();
    sink.on('started', (id, atMs) => onStarted?.(id, { atMs, mono: monoMs(), dispatchAt: dispatched.get(id) ?? NaN, playAt: played.get(id) ?? NaN }));
    const play = sink.play.bind(sink);
    sink.play = (pcm, opts) => {
      played.set(opts.id, now());
      play(pcm, opts);
    };
    await agent.start();
    const engine = agent.playback!;
    const dispatch = engine.dispatch.bind(engine);
    engine.dispatch = (ev: ArbiterEvent) => {
      if (ev.type === 'request') dispatched.set(ev.req.id, now());
      dispatch(ev);
    };
    return { agent, now };
  };
  const applied = (agent: Agent, version: number) => until(() => agent.store.target()?.version === version && agent.store.target()?.appliedAt, `target ${version} applied`, 30_000, 10);

  for (;;) {
    const m = await ch.next();
    try {
      if (m.t === 'stop') break;
      if (m.t === 'sync') {
        const { agent } = await run(0, null);
        await applied(agent, m.version);
        // Warm up as a long-running agent is: fluent-ffmpeg has looked up the ffmpeg binary, the asset is in the page cache.
        const d = decode(agent.files.path(agent.target!.assets[0]!.sha256));
        await new Promise((r) => d.stream.once('data', r));
        d.kill();
        await agent.stop();
        ch.send({ t: 'synced' });
      } else if (m.t === 'round') {
        let first: Started | null = null;
        await sleep(m.startDelayMs);
        const { agent, now } = await run(m.offsetMs, m.round, (id, s) => {
          if (!first && id.startsWith(`${m.programme}@`)) first = s;
        });
        await applied(agent, m.version);
        ch.send({ t: 'ready', round: m.round, agentNow: now() });
        const s = await until(() => first, 'the programme starting', 70_000, 5);
        ch.send({ t: 'started', round: m.round, ...s });
        await agent.stop();
        ch.send({ t: 'stopped', round: m.round });
      }
    } catch (e) {
      ch.send({ t: 'error', message: (e as Error).message });
    }
  }
  process.exit(0);
}

// ───────────────────────── bench process ─────────────────────────

/** utime + stime of a process and of its reaped children (ffmpeg), in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

const hhmm = (t: number) => {
  const m = localMinutes(t);
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
};

async function main(): Promise<void> {
  const { values: opt } = parseArgs({ options: { worker: { type: 'boolean' }, rounds: { type: 'string', default: '10' }, lead: { type: 'string', default: '5000' }, sink: { type: 'string', default: 'wav' }, chime: { type: 'boolean' }, aligned: { type: 'boolean' }, json: { type: 'boolean' } } });
  const ROUNDS = Number(opt.rounds);
  const LEAD = Number(opt.lead);
  const kind = opt.sink as SinkKind;
  const say = (s: string) => !opt.json && process.stderr.write(s + '\n');
  const m0 = machine();
  const t0 = Date.now();

  const f = await benchProvince();
  const dir = benchDir('loa-bench-skew-');
  const asset = f.library.add(readFileSync(opusFile(join(dir, 'bulletin.ogg'), 4)), { title: 'Bản tin thử', mime: 'audio/ogg', durationMs: 4000, actor: 'bench' });
  const rules = [{ zone: 'qn', windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '00:00', volumeCap: 100 }], defaultVolume: 80, blackoutDates: [] }];
  const home = kind === 'alsa' ? benchAlsaHome() : null;
  const workers = DEVICES.map((id) => {
    const w = forkWorker<ToWorker, FromWorker>(new URL(import.meta.url).pathname, ['--worker']);
    w.send({ t: 'init', config: f.deviceConfig(id, { data: join(dir, id), agent: { audio: { output: kind }, heartbeatSec: 60 } }), sink: kind, dir, alsaHome: home?.dir ?? null });
    return w;
  });
  const all = async <T extends FromWorker>(pick: (m: FromWorker) => boolean, timeoutMs = 30_000): Promise<T[]> => {
    const got = await Promise.all(workers.map((w) => w.next<T | Extract<FromWorker, { t: 'error' }>>((m) => m.t === 'error' || pick(m), timeoutMs)));
    const err = got.find((m) => m.t === 'error');
    if (err && err.t === 'error') throw new Error(err.message);
    return got as T[];
  };
  const rounds: { round: number; due: number; starts: Started[]; otherLoadPct: number }[] = [];
  const ticks = () => cpuTicks(process.pid) + workers.reduce((a, w) => a + cpuTicks(w.child.pid!), 0);
  try {
    await all((m) => m.t === 'up');
    say('syncing the asset to the four agents…');
    const v0 = DEVICES.map((d) => f.setTarget(d, { assets: [asset.sha256], programmes: [], rules }));
    workers.forEach((w, i) => w.send({ t: 'sync', version: v0[i]! }));
    await all((m) => m.t === 'synced', 60_000);
    for (let r = 0; r < ROUNDS; r++) {
      const programme = `skew-${r}`;
      const realNow = Date.now();
      // The agents' clocks run `offset` ahead of this machine's so that a whole minute is LEAD ms away.
      const due = Math.ceil((realNow + LEAD) / 60_000) * 60_000;
      const offsetMs = due - LEAD - realNow;
      const versions = DEVICES.map((d) =>
        f.setTarget(d, { assets: [asset.sha256], programmes: [{ id: programme, title: 'Bản tin', level: 'normal', playlist: [asset.sha256], recurrence: { kind: 'daily', time: hhmm(due) }, resumable: false, zones: ['qn'], ...(opt.chime ? { chime: true } : {}) }], rules }),
      );
      const j0 = machineJiffies();
      const c0 = ticks();
      // Villages do not boot together: each agent starts at its own moment, so its timers have their own phase (--aligned: all at once).
      workers.forEach((w, i) => w.send({ t: 'round', round: r, offsetMs, version: versions[i]!, programme, startDelayMs: opt.aligned ? 0 : Math.floor(Math.random() * 1000) }));
      const ready = await all<Extract<FromWorker, { t: 'ready' }>>((m) => m.t === 'ready' && m.round === r);
      const spare = due - Math.max(...ready.map((x) => x.agentNow));
      if (spare < 500) throw new Error(`round ${r}: agents were ready only ${spare} ms before the minute; raise --lead`);
      const starts = await all<Extract<FromWorker, { t: 'started' }>>((m) => m.t === 'started' && m.round === r, LEAD + 30_000);
      const j1 = machineJiffies();
      const c1 = ticks();
      await all((m) => m.t === 'stopped' && m.round === r);
      const otherLoadPct = Math.round(((j1.busy - j0.busy - (c1 - c0)) / (j1.total - j0.total)) * 1000) / 10;
      rounds.push({ round: r, due, starts, otherLoadPct });
      const at = starts.map((s) => s.atMs);
      say(`round ${r + 1}: skew ${(Math.max(...at) - Math.min(...at)).toFixed(1)} ms, late ${at.map((a) => (a - due).toFixed(0)).join(' / ')} ms (ready ${spare} ms before the minute, other load ${otherLoadPct} %)`);
    }
  } finally {
    for (const w of workers) w.send({ t: 'stop' });
    await Promise.all(workers.map((w) => w.stop()));
    await f.stop();
    removeBenchDirs();
  }
  const skew = rounds.map((r) => Math.max(...r.starts.map((s) => s.atMs)) - Math.min(...r.starts.map((s) => s.atMs)));
  const skewMono = rounds.map((r) => Math.max(...r.starts.map((s) => s.mono)) - Math.min(...r.starts.map((s) => s.mono)));
  const dispatchSkew = rounds.map((r) => Math.max(...r.starts.map((s) => s.dispatchAt)) - Math.min(...r.starts.map((s) => s.dispatchAt)));
  const each = rounds.flatMap((r) => r.starts.map((s) => ({ ...s, due: r.due })));
  const out = {
    machine: m0,
    loadavgAfter: machine().loadavg,
    sink: kind,
    chime: !!opt.chime,
    alignedStarts: !!opt.aligned,
    rounds: rounds.length,
    seconds: Math.round((Date.now() - t0) / 1000),
    targetSkewMs: 20,
    skew: summary(skew),
    skewByEventTime: summary(skewMono),
    dispatchSkew: summary(dispatchSkew),
    otherLoadPct: summary(rounds.map((r) => r.otherLoadPct)),
    late: summary(each.map((s) => s.atMs - s.due)),
    dueToDispatch: summary(each.map((s) => s.dispatchAt - s.due)),
    dispatchToSinkPlay: summary(each.map((s) => s.playAt - s.dispatchAt)),
    sinkPlayToStarted: summary(each.map((s) => s.atMs - s.playAt)),
    perRound: rounds.map((r, i) => ({ round: r.round, skewMs: +skew[i]!.toFixed(1), otherLoadPct: r.otherLoadPct, lateMs: r.starts.map((s) => +(s.atMs - r.due).toFixed(1)) })),
  };
  if (opt.json) return void console.log(JSON.stringify(out, null, 2));
  console.log(`start-skew: 4 agents (own processes, ${kind} sinks${opt.chime ? ', programme with chime' : ''}), ${rounds.length} rounds, ${out.seconds} s, on ${m0.cores}× ${m0.cpu}, ${m0.node}, load ${m0.loadavg.join(' ')}`);
  console.log(`${''.padEnd(46)}     min     p50     max    mean`);
  const row = (name: string, x: ReturnType<typeof summary>) => console.log(`  ${name.padEnd(44)} ${[x.min, x.p50, x.max, x.mean].map((v) => v.toFixed(1).padStart(8)).join('')}`);
  row('skew of sink start (max − min), ms', out.skew);
  row('  same, by event time (CLOCK_MONOTONIC)', out.skewByEventTime);
  row('  skew of the scheduler handing it over', out.dispatchSkew);
  row('each agent: sink start − the minute', out.late);
  row('  the minute → arbiter request (tick)', out.dueToDispatch);
  row('  arbiter request → sink.play()', out.dispatchToSinkPlay);
  row('  sink.play() → first sample', out.sinkPlayToStarted);
  row('other load during each round, % of all cores', out.otherLoadPct);
  console.log(`  target skew ≤ 20 ms: ${out.skew.max <= 20 ? 'met in every round' : `met in ${skew.filter((s) => s <= 20).length} of ${skew.length} rounds`}`);
}

if (process.argv.includes('--worker')) await worker();
else await main();
