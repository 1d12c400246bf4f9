// Entry script of the ALSA output child (run by AlsaSink, never imported).
//
// `speaker` is loaded only here because it is dangerous in the agent: its
// native binding opens the ALSA "default" PCM while being required, and if
// that fails it dereferences a NULL handle and the process aborts (SIGABRT).
// It also keeps ~0.5 s in ALSA's buffer with no way to drop it. So each child
// plays exactly one stream: it starts, loads speaker, opens the device, says
// 'ready' and waits (the warm standby); PCM then arrives on stdin, but the
// first write to the device waits for the parent's 'go' and its instant
// (so the parent can pipe a stream in ahead, arm(), and have it sound at a
// set time, or never: a child killed before 'go' has written nothing); at
// EOF it drains, says 'done' and exits. To cut a stream the parent SIGKILLs it.
//
//   argv: <device> <paceLeadMs>
//   IPC from parent: {t:'go', atMono}: first write at CLOCK_MONOTONIC ms `atMono` (process.hrtime, shared by all processes), not before
//   IPC to parent: {t:'ready', loadMs, openMs} | {t:'started', mono} (CLOCK_MONOTONIC ms of the first write) | {t:'done', bytes} | {t:'fail', message}
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { BYTES_PER_SECOND, PCM, pcmBytes } from './types.js';

type SpeakerCtor = typeof import('speaker');
type Speaker = InstanceType<SpeakerCtor>;
type Msg = { t: 'ready'; loadMs: number; openMs: number } | { t: 'started'; mono: number } | { t: 'done'; bytes: number } | { t: 'fail'; message: string };

/** CLOCK_MONOTONIC in ms: the same clock in every process of the machine (unlike performance.now()). */
const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Resolves at the parent's 'go', once its instant has come by CLOCK_MONOTONIC (never early: re-checked after each timer). */
let go!: () => void;
const gate = new Promise<void>((resolve) => (go = resolve));
process.on('message', (m: { t?: string; atMono?: number }) => {
  if (m?.t !== 'go') return;
  const at = Number(m.atMono) || 0;
  const wait = (): void => {
    const left = at - monoMs();
    if (left <= 0) go();
    else setTimeout(wait, Math.max(1, Math.ceil(left)));
  };
  wait();
});

const send = (m: Msg): Promise<void> => new Promise((resolve) => (process.send ? process.send(m, undefined, {}, () => resolve()) : resolve()));

async function fail(message: string, code: number): Promise<never> {
  await send({ t: 'fail', message });
  process.exit(code);
}

/** Hands PCM to ALSA in small pieces, no further ahead of the wall clock than `leadMs`. */
class DeviceWriter extends Writable {
  bytes = 0;
  private firstAt: number | null = null;
  private carry: Buffer | null = null;
  private readonly piece = pcmBytes(50);

  constructor(
    private readonly speaker: Speaker,
    private readonly leadMs: number,
  ) {
    super({ highWaterMark: pcmBytes(100) });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = null;
    // speaker writes whole frames only (a short write is an error): keep an odd byte for later.
    if (buf.length % 2) {
      this.carry = Buffer.from(buf.subarray(buf.length - 1));
      buf = buf.subarray(0, buf.length - 1);
    }
    void this.writeAll(buf).then(() => cb(), cb);
  }

  private async writeAll(buf: Buffer): Promise<void> {
    if (this.firstAt === null) await gate;
    for (let at = 0; at < buf.length; at += this.piece) {
      // A real card blocks writes once its buffer is full; ALSA's file/null
      // plugins (tests) take everything at once. Pacing here makes both
      // behave like a device: `started`, `done` and a kill mid-stream mean
      // the same thing everywhere. On hardware the lead (> the 0.5 s ALSA
      // buffer) is never reached, so this never throttles a real card.
      if (this.firstAt !== null && this.leadMs > 0) {
        const aheadMs = (this.bytes / BYTES_PER_SECOND) * 1000 - (performance.now() - this.firstAt);
        if (aheadMs > this.leadMs) await new Promise((r) => setTimeout(r, aheadMs - this.leadMs));
      }
      const piece = buf.subarray(at, at + this.piece);
      const handedAt = this.firstAt === null ? monoMs() : 0;
      await new Promise<void>((resolve, reject) => this.speaker.write(piece, (err?: Error | null) => (err ? reject(err) : resolve())));
      if (this.firstAt === null) {
        this.firstAt = performance.now();
        void send({ t: 'started', mono: handedAt });
      }
      this.bytes += piece.length;
    }
  }

  /** When the last written sample has played, by the wall clock (the null plugin has no clock of its own). */
  playedOutAt(): number {
    return (this.firstAt ?? performance.now()) + (this.bytes / BYTES_PER_SECOND) * 1000;
  }
}

async function main(): Promise<void> {
  const device = process.argv[2] || 'default';
  const leadMs = Number(process.argv[3] ?? 1000);
  // The parent is gone (agent crashed or was killed): nobody can preempt us, stop now.
  process.on('disconnect', () => process.exit(0));

  const t0 = performance.now();
  const require = createRequire(import.meta.url);
  const Speaker = require('speaker') as SpeakerCtor; // may abort: see the top of this file
  const t1 = performance.now();
  // `signed` and `device` are speaker options its typings omit.
  const speaker = new Speaker({ channels: PCM.channels, bitDepth: PCM.bitDepth, sampleRate: PCM.sampleRate, signed: true, device } as ConstructorParameters<SpeakerCtor>[0]);
  speaker.on('error', (err: Error) => void fail(`ALSA write failed on ${device}: ${err.message}`, 3));
  try {
    // Open the PCM now rather than on the first write: the standby must be
    // ready to sound the moment its stream arrives.
    (speaker as unknown as { _open(): void })._open();
  } catch (e) {
    await fail(`cannot open ALSA device ${device}: ${(e as Error).message}`, 2);
  }
  await send({ t: 'ready', loadMs: t1 - t0, openMs: performance.now() - t1 });

  const writer = new DeviceWriter(speaker, leadMs);
  writer.on('error', (err) => void fail(`ALSA write failed on ${device}: ${err.message}`, 3));
  writer.on('finish', async () => {
    await gate; // an empty stream: still nothing is 'done' before the parent played it
    // close() drains ALSA (blocks until a real card has played the buffer);
    // then also wait for the wall clock, for clockless plugins.
    speaker.once('close', () => {
      const wait = Math.max(0, writer.playedOutAt() - performance.now());
      setTimeout(() => void send({ t: 'done', bytes: writer.bytes }).then(() => process.exit(0)), wait);
    });
    speaker.end();
  });
  process.stdin.pipe(writer);
}

void main();
