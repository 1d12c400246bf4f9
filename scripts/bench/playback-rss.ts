// Benchmark: what playing a programme costs the device. An agent (own
// process, connected to a loopback broker) plays a 10-minute Opus programme;
// the memory (sum of VmRSS) and CPU of its whole process tree — the agent,
// the ffmpeg decoder it spawns and, with ALSA, the speaker children — are
// sampled from /proc for a window of steady playback. In the same run the
// same file is played the plain way, `ffmpeg … | aplay`, through the same
// ALSA file plugin. Only a window of the 10 minutes is sampled (--seconds,
// default 60), after --settle seconds.
//
//   npx tsc -p tsconfig.json && node dist/scripts/bench/playback-rss.js [--seconds 60] [--settle 5]
//       [--runs agent-alsa,agent-null,ffmpeg-aplay,ffmpeg-re-aplay] [--json]
//   more runs: agent-alsa-plain, agent-null-plain (plain node instead of the service unit's environment)
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../../device/agent.js';
import { ClockTrust } from '../../device/clock.js';
import { DeviceConfig } from '../../device/config.js';
import { AlsaSink } from '../../audio/alsa-sink.js';
import { NullSink } from '../../audio/null-sink.js';
import { BYTES_PER_SECOND, type AudioSink } from '../../audio/types.js';
import { createLogger } from '../../lib/log.js';
import { benchAlsaHome, benchDir, benchProvince, removeBenchDirs } from './province.js';
import { forkWorker, machine, machineJiffies, opusFile, parentChannel, processTree, pssKb, sampleTree, sleep, until, type TreeUsage } from './playback-helpers.js';

type Run = 'agent-alsa' | 'agent-null' | 'agent-alsa-plain' | 'agent-null-plain' | 'ffmpeg-aplay' | 'ffmpeg-re-aplay';
type ToWorker = { t: 'init'; config: unknown; sink: 'alsa' | 'null'; dir: string; alsaHome: string | null; programme: string } | { t: 'play' } | { t: 'stop' };
type FromWorker = { t: 'up' } | { t: 'playing' } | { t: 'stopped'; ended: string | null } | { t: 'error'; message: string };

/** The environment of docs/deploy/loa-device.service. */
const UNIT_ENV = { NODE_OPTIONS: '--max-semi-space-size=1', MALLOC_ARENA_MAX: '1', MALLOC_TRIM_THRESHOLD_: '131072' };

// ───────────────────────── agent process ─────────────────────────

async function worker(): Promise<void> {
  const ch = parentChannel<ToWorker, FromWorker>();
  const init = (await ch.next()) as Extract<ToWorker, { t: 'init' }>;
  const config = DeviceConfig.parse(init.config);
  const log = createLogger({ name: 'loa-device', level: 'info', destination: openSync(join(init.dir, `agent-${init.sink}.log`), 'a') });
  const clock = new ClockTrust({ wall: Date.now, mono: () => performance.now(), ntp: () => true, rtc: false, beaconTrustMs: 3600_000, correctAboveMs: 2000 });
  const sink: AudioSink = init.sink === 'null' ? new NullSink({ log }) : new AlsaSink({ log, env: { HOME: init.alsaHome!, ALSA_CONFIG_PATH: undefined } });
  const agent = new Agent({ config, log, clock, sink, relay: null });
  let started = false;
  let ended: string | null = null;
  sink.on('started', (id) => id === 'bulletin' && (started = true));
  sink.on('ended', (id, _at, reason) => id === 'bulletin' && (ended = reason));
  await agent.start();
  await until(() => agent.link.connected, 'the agent connected');
  ch.send({ t: 'up' });
  for (;;) {
    const m = await ch.next();
    if (m.t === 'stop') break;
    if (m.t !== 'play') continue;
    try {
      // A 10-minute bulletin handed straight to the player, as the scheduler would at its time.
      agent.playback!.dispatch({
        type: 'request',
        at: clock.now(),
        req: { id: 'bulletin', level: 'normal', source: 'programme', programme: 'ban-tin', title: 'Bản tin', segments: [{ kind: 'stream', url: init.programme, durationMs: null }], volume: 80, resumable: false, notAfter: null, endBy: null, requiresTrustedClock: true },
      });
      await until(() => started, 'the bulletin playing', 10_000);
      ch.send({ t: 'playing' });
    } catch (e) {
      ch.send({ t: 'error', message: (e as Error).message });
    }
  }
  ch.send({ t: 'stopped', ended });
  await agent.stop();
  process.exit(0);
}

// ───────────────────────── bench process ─────────────────────────

