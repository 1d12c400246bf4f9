import { createHash, type Hash } from 'node:crypto';
import type { Logger } from '../lib/log.js';
import { LoaError } from '../protocol/errors.js';
import type { AssetRef, ChunkHeader, ChunkRequest } from '../protocol/payloads.js';
import type { AssetFiles } from './asset-files.js';
import type { DeviceStore } from './store.js';

// One asset travelling over MQTT in content-addressed chunks: a window of
// requests in flight, each chunk checked against the sha256 in its header as
// it lands, written in order to a partial file, the verified prefix fsynced
// and recorded every few chunks, and the whole file verified before it is
// renamed into place. Responses travel at QoS 0 (the broker never stores
// audio), so after a link cut the requests the broker had acknowledged are
// asked again at once — their answers were lost with the link — while those
// it had not acknowledged are resent by the MQTT client itself. A request left
// unanswered for `responseTimeoutMs` while connected is asked again. After a
// crash the transfer resumes from the recorded prefix.

export interface TransferDeps {
  files: AssetFiles;
  store: DeviceStore;
  chunkSize: number;
  window: number;
  responseTimeoutMs: number;
  /** After the link comes back, wait this long before asking again for chunks lost with it. */
  resumeDelayMs: number;
  /** Chunks between fsync + progress record; a crash loses at most this many. */
  syncEvery: number;
  /** Publishes a request at QoS 1; resolves when the broker has acknowledged it. */
  request: (req: ChunkRequest) => Promise<void>;
  log: Logger;
  now: () => number;
}

export type TransferResult = { ok: true } | { ok: false; error: LoaError };

export interface TransferStats {
  requested: number;
  received: number;
  corrupt: number;
  duplicates: number;
  resumedFromBytes: number;
}

