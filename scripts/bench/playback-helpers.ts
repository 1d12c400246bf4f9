// Shared by the playback benchmarks (preemption, start-skew, playback-rss):
// a clock every process on this machine agrees on, percentiles, a sampler
// of a process tree's memory and CPU from /proc, generated Opus files, and
// the IPC plumbing between a bench and the agent processes it forks.
// Imported by those scripts only; importing it does nothing.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

/** CLOCK_MONOTONIC in ms: the same time base in every process of the machine (performance.now() is not). */
export const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until<T>(check: () => T | undefined | null | false, what: string, timeoutMs = 10_000, everyMs = 2): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Nearest-rank percentile of an unsorted list. */
export function percentile(xs: readonly number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summary(xs: readonly number[]): Summary {
  const r = (v: number) => Math.round(v * 100) / 100;
  return { n: xs.length, min: r(Math.min(...xs)), p50: r(percentile(xs, 50)), p90: r(percentile(xs, 90)), p99: r(percentile(xs, 99)), max: r(Math.max(...xs)), mean: r(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)) };
}

export function machine() {
  return { cpu: cpus()[0]?.model ?? '?', cores: cpus().length, memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version, loadavg: loadavg().map((l) => Math.round(l * 100) / 100) };
}

/** Busy and total jiffies of the whole machine (/proc/stat), to tell how much else ran during a bench. */
export function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export interface ProcSample {
  pid: number;
  ppid: number;
  comm: string;
  /** R, S, D, Z (zombie: exited, not yet reaped), … */
  state: string;
  /** utime + stime, in clock ticks (USER_HZ = 100 on Linux). */
  cpuTicks: number;
  rssKb: number;
}

/** One process from /proc, or null when it is gone. */
export function procSample(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    return { pid, ppid: Number(f[1]), comm, state: f[0] ?? '?', cpuTicks: Number(f[11]) + Number(f[12]), rssKb: rss ? Number(rss[1]) : 0 };
  } catch {
    return null;
  }
}

/** Proportional set size (kB): resident pages, each shared page divided among the processes that map it. */
export function pssKb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** `root` and all its descendants, as they are now. */
export function processTree(root: number): ProcSample[] {
  const all: ProcSample[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = procSample(Number(name));
    if (s) all.push(s);
  }
  const kids = new Map<number, ProcSample[]>();
  for (const s of all) kids.set(s.ppid, [...(kids.get(s.ppid) ?? []), s]);
  const out: ProcSample[] = [];
  const first = all.find((s) => s.pid === root);
  if (!first) return out;
  const queue = [first];
  while (queue.length) {
    const s = queue.shift()!;
    out.push(s);
    queue.push(...(kids.get(s.pid) ?? []));
  }
  return out;
}

export interface TreeUsage {
  seconds: number;
  samples: number;
  /** Sum of VmRSS over the tree: mean and peak of the samples (MiB). */
  rssMeanMiB: number;
  rssPeakMiB: number;
  /** Sum of PSS over the tree (shared library pages counted once across it), mean (MiB). */
  pssMeanMiB: number;
  /** CPU time of the tree over the window, as % of one core. */
  cpuPct: number;
  /** Per command name (a root that shares its name with a descendant as `name (root)`): processes seen, mean RSS (MiB, summed over them), CPU % of one core. */
  byComm: Record<string, { procs: number; rssMeanMiB: number; cpuPct: number }>;
}

/**
 * Samples the memory and CPU of process trees (summed) every `everyMs`. CPU counts
 * each process from its first sample, or from 0 if it was born after the
 * first sample; a process that exits between samples loses its last few
 * ticks (the trees measured here are steady while sampled).
 */