interface RunResult {
  run: Run;
  /** Tree RSS (MiB) of the idle agent just before it was asked to play. */
  idleRssMiB: number | null;
  idlePssMiB: number | null;
  usage: TreeUsage;
  /** Seconds of audio the ALSA file plugin received (should be about settle + window). */
  audioSec: number | null;
  otherLoadPct: number;
  note?: string;
}

const audioSeconds = (home: ReturnType<typeof benchAlsaHome> | null) => (home ? Math.round((home.outputs().reduce((n, b) => n + b.length, 0) / BYTES_PER_SECOND) * 10) / 10 : null);

async function main(): Promise<void> {
  const { values: opt } = parseArgs({ options: { worker: { type: 'boolean' }, seconds: { type: 'string', default: '60' }, settle: { type: 'string', default: '5' }, runs: { type: 'string', default: 'agent-alsa,agent-null,ffmpeg-aplay,ffmpeg-re-aplay' }, json: { type: 'boolean' } } });
  const SECONDS = Number(opt.seconds);
  const SETTLE = Number(opt.settle);
  const runs = opt.runs!.split(',') as Run[];
  const say = (s: string) => !opt.json && process.stderr.write(s + '\n');
  const m0 = machine();

  const f = await benchProvince();
  const dir = benchDir('loa-bench-rss-');
  say('encoding a 10-minute Opus programme (pink noise, mono 48 kHz, 32 kbit/s)…');
  const programme = opusFile(join(dir, 'bulletin.ogg'), 600);
  const programmeBytes = statSync(programme).size;
  const results: RunResult[] = [];
  const measure = async (roots: number[]) => {
    const j0 = machineJiffies();
    const s = sampleTree(roots);
    await sleep(SECONDS * 1000);
    const usage = s.stop();
    const j1 = machineJiffies();
    // Machine busy time not spent by the measured processes, in % of all cores (this bench process and its broker included).
    const busyPct = ((j1.busy - j0.busy) / (j1.total - j0.total)) * 100;
    return { usage, otherLoadPct: Math.round((busyPct - usage.cpuPct / m0.cores) * 10) / 10 };
  };
  try {
    for (const run of runs) {
      say(`${run}: ${SETTLE} s to settle, then ${SECONDS} s sampled…`);
      if (run.startsWith('agent-')) {
        const sink = run.startsWith('agent-alsa') ? 'alsa' : 'null';
        const home = sink === 'alsa' ? benchAlsaHome() : null;
        const w = forkWorker<ToWorker, FromWorker>(new URL(import.meta.url).pathname, ['--worker'], run.endsWith('-plain') ? {} : UNIT_ENV);
        const config = f.deviceConfig('t3a', { data: join(dir, `data-${run}`), agent: { audio: { output: sink }, heartbeatSec: 60 } });
        w.send({ t: 'init', config, sink, dir, alsaHome: home?.dir ?? null, programme });
        await w.next((m) => m.t === 'up', 30_000);
        await sleep(2000);
        const idleTree = processTree(w.child.pid!);
        const idleRssMiB = Math.round((idleTree.reduce((n, p) => n + p.rssKb, 0) / 1024) * 10) / 10;
        const idlePssMiB = Math.round((idleTree.reduce((n, p) => n + (pssKb(p.pid) || 0), 0) / 1024) * 10) / 10;
        w.send({ t: 'play' });
        const p = await w.next((m) => m.t === 'playing' || m.t === 'error');
        if (p.t === 'error') throw new Error(`${run}: ${p.message}`);
        await sleep(SETTLE * 1000);
        const { usage, otherLoadPct } = await measure([w.child.pid!]);
        w.send({ t: 'stop' });
        const stopped = await w.next<Extract<FromWorker, { t: 'stopped' }>>((m) => m.t === 'stopped');
        await new Promise((r) => (w.child.exitCode !== null ? r(null) : w.child.once('exit', r)));
        results.push({ run, idleRssMiB, idlePssMiB, usage, audioSec: audioSeconds(home), otherLoadPct, ...(stopped.ended ? { note: `the bulletin ended (${stopped.ended}) before the window closed` } : {}) });
      } else {
        const home = benchAlsaHome();
        const env: NodeJS.ProcessEnv = { ...process.env, HOME: home.dir };
        delete env.ALSA_CONFIG_PATH;
        // The file plugin has no clock: something must make this play in real time, as a sound card's blocking writes would.
        // ffmpeg-aplay: this process passes the PCM on at 48 kHz (it stands in for the card; its own CPU is not counted),
        // so ffmpeg and aplay block on their pipes as they would on a device. ffmpeg-re-aplay: ffmpeg's own -re does it.
        const paced = run === 'ffmpeg-aplay';
        const ff = spawn('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', ...(paced ? [] : ['-re']), '-i', programme, '-f', 's16le', '-ac', '1', '-ar', '48000', '-'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
        const ap = spawn('aplay', ['-q', '-D', 'default', '-t', 'raw', '-f', 'S16_LE', '-r', '48000', '-c', '1'], { env, stdio: [paced ? 'pipe' : ff.stdout!, 'ignore', 'inherit'] });
        const procs: ChildProcess[] = [ff, ap];
        const relay = paced ? pacedRelay(ff.stdout!, ap.stdin!) : null;
        await sleep(SETTLE * 1000);
        if (procs.some((c) => c.exitCode !== null)) throw new Error(`${run}: a process exited early`);
        const { usage, otherLoadPct } = await measure(procs.map((c) => c.pid!));
        relay?.stop();
        // SIGKILL: ffmpeg blocked on a full pipe does not act on SIGTERM.
        for (const c of procs) c.kill('SIGKILL');
        await Promise.all(procs.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)))));
        results.push({ run, idleRssMiB: null, idlePssMiB: null, usage, audioSec: audioSeconds(home), otherLoadPct });
      }
    }
  } finally {
    await f.stop();
    removeBenchDirs();
  }

  const base = results.find((r) => r.run === 'ffmpeg-aplay');
  const out = { machine: m0, loadavgAfter: machine().loadavg, programme: { minutes: 10, codec: 'opus', bitrate: '32k', source: 'pink noise', bytes: programmeBytes }, seconds: SECONDS, settle: SETTLE, results: results.map((r) => ({ ...r, ...(base && r !== base ? { vsAplay: { rss: +(r.usage.rssMeanMiB / base.usage.rssMeanMiB).toFixed(2), pss: +(r.usage.pssMeanMiB / base.usage.pssMeanMiB).toFixed(2), cpu: +(r.usage.cpuPct / Math.max(0.1, base.usage.cpuPct)).toFixed(2) } } : {}) })) };
  if (opt.json) return void console.log(JSON.stringify(out, null, 2));
  console.log(`playback-rss: a 10-minute Opus programme, ${SECONDS} s sampled after ${SETTLE} s, on ${m0.cores}× ${m0.cpu}, ${m0.node}, load ${m0.loadavg.join(' ')}`);
  console.log('memory in MiB (sum over the process tree), CPU in % of one core; idle = the agent before it plays');
  console.log(`${'run'.padEnd(18)} ${'idle RSS/PSS'.padStart(13)} ${'RSS mean'.padStart(9)} ${'peak'.padStart(7)} ${'PSS mean'.padStart(9)} ${'CPU %'.padStart(7)} ${'×aplay RSS/PSS/CPU'.padStart(19)} ${'audio s'.padStart(8)} ${'other %'.padStart(8)}  processes (mean RSS / CPU %)`);
  for (const r of out.results) {
    const procs = Object.entries(r.usage.byComm).map(([c, e]) => `${c}×${e.procs} ${e.rssMeanMiB}/${e.cpuPct}`).join(', ');
    const v = 'vsAplay' in r ? r.vsAplay : null;
    const idle = r.idleRssMiB === null ? '—' : `${r.idleRssMiB}/${r.idlePssMiB}`;
    console.log(`${r.run.padEnd(18)} ${idle.padStart(13)} ${r.usage.rssMeanMiB.toFixed(1).padStart(9)} ${r.usage.rssPeakMiB.toFixed(1).padStart(7)} ${r.usage.pssMeanMiB.toFixed(1).padStart(9)} ${r.usage.cpuPct.toFixed(1).padStart(7)} ${(v ? `${v.rss.toFixed(2)}/${v.pss.toFixed(2)}/${v.cpu.toFixed(2)}` : '—').padStart(19)} ${(r.audioSec ?? '—').toString().padStart(8)} ${r.otherLoadPct.toFixed(1).padStart(8)}  ${procs}${r.note ? `  (${r.note})` : ''}`);
  }
}

/** Copies PCM from `src` to `dst` at 48 kHz, `leadMs` ahead, in 20 ms steps: a sound card's pace. */
function pacedRelay(src: Readable, dst: Writable, leadMs = 200) {
  const t0 = performance.now();
  let sent = 0;
  dst.on('error', () => {});
  const timer = setInterval(() => {
    const due = Math.floor((((performance.now() - t0 + leadMs) / 1000) * BYTES_PER_SECOND) / 2) * 2;
    const need = due - sent;
    if (need <= 0) return;
    const chunk = (src.read(Math.min(need, src.readableLength)) as Buffer | null) ?? (src.read() as Buffer | null);
    if (!chunk) return;
    const out = chunk.length > need ? chunk.subarray(0, need) : chunk;
    if (out.length < chunk.length) src.unshift(chunk.subarray(need));
    dst.write(out);
    sent += out.length;
  }, 20);
  return { stop: () => clearInterval(timer) };
}

if (process.argv.includes('--worker')) await worker();
else await main();
