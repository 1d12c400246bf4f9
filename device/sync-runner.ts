import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/log.js';
import { LoaError } from '../protocol/errors.js';
import type { AssetRef, ChunkHeader, ChunkRequest, TargetState } from '../protocol/payloads.js';
import type { AssetFiles } from './asset-files.js';
import type { AgentSettings } from './config.js';
import type { DeviceStore } from './store.js';
import { planSync, type SyncPlan } from './sync-plan.js';
import { AssetTransfer } from './transfer.js';

// Carries the sync plan out, one pass at a time: delete what the target no
// longer references, then fetch missing assets one by one in plan order, and
// mark the target applied when nothing is missing. A new target restarts the
// pass; an asset that fails waits `retryMs` before it is tried again.

export interface SyncRunnerDeps {
  store: DeviceStore;
  files: AssetFiles;
  settings: AgentSettings;
  sendRequest: (req: ChunkRequest) => Promise<void>;
  linkUp: () => boolean;
  freeBytes: () => number;
  log: Logger;
  now: () => number;
}

export type SyncState = 'idle' | 'syncing' | 'blocked';

export interface SyncRunnerEvents {
  applied: [version: number];
  changed: [];
}

export class SyncRunner extends EventEmitter<SyncRunnerEvents> {
  readonly #d: SyncRunnerDeps;
  #target: TargetState | null = null;
  #transfer: AssetTransfer | null = null;
  #running = false;
  #again = false;
  #stopped = false;
  #failedAt = new Map<string, number>();
  #retryTimer: NodeJS.Timeout | null = null;
  #plan: SyncPlan | null = null;
  #urgent = new Map<string, { asset: AssetRef; until: number }>();
  #state: SyncState = 'idle';
  lastError: LoaError | null = null;
  /** Chunk requests sent since start, over all transfers. */
  requestsSent = 0;
  corruptChunks = 0;

  constructor(deps: SyncRunnerDeps) {
    super();
    this.#d = deps;
  }

  get state(): SyncState {
    return this.#state;
  }

  get missing(): number {
    return this.#plan ? this.#plan.fetch.length + this.#plan.noRoom.length : 0;
  }

  /** Assets that do not fit the budget or the disk: reported in telemetry as `disk.full`. */
  get noRoom(): readonly AssetRef[] {
    return this.#plan?.noRoom ?? [];
  }

  get current(): AssetTransfer | null {
    return this.#transfer;
  }

  setTarget(target: TargetState | null): void {
    this.#target = target;
    const cur = this.#transfer;
    if (cur && target && !target.assets.some((a) => a.sha256 === cur.asset.sha256)) cur.abort();
    this.#failedAt.clear();
    this.kick();
  }