export class AssetTransfer {
  readonly asset: AssetRef;
  readonly stats: TransferStats = { requested: 0, received: 0, corrupt: 0, duplicates: 0, resumedFromBytes: 0 };
  readonly done: Promise<TransferResult>;
  #deps: TransferDeps;
  #resolve!: (r: TransferResult) => void;
  #state: 'idle' | 'running' | 'committing' | 'finished' = 'idle';
  #linkUp = false;
  #fd: number | null = null;
  #count: number;
  #writeIndex = 0;
  #durableIndex = 0;
  #nextToRequest = 0;
  #outstanding = new Map<number, number>(); // index → when requested
  #acked = new Set<number>(); // outstanding requests the broker has acknowledged
  #pending = new Map<number, Buffer>();
  /** sha256 of the bytes written so far, in order: the whole file is verified without reading it back. */
  #hash: Hash = createHash('sha256');
  #syncChain: Promise<void> = Promise.resolve();
  #closed!: () => void;
  /** Resolves when the partial file is closed and its last checkpoint recorded; a new transfer of the same asset waits for it. */
  readonly closed = new Promise<void>((r) => (this.#closed = r));

  constructor(asset: AssetRef, deps: TransferDeps) {
    this.asset = asset;
    this.#deps = deps;
    this.#count = Math.ceil(asset.size / deps.chunkSize);
    this.done = new Promise((r) => (this.#resolve = r));
  }

  get chunkCount(): number {
    return this.#count;
  }

  get bytesDone(): number {
    return Math.min(this.asset.size, this.#writeIndex * this.#deps.chunkSize);
  }

  start(linkUp: boolean): void {
    const { store, files, chunkSize } = this.#deps;
    const prior = store.partial(this.asset.sha256);
    // A partial recorded with another chunk size or for another size is useless: start over.
    const keep = prior && prior.chunkSize === chunkSize && prior.size === this.asset.size ? prior.verifiedBytes - (prior.verifiedBytes % chunkSize) : 0;
    const { fd, bytes } = files.openPartial(this.asset.sha256, keep);
    this.#fd = fd;
    if (bytes > 0) files.hashPrefix(fd, bytes, this.#hash);
    this.#writeIndex = this.#durableIndex = this.#nextToRequest = Math.floor(bytes / chunkSize);
    this.stats.resumedFromBytes = this.#writeIndex * chunkSize;
    if (!prior || keep !== bytes || prior.verifiedBytes !== keep) store.savePartial({ sha256: this.asset.sha256, size: this.asset.size, chunkSize, verifiedBytes: bytes });
    this.#state = 'running';
    this.#linkUp = linkUp;
    if (this.#writeIndex >= this.#count) void this.#finish();
    else this.#fill();
  }

  onLinkUp(): void {
    this.#linkUp = true;
    if (this.#state !== 'running') return;
    const { responseTimeoutMs, resumeDelayMs } = this.#deps;
    const now = this.#deps.now();
    for (const i of [...this.#outstanding.keys()]) {
      // Requests the broker had acknowledged were answered into the void: ask again once the
      // province's services have had time to reconnect too (tick() does it). Those it had not
      // acknowledged, the MQTT client resends itself: give them a full timeout.
      if (this.#acked.has(i)) {
        if (resumeDelayMs === 0) this.#send(i);
        else this.#outstanding.set(i, now + resumeDelayMs - responseTimeoutMs);
      } else this.#outstanding.set(i, now);
    }
    this.#fill();
  }

  onLinkDown(): void {
    this.#linkUp = false;
  }

  /** Re-requests chunks that went unanswered too long while the link was up. */
  tick(): void {
    if (this.#state !== 'running' || !this.#linkUp) return;
    const now = this.#deps.now();
    for (const [i, at] of this.#outstanding) {
      if (now - at >= this.#deps.responseTimeoutMs) {
        this.#deps.log.debug({ asset: this.asset.sha256, index: i }, 'chunk unanswered; asking again');
        this.#send(i);
      }
    }
  }

  onChunk(header: ChunkHeader, data: Buffer): void {
    if (this.#state !== 'running' || header.asset !== this.asset.sha256) return;
    if ('error' in header) {
      this.#fail(new LoaError('LOA_E_ASSET_UNAVAILABLE', `province cannot serve asset ${this.asset.sha256}: ${header.error.code}: ${header.error.message}`, { context: { asset: this.asset.sha256 } }));
      return;
    }
    const i = header.index;
    if (header.size !== this.#deps.chunkSize || header.total !== this.asset.size || i >= this.#count) {
      // An answer to a request made with other parameters (e.g. before a config change): not ours.
      this.stats.duplicates++;
      return;
    }
    // Chunks far ahead of the write position are not buffered (bounded memory); they will be asked for again.
    if (i < this.#writeIndex || this.#pending.has(i) || i >= this.#writeIndex + 4 * this.#deps.window) {
      this.stats.duplicates++;
      return;
    }
    if (createHash('sha256').update(data).digest('hex') !== header.sha256) {
      this.stats.corrupt++;
      this.#deps.log.warn({ asset: this.asset.sha256, index: i }, 'chunk failed its sha256 check; fetching it again');
      if (this.#linkUp) this.#send(i);
      return;
    }
    this.stats.received++;
    this.#outstanding.delete(i);
    this.#acked.delete(i);
    this.#pending.set(i, data);
    this.#flush();
    if (this.#writeIndex >= this.#count) void this.#finish();
    else this.#fill();
  }

  /** Stops without deleting progress (shutdown, or the target changed). */
  abort(): void {
    if (this.#state === 'finished') return;
    this.#closeFd(true);
    this.#state = 'finished';
    this.#resolve({ ok: false, error: new LoaError('LOA_E_TRANSFER_ABORTED', 'transfer stopped') });
  }

  #send(i: number): void {
    this.#outstanding.set(i, this.#deps.now());
    this.#acked.delete(i);
    this.stats.requested++;
    this.#deps.request({ asset: this.asset.sha256, index: i, size: this.#deps.chunkSize }).then(
      () => {
        if (this.#outstanding.has(i)) this.#acked.add(i);
      },
      () => {},
    );
  }

  #fill(): void {
    if (this.#state !== 'running' || !this.#linkUp) return;
    while (this.#outstanding.size < this.#deps.window && this.#nextToRequest < this.#count) {
      const i = this.#nextToRequest++;
      if (i < this.#writeIndex || this.#pending.has(i)) continue;
      this.#send(i);
    }
  }

  #flush(): void {
    const { files, chunkSize, syncEvery } = this.#deps;
    while (this.#pending.has(this.#writeIndex)) {
      const data = this.#pending.get(this.#writeIndex)!;
      this.#pending.delete(this.#writeIndex);
      files.write(this.#fd!, data, this.#writeIndex * chunkSize);
      this.#hash.update(data);
      this.#writeIndex++;
    }
    if (this.#writeIndex - this.#durableIndex >= syncEvery) this.#checkpoint();
  }

  /**
   * Makes the written prefix durable without blocking the event loop: fsync
   * on the thread pool, then the progress row. Checkpoints run one after the
   * other; the row never claims bytes that are not on disk.
   */
  #checkpoint(): Promise<void> {
    const { files, store, chunkSize } = this.#deps;
    const fd = this.#fd!;
    const upTo = this.#writeIndex;
    this.#durableIndex = upTo;
    this.#syncChain = this.#syncChain.then(async () => {
      await files.syncAsync(fd);
      store.savePartial({ sha256: this.asset.sha256, size: this.asset.size, chunkSize, verifiedBytes: Math.min(this.asset.size, upTo * chunkSize) });
    });
    return this.#syncChain;
  }

  async #finish(): Promise<void> {
    this.#state = 'committing';
    try {
      await this.#checkpoint();
    } catch (e) {
      return this.#fail(new LoaError('LOA_E_DATA_DIR', `cannot write asset ${this.asset.sha256}: ${(e as Error).message}`, { cause: e }));
    }
    if (this.#state !== 'committing') return; // aborted meanwhile
    this.#closeFd(false);
    const { files, store } = this.#deps;
    const found = this.#hash.digest('hex');
    if (found !== this.asset.sha256) {
      // Every chunk matched its own hash, yet the whole does not: the province's copy is wrong.
      files.removePartial(this.asset.sha256);
      store.removePartial(this.asset.sha256);
      this.#fail(new LoaError('LOA_E_ASSET_CORRUPT', `asset ${this.asset.sha256} arrived with sha256 ${found}; discarded`, { context: { asset: this.asset.sha256, found } }));
      return;
    }
    files.commitVerified(this.asset.sha256);
    store.tx(() => store.addAsset(this.asset, new Date(this.#deps.now()).toISOString()));
    this.#state = 'finished';
    this.#resolve({ ok: true });
  }

  #fail(error: LoaError): void {
    this.#closeFd(true);
    this.#state = 'finished';
    this.#resolve({ ok: false, error });
  }

  /** Closes the partial file once pending checkpoints are done, after a last one if asked. */
  #closeFd(checkpoint: boolean): void {
    const fd = this.#fd;
    if (fd === null) return;
    this.#fd = null;
    if (checkpoint && this.#writeIndex > this.#durableIndex) {
      this.#fd = fd;
      void this.#checkpoint().catch(() => {});
      this.#fd = null;
    }
    void this.#syncChain
      .catch(() => {})
      .finally(() => {
        this.#deps.files.close(fd);
        this.#closed();
      });
  }
}
