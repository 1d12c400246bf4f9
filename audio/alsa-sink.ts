import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../lib/log.js';
import { BYTES_PER_SECOND, type AudioSink, type PlayOptions, type SinkEndReason, type SinkEvents } from './types.js';

// ALSA output through `speaker`, supervised (DESIGN "Audio"). speaker aborts
// its process when ALSA cannot be opened and holds ~0.5 s it cannot flush,
// so it runs only in child processes (audio/alsa-child.ts), one per stream:
//
//   standby  — started ahead, speaker loaded, ALSA opened, waiting for PCM;
//   armed    — a former standby fed a stream ahead (arm()), holding its
//              first write until play() says 'go' (and until its startAt);
//   playing  — the former standby (or armed child), fed the stream on stdin.
//
// play() SIGKILLs the playing child (that is the only way to drop what is in
// ALSA's buffer), pipes the new stream into the standby (or takes the armed
// child that has it already), tells it 'go' and starts the next standby.
// arm() starts the next standby at once, so an emergency played instead of
// the armed stream still finds a warm child; a dropped arm is SIGKILLed
// before its first write, without a sound. A child that dies on its own is logged, reported as 'error', its
// stream ends 'failed', and the standby is restarted with exponential
// backoff; the agent process itself never loads speaker.
//
// Sharing: the standby opens the device while another child plays. That
// needs a PCM that more than one process can open ("default" through dmix,
// PipeWire or PulseAudio); a bare hw: device would be busy.

export interface AlsaSinkOptions {
  log: Logger;
  /** ALSA PCM name. Default 'default'. */
  device?: string;
  /** Extra environment for the children (ALSA reads $HOME/.asoundrc; tests point HOME elsewhere). Undefined values unset. */
  env?: NodeJS.ProcessEnv;
  /** How far the child may run ahead of the wall clock (ms); see alsa-child.ts. 0 = no pacing. Default 1000. */
  paceLeadMs?: number;
  /** Restart backoff after a child dies on its own: doubles from minMs up to maxMs. Default 250 → 10 000. */
  restart?: { minMs: number; maxMs: number };
  /** Epoch ms for event times. */
  now?: () => number;
}

type ChildMsg = { t: 'ready'; loadMs: number; openMs: number } | { t: 'started'; mono: number } | { t: 'done'; bytes: number } | { t: 'fail'; message: string };

interface Child {
  proc: ChildProcess;
  pid: number;
  state: 'starting' | 'ready' | 'gone';
  spawnedAt: number;
  stream: { id: string; pcm: Readable; startedAt: number | null } | null;
  killedByUs: boolean;
  /** performance.now() of our SIGKILL. */
  killedAt: number | null;
  done: boolean;
  failMessage: string | null;
  /** Last few hundred characters the child printed (ALSA and assertion messages go to stderr). */
  output: string;
  exited: Promise<void>;
}