  /**
   * Fetches an asset ahead of everything else (an emergency's clip) and keeps
   * it until `untilMs`, even if the target does not list it.
   */
  fetchNow(asset: AssetRef, untilMs: number): void {
    this.#urgent.set(asset.sha256, { asset, until: untilMs });
    const cur = this.#transfer;
    if (cur && cur.asset.sha256 !== asset.sha256 && !this.#urgent.has(cur.asset.sha256)) cur.abort();
    this.#failedAt.delete(asset.sha256);
    this.kick();
  }

  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    void this.#run()
      .catch((e) => this.#d.log.error({ err: e }, 'sync pass failed'))
      .finally(() => {
        this.#running = false;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  onLinkUp(): void {
    this.#transfer?.onLinkUp();
  }

  onLinkDown(): void {
    this.#transfer?.onLinkDown();
  }

  onChunk(header: ChunkHeader, data: Buffer): void {
    this.#transfer?.onChunk(header, data);
  }

  tick(): void {
    this.#transfer?.tick();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#transfer?.abort();
  }

  #setState(s: SyncState): void {
    if (s !== this.#state) {
      this.#state = s;
      this.emit('changed');
    }
  }

  #computePlan(): SyncPlan {
    const { store, settings } = this.#d;
    const now = this.#d.now();
    for (const [sha, u] of this.#urgent) if (u.until <= now) this.#urgent.delete(sha);
    this.#plan = planSync({
      target: this.#target,
      urgent: [...this.#urgent.values()].map((u) => u.asset),
      stored: store.assets(),
      nowMs: this.#d.now(),
      budget: { budgetBytes: settings.diskBudgetBytes, reserveBytes: settings.emergencyReserveBytes, freeBytes: this.#d.freeBytes(), minFreeBytes: settings.minFreeBytes },
    });
    return this.#plan;
  }

  async #run(): Promise<void> {
    const { store, files, log } = this.#d;
    while (!this.#stopped) {
      const target = this.#target;
      if (!target && !this.#urgent.size) return this.#setState('idle');
      const plan = this.#computePlan();
      for (const sha of plan.remove) {
        // Row first, then file: a row never points to a missing file.
        store.tx(() => store.removeAsset(sha));
        files.remove(sha);
        log.info({ asset: sha }, 'asset no longer referenced; deleted');
      }
      const wanted = new Set([...(target?.assets ?? []).map((a) => a.sha256), ...this.#urgent.keys()]);
      for (const p of store.partials()) {
        if (wanted.has(p.sha256)) continue;
        store.removePartial(p.sha256);
        files.removePartial(p.sha256);
      }
      if (plan.noRoom.length) {
        const bytes = plan.noRoom.reduce((n, a) => n + a.size, 0);
        this.lastError = new LoaError('LOA_E_DISK_BUDGET', `${plan.noRoom.length} asset(s), ${bytes} bytes, do not fit the disk budget or free space`, { context: { assets: plan.noRoom.map((a) => a.sha256) } });
        log.error({ assets: plan.noRoom.length, bytes }, 'assets do not fit the disk budget');
      }
      if (plan.complete && target) {
        const stored = store.target();
        if (stored && stored.version === target.version && !stored.appliedAt) {
          store.markApplied(target.version, new Date(this.#d.now()).toISOString());
          this.lastError = null;
          log.info({ version: target.version, assets: target.assets.length }, 'target applied');
          this.#setState('idle');
          this.emit('applied', target.version);
        }
        if (!plan.fetch.length) return this.#setState('idle');
      }
      if (!plan.fetch.length && !plan.noRoom.length) return this.#setState('idle');
      const now = this.#d.now();
      const next = plan.fetch.find((a) => (this.#failedAt.get(a.sha256) ?? -Infinity) + this.#d.settings.retryMs <= now);
      if (!next) {
        this.#setState('blocked');
        const soonest = Math.min(...plan.fetch.map((a) => (this.#failedAt.get(a.sha256) ?? now) + this.#d.settings.retryMs));
        if (Number.isFinite(soonest)) this.#scheduleRetry(Math.max(0, soonest - now));
        return;
      }
      this.#setState('syncing');
      const r = await this.#fetch(next);
      if (!r.ok && r.error.code !== 'LOA_E_TRANSFER_ABORTED') {
        this.#failedAt.set(next.sha256, this.#d.now());
        this.lastError = r.error;
        log.warn({ asset: next.sha256, err: r.error }, 'asset transfer failed; will retry');
        this.emit('changed');
      }
    }
  }

  async #fetch(asset: AssetRef): Promise<{ ok: true } | { ok: false; error: LoaError }> {
    const s = this.#d.settings;
    const t = new AssetTransfer(asset, {
      files: this.#d.files,
      store: this.#d.store,
      chunkSize: s.chunkSize,
      window: s.window,
      responseTimeoutMs: s.responseTimeoutMs,
      resumeDelayMs: s.resumeDelayMs,
      syncEvery: s.syncEvery,
      request: (req) => {
        this.requestsSent++;
        return this.#d.sendRequest(req);
      },
      log: this.#d.log,
      now: this.#d.now,
    });
    this.#transfer = t;
    this.#d.log.info({ asset: asset.sha256, size: asset.size }, 'fetching asset');
    t.start(this.#d.linkUp());
    const r = await t.done;
    await t.closed;
    this.corruptChunks += t.stats.corrupt;
    this.#transfer = null;
    if (r.ok) this.#d.log.info({ asset: asset.sha256, requested: t.stats.requested, chunks: t.chunkCount, resumedFromBytes: t.stats.resumedFromBytes, corrupt: t.stats.corrupt }, 'asset stored');
    return r;
  }

  #scheduleRetry(ms: number): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.kick();
    }, ms);
    this.#retryTimer.unref();
  }
}
