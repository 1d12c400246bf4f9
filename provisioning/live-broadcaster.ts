import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/log.js';
import { OpusEncoder, OPUS_FRAME_MS, OPUS_FRAME_SAMPLES } from '../audio/opus.js';
import { LoaError } from '../protocol/errors.js';
import { assertZonePath } from '../protocol/ids.js';
import { encodeFrameBatch, newSessionKey, type SessionKey } from '../protocol/live-frames.js';
import type { LIVE_SOURCES, LiveControl } from '../protocol/payloads.js';
import type { Signer } from '../protocol/signing.js';
import { encodeSigned } from '../protocol/codec.js';
import { topics } from '../protocol/topics.js';

// The province's side of a live session (docs/live.md): PCM from a source
// (the studio page, `loa live`, a relay) in, 20 ms Opus frames out on each
// zone's live topic, batched and stamped with the instant every cluster of
// the zone sounds them. The session paces itself by the console's clock:
// frame n is captured at t0 + 20·n (t0: the first PCM's arrival) and plays
// at that + delayMs; a source that falls behind leaves a gap (the clusters
// conceal it, then fall silent), one that runs ahead is buffered up to
// maxBufferMs. The open is signed with the province's live key and carries
// a fresh session key, which signs every frame batch; it is sent again
// every reopenMs so a cluster that connects late joins.

export interface LiveOpenOptions {
  zones: string[];
  title: string;
  by: string;
  source: (typeof LIVE_SOURCES)[number];
}

export interface LiveSessionInfo {
  id: string;
  zones: string[];
  title: string;
  by: string;
  source: string;
  startedAt: string;
  framesSent: number;
  endedAt: string | null;
  endReason: string | null;
}

export interface LiveBroadcasterDeps {
  signer: Signer;
  publish: (topic: string, payload: Buffer, qos: 0 | 1) => void;
  log: Logger;
  now?: () => number;
  /** Capture to playout on every cluster (covers batching, the network, the cluster's lead and output). */
  delayMs?: number;
  /** Frames per MQTT message. */
  framesPerBatch?: number;
  /** Longest session. */
  maxMs?: number;
  reopenMs?: number;
  /** How late a source's PCM may come before its frame is skipped. */
  sourceJitterMs?: number;
  /** PCM held ahead of its time before the oldest is dropped. */
  maxBufferMs?: number;
  bitrate?: number;
  /** Packet loss the encoder's in-band FEC is tuned for (%). */
  expectedLossPct?: number;
}

const BYTES_PER_FRAME = OPUS_FRAME_SAMPLES * 2;

type SessionDeps = Required<Omit<LiveBroadcasterDeps, 'signer' | 'publish' | 'log'>> & Pick<LiveBroadcasterDeps, 'signer' | 'publish' | 'log'>;