/** Longest wait after play() before the next standby is started, if the stream has not sounded yet. */
const STANDBY_DEFER_MS = 100;
const CHILD_SCRIPT = fileURLToPath(new URL('./alsa-child.js', import.meta.url));
/** CLOCK_MONOTONIC in ms, as the children read it (process.hrtime is the same clock in every process). */
const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export class AlsaSink extends EventEmitter implements AudioSink {
  readonly kind = 'alsa' as const;
  /** Counters and the last measured costs, for logs and benchmarks. */
  readonly stats = { spawned: 0, crashes: 0, lastReadyMs: null as number | null, lastLoadMs: null as number | null, lastKillToExitMs: null as number | null };
  private readonly log: Logger;
  private readonly device: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly paceLeadMs: number;
  private readonly restart: { minMs: number; maxMs: number };
  private readonly now: () => number;
  private state: 'new' | 'running' | 'closing' | 'closed' = 'new';
  private standby: Child | null = null;
  private playing: Child | null = null;
  private armed: { child: Child; startAt: number | undefined } | null = null;
  private readonly children = new Set<Child>();
  private failures = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private standbyDue: NodeJS.Timeout | null = null;
  private startWaiters: (() => void)[] = [];

  constructor(opts: AlsaSinkOptions) {
    super();
    this.log = opts.log.child({ mod: 'alsa-sink' });
    this.device = opts.device ?? 'default';
    this.env = { ...process.env, ...opts.env };
    this.paceLeadMs = opts.paceLeadMs ?? 1000;
    this.restart = opts.restart ?? { minMs: 250, maxMs: 10_000 };
    this.now = opts.now ?? Date.now;
  }

  get current(): string | null {
    return this.playing?.stream?.id ?? null;
  }

  /** pid of the child playing now (for supervision tests and diagnostics). */
  get playingPid(): number | null {
    return this.playing?.pid ?? null;
  }

  /** Starts the first standby; resolves once it is ready or has failed once (the sink keeps retrying). */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'running';
    const first = new Promise<void>((r) => this.startWaiters.push(r));
    this.ensureStandby();
    await first;
  }

  play(pcm: Readable, opts: PlayOptions): void {
    if (this.state !== 'running') throw new Error(`alsa sink: play() while ${this.state}`);
    let startAt = opts.startAt;
    let child: Child | null = null;
    const a = this.armed;
    if (a && a.child.stream?.pcm === pcm) {
      // Armed ahead: its first PCM is in the child already, which only waits for 'go'.
      this.armed = null;
      child = a.child;
      child.stream!.id = opts.id;
      startAt ??= a.startAt;
    } else this.disarm();
    if (this.playing) this.cut(this.playing, 'preempted');
    if (!child) child = this.feed(pcm, opts.id);
    this.playing = child;
    const delayMs = startAt === undefined ? 0 : Math.max(0, startAt - this.now());
    child.proc.send({ t: 'go', atMono: monoMs() + delayMs });
    this.log.debug({ stream: opts.id, childPid: child.pid, warm: child.state === 'ready', armed: child === a?.child, delayMs: Math.round(delayMs) }, 'stream handed to output child');
    // fork() blocks this process for several ms: start the next standby
    // once this stream has sounded (or shortly after), not before.
    if (!this.standbyDue && !this.standby) this.standbyDue = setTimeout(() => this.standbyNow(), STANDBY_DEFER_MS);
  }

  arm(pcm: Readable, opts: PlayOptions): void {
    if (this.state !== 'running') throw new Error(`alsa sink: arm() while ${this.state}`);
    this.disarm();
    const child = this.feed(pcm, opts.id);
    this.armed = { child, startAt: opts.startAt };
    this.log.debug({ stream: opts.id, childPid: child.pid, warm: child.state === 'ready' }, 'stream armed in output child');
    // Whatever plays instead of it (an emergency) must still find a warm child: start the next standby now, ahead of the instant.
    this.standbyNow();
  }

  disarm(pcm?: Readable): void {
    const a = this.armed;
    if (!a || (pcm && a.child.stream?.pcm !== pcm)) return;
    this.armed = null;
    // Killed before 'go': it has written nothing to the device.
    const c = a.child;
    c.killedByUs = true;
    c.killedAt = performance.now();
    c.proc.kill('SIGKILL');
    if (c.stream) {
      c.stream.pcm.unpipe(c.proc.stdin!);
      c.stream.pcm.destroy();
    }
    this.log.debug({ stream: c.stream?.id, childPid: c.pid }, 'armed stream dropped');
  }

  /** Pipes `pcm` into the standby (or a fresh child when there is none); the child holds it until 'go'. */
  private feed(pcm: Readable, id: string): Child {
    let c = this.standby;
    this.standby = null;
    if (!c) {
      // No warm child (it crashed and waits for its backoff): start one now, the stream waits in its stdin.
      if (this.restartTimer) clearTimeout(this.restartTimer);
      this.restartTimer = null;
      c = this.spawn();
    }
    const child = c;
    child.stream = { id, pcm, startedAt: null };
    pcm.on('error', (err) => {
      if (this.armed?.child === child) {
        this.log.warn({ err, stream: child.stream?.id }, 'armed audio source failed; dropped');
        this.disarm();
      } else if (this.playing === child) {
        this.log.warn({ err, stream: child.stream?.id }, 'audio source failed while playing');
        this.cut(child, 'failed');
      }
    });
    pcm.pipe(child.proc.stdin!);
    return child;
  }

  stop(): void {
    if (this.playing) this.cut(this.playing, 'stopped');
  }

  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.state = 'closing';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.standbyDue) clearTimeout(this.standbyDue);
    this.restartTimer = this.standbyDue = null;
    this.disarm();
    if (this.playing) this.cut(this.playing, 'stopped');
    for (const c of this.children) {
      c.killedByUs = true;
      c.proc.kill('SIGKILL');
    }
    await Promise.all([...this.children].map((c) => c.exited));
    this.state = 'closed';
    for (const w of this.startWaiters.splice(0)) w();
  }

  /** Kills the playing child: the only way to drop what speaker and ALSA still hold. */
  private cut(c: Child, reason: SinkEndReason): void {
    const s = c.stream;
    c.killedByUs = true;
    c.killedAt = performance.now();
    c.proc.kill('SIGKILL');
    if (this.playing === c) this.playing = null;
    if (!s) return;
    s.pcm.unpipe(c.proc.stdin!);
    // The sink owns the stream: destroying it stops its producer (ffmpeg).
    s.pcm.destroy();
    this.emit('ended', s.id, this.now(), reason, s.startedAt === null ? 0 : performance.now() - s.startedAt);
  }

  private standbyNow(): void {
    if (this.standbyDue) clearTimeout(this.standbyDue);
    this.standbyDue = null;
    this.ensureStandby();
  }

  private ensureStandby(): void {
    if (this.state !== 'running' || this.standby || this.restartTimer) return;
    if (this.failures === 0) {
      this.standby = this.spawn();
      return;
    }
    const delay = Math.min(this.restart.maxMs, this.restart.minMs * 2 ** (this.failures - 1));
    this.log.info({ delayMs: delay, failures: this.failures, device: this.device }, 'restarting audio output child after backoff');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.state === 'running' && !this.standby) this.standby = this.spawn();
    }, delay);
  }

  private spawn(): Child {
    const proc = fork(CHILD_SCRIPT, [this.device, String(this.paceLeadMs)], {
      env: this.env,
      execArgv: [],
      stdio: ['pipe', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let exited!: () => void;
    const c: Child = {
      proc,
      pid: proc.pid ?? -1,
      state: 'starting',
      spawnedAt: performance.now(),
      stream: null,
      killedByUs: false,
      killedAt: null,
      done: false,
      failMessage: null,
      output: '',
      exited: new Promise<void>((r) => (exited = r)),
    };
    this.children.add(c);
    this.stats.spawned++;
    const keep = (d: Buffer) => (c.output = (c.output + String(d)).slice(-600));
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    // A killed child's stdin reports EPIPE; its exit is handled below.
    proc.stdin!.on('error', () => {});
    proc.on('message', (m: ChildMsg) => this.onMessage(c, m));
    proc.on('error', (err) => {
      c.failMessage ??= err.message;
    });
    proc.once('exit', (code, signal) => {
      this.onExit(c, code, signal);
      exited();
    });
    return c;
  }

  private onMessage(c: Child, m: ChildMsg): void {
    switch (m.t) {
      case 'ready': {
        c.state = 'ready';
        this.failures = 0;
        const ms = performance.now() - c.spawnedAt;
        this.stats.lastReadyMs = ms;
        this.stats.lastLoadMs = m.loadMs;
        this.log.debug({ childPid: c.pid, readyMs: Math.round(ms), loadMs: Math.round(m.loadMs), openMs: Math.round(m.openMs) }, 'audio output child ready');
        if (this.state !== 'running') c.proc.kill('SIGKILL');
        for (const w of this.startWaiters.splice(0)) w();
        return;
      }
      case 'started':
        if (c.stream && !c.killedByUs && c.stream.startedAt === null) {
          c.stream.startedAt = performance.now();
          // The time of the first write itself, by the child's CLOCK_MONOTONIC, not this message's arrival.
          const ago = typeof m.mono === 'number' && m.mono > 0 ? Math.max(0, monoMs() - m.mono) : 0;
          this.emit('started', c.stream.id, this.now() - ago);
          if (this.playing === c) this.standbyNow();
        }
        return;
      case 'done':
        c.done = true;
        if (this.playing === c && c.stream) {
          this.playing = null;
          this.emit('ended', c.stream.id, this.now(), 'finished', (m.bytes / BYTES_PER_SECOND) * 1000);
        }
        return;
      case 'fail':
        c.failMessage = m.message;
        return;
    }
  }

  private onExit(c: Child, code: number | null, signal: NodeJS.Signals | null): void {
    const wasReady = c.state === 'ready';
    c.state = 'gone';
    this.children.delete(c);
    if (this.standby === c) this.standby = null;
    if (this.armed?.child === c) {
      // Died before it was played: the stream is dropped as an arm is (a later play() of it finds it destroyed).
      this.armed = null;
      c.stream?.pcm.unpipe(c.proc.stdin!);
      c.stream?.pcm.destroy();
      c.stream = null;
    }
    if (c.killedByUs) {
      if (c.killedAt !== null) this.stats.lastKillToExitMs = performance.now() - c.killedAt;
      return;
    }
    if (c.done && code === 0) return;
    // Died on its own: ALSA could not be opened (speaker aborts), a write
    // failed, or something outside killed it. Survive, say so, retry.
    if (!wasReady && !c.stream?.startedAt) this.failures++;
    this.stats.crashes++;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const detail = c.failMessage ?? (c.output.trim().split('\n').slice(-2).join(' | ') || 'no output');
    const err = new Error(`audio output child ${c.pid} (ALSA device ${this.device}) ${how}: ${detail}`);
    this.log.error({ err, childPid: c.pid, device: this.device, code, signal, stream: c.stream?.id, output: c.output.trim() || undefined }, 'audio output child died');
    if (this.playing === c && c.stream) {
      const s = c.stream;
      this.playing = null;
      s.pcm.unpipe(c.proc.stdin!);
      s.pcm.destroy();
      this.emit('ended', s.id, this.now(), 'failed', s.startedAt === null ? 0 : performance.now() - s.startedAt);
    }
    // An 'error' event without a listener would throw and take the agent down: the log line is enough then.
    if (this.listenerCount('error') > 0) this.emit('error', err);
    for (const w of this.startWaiters.splice(0)) w();
    this.ensureStandby();
  }

  override on<E extends keyof SinkEvents>(event: E, listener: (...args: SinkEvents[E]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override off<E extends keyof SinkEvents>(event: E, listener: (...args: SinkEvents[E]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }
}