export function sampleTree(roots: number | number[], everyMs = 250) {
  const t0 = monoMs();
  const first = new Map<number, number>();
  const last = new Map<number, ProcSample>();
  const initial = new Set<number>();
  const rss: number[] = [];
  const pss: number[] = [];
  const commRss = new Map<string, number[]>();
  const rootSet = new Set(Array.isArray(roots) ? roots : [roots]);
  const names = new Map<number, string>();
  const take = (isFirst: boolean) => {
    const tree = [...rootSet].flatMap((r) => processTree(r));
    for (const s of tree) if (!names.has(s.pid)) names.set(s.pid, rootSet.has(s.pid) && tree.some((o) => o.pid !== s.pid && o.comm === s.comm) ? `${s.comm} (root)` : s.comm);
    let sum = 0;
    let psum = 0;
    const byComm = new Map<string, number>();
    for (const s of tree) {
      psum += pssKb(s.pid) || 0;
      if (isFirst) initial.add(s.pid);
      if (!first.has(s.pid)) first.set(s.pid, initial.has(s.pid) ? s.cpuTicks : 0);
      last.set(s.pid, s);
      sum += s.rssKb;
      const name = names.get(s.pid)!;
      byComm.set(name, (byComm.get(name) ?? 0) + s.rssKb);
    }
    rss.push(sum);
    pss.push(psum);
    for (const [c, kb] of byComm) commRss.set(c, [...(commRss.get(c) ?? []), kb]);
  };
  take(true);
  const timer = setInterval(() => take(false), everyMs);
  return {
    stop(): TreeUsage {
      clearInterval(timer);
      take(false);
      const seconds = (monoMs() - t0) / 1000;
      const mib = (kb: number) => Math.round((kb / 1024) * 10) / 10;
      const pct = (ticks: number) => Math.round((ticks / 100 / seconds) * 1000) / 10;
      const byComm: TreeUsage['byComm'] = {};
      let ticks = 0;
      for (const [pid, s] of last) {
        const d = s.cpuTicks - (first.get(pid) ?? 0);
        ticks += d;
        const e = (byComm[names.get(pid)!] ??= { procs: 0, rssMeanMiB: 0, cpuPct: 0 });
        e.procs++;
        e.cpuPct += d;
      }
      for (const [c, e] of Object.entries(byComm)) {
        e.cpuPct = pct(e.cpuPct);
        const xs = commRss.get(c) ?? [];
        e.rssMeanMiB = mib(xs.reduce((a, b) => a + b, 0) / Math.max(1, rss.length));
      }
      return { seconds: Math.round(seconds * 10) / 10, samples: rss.length, rssMeanMiB: mib(rss.reduce((a, b) => a + b, 0) / rss.length), rssPeakMiB: mib(Math.max(...rss)), pssMeanMiB: mib(pss.reduce((a, b) => a + b, 0) / pss.length), cpuPct: pct(ticks), byComm };
    },
  };
}

/** An Opus-in-Ogg file from one of ffmpeg's generators: mono 48 kHz, as the province's library holds them. */
export function opusFile(file: string, seconds: number, opts: { source?: 'noise' | 'sine'; hz?: number; bitrate?: string } = {}): string {
  const src = opts.source === 'sine' ? `sine=frequency=${opts.hz ?? 440}:sample_rate=48000:duration=${seconds}` : `anoisesrc=color=pink:amplitude=0.2:sample_rate=48000:duration=${seconds}`;
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', src, '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', opts.bitrate ?? '32k', file]);
  return file;
}

/**
 * Forks `script` (this bench's own file, in worker mode) with an IPC channel
 * and returns typed send/next: next() resolves with the next message that
 * passes `pick`, in arrival order.
 */
export function forkWorker<In, Out>(script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = fork(script, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
  const inbox: Out[] = [];
  const waiters: { pick: (m: Out) => boolean; resolve: (m: Out) => void; reject: (e: Error) => void }[] = [];
  let exited: Error | null = null;
  child.on('message', (m: Out) => {
    const i = waiters.findIndex((w) => w.pick(m));
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  child.once('exit', (code, signal) => {
    exited = new Error(`worker ${child.pid} exited (${signal ?? code})`);
    for (const w of waiters.splice(0)) w.reject(exited);
  });
  return {
    child,
    send: (m: In) => child.send(m as object),
    next<T extends Out>(pick: (m: Out) => boolean, timeoutMs = 30_000): Promise<T> {
      const i = inbox.findIndex(pick);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as T);
      if (exited) return Promise.reject(exited);
      return new Promise<T>((resolve, reject) => {
        const w = { pick, resolve: resolve as (m: Out) => void, reject };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`worker ${child.pid}: no reply within ${timeoutMs} ms`));
        }, timeoutMs);
        w.resolve = (m) => {
          clearTimeout(timer);
          (resolve as (m: Out) => void)(m);
        };
        waiters.push(w);
      });
    },
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** In a forked worker: typed messages from and to the parent. */
export function parentChannel<In, Out>() {
  const inbox: In[] = [];
  let wake: (() => void) | null = null;
  process.on('message', (m: In) => {
    inbox.push(m);
    wake?.();
  });
  // The bench died: nobody will stop this agent.
  process.on('disconnect', () => process.exit(0));
  return {
    send: (m: Out) => process.send!(m as object),
    async next(): Promise<In> {
      while (!inbox.length) await new Promise<void>((r) => (wake = r));
      wake = null;
      return inbox.shift()!;
    },
  };
}