export class LiveSession extends EventEmitter<{ ended: [LiveSessionInfo] }> {
  readonly id = randomUUID();
  readonly #d: SessionDeps;
  readonly #o: LiveOpenOptions;
  readonly #key: SessionKey = newSessionKey();
  readonly #enc: OpusEncoder;
  readonly #openedAt: number;
  /** Capture time of frame 0: the first PCM's arrival (null before it). */
  #t0: number | null = null;
  #lastSent = -1;
  #pcm: Buffer[] = [];
  #pcmBytes = 0;
  /** Next frame to send; frames before it are sent or skipped. */
  #seq = 0;
  #sent = 0;
  #batch: Buffer[] = [];
  #batchSeq = 0;
  #ended: { at: number; reason: string } | null = null;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(deps: SessionDeps, o: LiveOpenOptions) {
    super();
    this.#d = deps;
    this.#o = o;
    this.#enc = new OpusEncoder({ bitrate: deps.bitrate, fec: deps.expectedLossPct > 0, expectedLossPct: deps.expectedLossPct });
    this.#openedAt = deps.now();
    this.#publishOpen();
    this.#timers.push(setInterval(() => this.#publishOpen(), deps.reopenMs));
    this.#timers.push(setInterval(() => this.#pump(), OPUS_FRAME_MS));
    this.#timers.push(setTimeout(() => this.end('the longest a session may last has passed'), deps.maxMs));
    deps.log.info({ live: this.id, zones: o.zones, by: o.by, source: o.source, title: o.title }, 'live session on air');
  }

  info(): LiveSessionInfo {
    return { id: this.id, zones: [...this.#o.zones], title: this.#o.title, by: this.#o.by, source: this.#o.source, startedAt: new Date(this.#openedAt).toISOString(), framesSent: this.#sent, endedAt: this.#ended ? new Date(this.#ended.at).toISOString() : null, endReason: this.#ended?.reason ?? null };
  }

  write(pcm: Buffer): void {
    if (this.#ended) return;
    this.#t0 ??= this.#d.now();
    this.#pcm.push(pcm);
    this.#pcmBytes += pcm.length;
    const max = Math.ceil(this.#d.maxBufferMs / OPUS_FRAME_MS) * BYTES_PER_FRAME;
    if (this.#pcmBytes > max) {
      // A source running ahead of real time (a file pushed at once): the oldest goes, as a mixer's buffer would overrun.
      const all = Buffer.concat(this.#pcm).subarray(this.#pcmBytes - max);
      this.#pcm = [all];
      this.#pcmBytes = all.length;
    }
  }

  end(reason: string): void {
    if (this.#ended) return;
    this.#pump();
    // What the source sent ahead goes out now, stamped for its own time; the last partial frame padded with silence.
    if (this.#pcmBytes > 0) {
      const all = Buffer.concat([...this.#pcm, Buffer.alloc((BYTES_PER_FRAME - (this.#pcmBytes % BYTES_PER_FRAME)) % BYTES_PER_FRAME)]);
      for (let i = 0; i < all.length; i += BYTES_PER_FRAME) this.#frame(all.subarray(i, i + BYTES_PER_FRAME));
      this.#pcm = [];
      this.#pcmBytes = 0;
    }
    this.#flush();
    this.#ended = { at: this.#d.now(), reason };
    for (const t of this.#timers) clearTimeout(t);
    this.#enc.close();
    for (const zone of this.#o.zones) this.#control({ type: 'close', id: this.id, issuedAt: this.#iso(this.#ended.at), expiresAt: this.#iso(this.#ended.at + 60_000), zone, lastSeq: this.#lastSent, reason: reason.slice(0, 200) });
    this.#d.log.info({ live: this.id, reason, frames: this.#sent }, 'live session off air');
    this.emit('ended', this.info());
  }

  /**
   * Sends every frame whose capture time has come and whose PCM is here; a
   * frame the source has not delivered `sourceJitterMs` after its time is
   * skipped (the clusters conceal it): a source that sends just in time jitters.
   */
  #pump(): void {
    const now = this.#d.now();
    if (this.#t0 === null) return;
    for (;;) {
      const capture = this.#t0 + this.#seq * OPUS_FRAME_MS;
      if (capture > now) break;
      if (this.#pcmBytes >= BYTES_PER_FRAME) {
        const all = this.#pcm.length === 1 ? this.#pcm[0]! : Buffer.concat(this.#pcm);
        this.#frame(all.subarray(0, BYTES_PER_FRAME));
        const rest = all.subarray(BYTES_PER_FRAME);
        this.#pcm = rest.length ? [rest] : [];
        this.#pcmBytes = rest.length;
      } else if (now > capture + OPUS_FRAME_MS + this.#d.sourceJitterMs) {
        this.#flush();
        this.#seq++;
      } else break;
    }
    if (this.#batch.length >= this.#d.framesPerBatch) this.#flush();
  }

  #frame(pcm: Buffer): void {
    const samples = new Int16Array(OPUS_FRAME_SAMPLES);
    for (let i = 0; i < OPUS_FRAME_SAMPLES; i++) samples[i] = pcm.readInt16LE(i * 2);
    if (!this.#batch.length) this.#batchSeq = this.#seq;
    this.#batch.push(this.#enc.encode(samples));
    this.#seq++;
    if (this.#batch.length >= this.#d.framesPerBatch) this.#flush();
  }

  #flush(): void {
    if (!this.#batch.length) return;
    const frames = this.#batch;
    this.#batch = [];
    const bytes = encodeFrameBatch({ session: this.id, seq: this.#batchSeq, playAt: this.#t0! + this.#batchSeq * OPUS_FRAME_MS + this.#d.delayMs, frames }, this.#key.privateKey);
    for (const zone of this.#o.zones) this.#d.publish(topics.zoneLive(zone), bytes, 0);
    this.#sent += frames.length;
    this.#lastSent = this.#batchSeq + frames.length - 1;
  }

  #publishOpen(): void {
    const now = this.#d.now();
    for (const zone of this.#o.zones)
      this.#control({
        type: 'open',
        id: this.id,
        issuedAt: this.#iso(now),
        expiresAt: this.#iso(now + 3 * this.#d.reopenMs),
        zone,
        title: this.#o.title,
        by: this.#o.by,
        source: this.#o.source,
        key: this.#key.publicKey,
        codec: { name: 'opus', sampleRate: 48000, frameMs: 20 },
        startedAt: this.#iso(this.#openedAt),
        endBy: this.#iso(this.#openedAt + this.#d.maxMs + this.#d.delayMs),
      });
  }

  #control(c: LiveControl): void {
    this.#d.publish(topics.zoneLive(c.zone), encodeSigned('zone-live', this.#d.signer.sign('live', c)), 1);
  }

  #iso(ms: number): string {
    return new Date(ms).toISOString();
  }
}

export class LiveBroadcaster {
  readonly #d: SessionDeps;
  readonly #sessions = new Map<string, LiveSession>();

  constructor(deps: LiveBroadcasterDeps) {
    this.#d = {
      signer: deps.signer,
      publish: deps.publish,
      log: deps.log.child({ mod: 'live' }),
      now: deps.now ?? Date.now,
      delayMs: deps.delayMs ?? 400,
      framesPerBatch: deps.framesPerBatch ?? 3,
      maxMs: deps.maxMs ?? 4 * 3600_000,
      reopenMs: deps.reopenMs ?? 5000,
      maxBufferMs: deps.maxBufferMs ?? 2000,
      sourceJitterMs: deps.sourceJitterMs ?? 100,
      bitrate: deps.bitrate ?? 24_000,
      expectedLossPct: deps.expectedLossPct ?? 5,
    };
  }

  open(o: LiveOpenOptions): LiveSession {
    if (!o.zones.length) throw new LoaError('LOA_E_LIVE_REFUSED', 'a live session needs at least one zone');
    const zones = [...new Set(o.zones.map((z) => assertZonePath(z)))];
    // A zone inside another named one would hear every frame twice.
    const nested = zones.find((z) => zones.some((y) => y !== z && z.startsWith(y + '/')));
    if (nested) throw new LoaError('LOA_E_LIVE_REFUSED', `zone ${nested} lies inside another zone of the same session`);
    const s = new LiveSession(this.#d, { ...o, zones, title: o.title.normalize('NFC') });
    this.#sessions.set(s.id, s);
    s.once('ended', () => setTimeout(() => this.#sessions.delete(s.id), 60_000).unref());
    return s;
  }

  active(): LiveSessionInfo[] {
    return [...this.#sessions.values()].map((s) => s.info());
  }

  get(id: string): LiveSession | null {
    return this.#sessions.get(id) ?? null;
  }

  stopAll(reason: string): void {
    for (const s of this.#sessions.values()) s.end(reason);
  }
}
