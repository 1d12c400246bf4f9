import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../lib/log.js';
import { titleFromText } from '../lib/auto-title.js';
import { LoaError } from '../protocol/errors.js';
import type { LogRecord, TargetState } from '../protocol/payloads.js';
import { allowedAt, capOver, effectiveRules, type EffectiveRules } from '../schedules/rules.js';
import { DEFAULT_CHIME_MS, type PlanItem } from '../schedules/plan.js';
import { lengthMs, type ArbiterEvent, type PlayLogData, type PlayRequest, type Segment } from './arbiter.js';
import type { PlaybackEngine } from './playback.js';

// What the commune radio operator may do on the cluster, as the local panel
// asks for it: set the volume within the caps, stop what plays, make a local
// announcement. The rules are the province's (rule profiles in the target
// state); every action is an `operator` record in the outbox with the
// operator's session, and every announcement is a play-log record like any
// programme. HTTP lives in device/panel/; this is what it calls.

/** Who asked: a short, stable hash of the panel session (never the cookie) and the address. */
export interface Operator {
  session: string;
  address: string;
}

export interface OperatorDeskDeps {
  engine: PlaybackEngine;
  target: () => TargetState | null;
  setting: (key: string) => string | null;
  setSetting: (key: string, value: string) => void;
  record: (kind: LogRecord['kind'], data: LogRecord['data']) => void;
  hasAsset: (sha256: string) => boolean;
  now: () => number;
  /** Where uploaded and spoken announcements are kept until played. */
  dir: string;
  log: Logger;
  /** Turns an uploaded or spoken file into a normalised clip in `outDir`; throws LOA_E_AUDIO_INVALID. */
  ingest: (file: string, outDir: string, maxDurationMs: number) => Promise<{ file: string; durationMs: number }>;
  /** Speaks Vietnamese text to WAV, when `available()` says the cluster can (espeak-ng installed). */
  speech: { available: () => boolean; speak: (text: string) => Promise<Buffer> };
  maxAnnouncementMs: number;
  chimeMs?: number;
}

const VOLUME_KEY = 'operator_volume';
/** Uploaded and spoken announcements kept on disk (the newest). */
const KEEP_LOCAL_FILES = 20;
const LOCAL_CLIP = /^\d+-[0-9a-f]{8}\.ogg$/;

export const sessionTag = (sessionId: string) => 'panel:' + createHash('sha256').update(sessionId).digest('hex').slice(0, 12);

export class OperatorDesk {
  readonly #d: OperatorDeskDeps;

  constructor(deps: OperatorDeskDeps) {
    this.#d = deps;
    mkdirSync(deps.dir, { recursive: true, mode: 0o700 });
  }

  #rulesOf: { target: TargetState | null; rules: EffectiveRules } | null = null;

  /** The rules of the target in force, merged once per target. */
  get rules(): EffectiveRules {
    const target = this.#d.target();
    if (this.#rulesOf?.target !== target) this.#rulesOf = { target, rules: effectiveRules(target?.rules ?? []) };
    return this.#rulesOf.rules;
  }

  get ttsAvailable(): boolean {
    return this.#d.speech.available();
  }

  /** The operator's volume, or null when it was never set (the rules' default applies). */
  get volumeSetting(): number | null {
    const raw = this.#d.setting(VOLUME_KEY);
    const v = Number(raw);
    return raw !== null && Number.isInteger(v) && v >= 0 && v <= 100 ? v : null;
  }

  /** The cap of the window in force now (0 in quiet hours). */
  capNow(): number {
    return allowedAt(this.rules, this.#d.now()).cap;
  }

  /** The volume things play at now: the operator's (or the default) within the cap. */
  volumeNow(): { setting: number; cap: number; current: number | null } {
    const rules = this.rules;
    const cap = this.capNow();
    return { setting: this.volumeSetting ?? rules.defaultVolume, cap, current: this.#d.engine.volume };
  }

  /**
   * Applies the operator's volume to a request about to reach the arbiter:
   * never above the lowest cap over the time it plays; emergencies keep
   * the emergency volume and live relays the province's.
   */
  adjust(ev: ArbiterEvent): ArbiterEvent {
    const setting = this.volumeSetting;
    if (ev.type !== 'request' || setting === null || (ev.req.source !== 'programme' && ev.req.source !== 'local')) return ev;
    const len = lengthMs(ev.req) ?? 0;
    const cap = capOver(this.rules, ev.at, ev.req.endBy ?? ev.at + Math.max(1, len));
    return { ...ev, req: { ...ev.req, volume: Math.min(setting, cap) } };
  }

  /** The volume a plan item will play at: the operator's within the caps over its time. */
  plannedVolume(item: PlanItem): number {
    const setting = this.volumeSetting;
    return setting === null ? item.volume : Math.min(setting, capOver(this.rules, item.start, Math.max(item.end, item.start + 1)));
  }

  setVolume(requested: number, who: Operator): { volume: number; requested: number; cap: number; clamped: boolean } {
    const cap = this.capNow();
    // Outside the windows the cap is 0; the setting still holds for the next window, within its cap.
    const ceiling = cap > 0 ? cap : maxCap(this.rules);
    const volume = Math.max(0, Math.min(requested, ceiling));
    this.#d.setSetting(VOLUME_KEY, String(volume));
    const p = this.#d.engine.playingRequest;
    if (p && (p.source === 'programme' || p.source === 'local')) this.#d.engine.setVolume(Math.min(volume, cap));
    const clamped = volume !== requested;
    this.#act('volume', who, { requested, volume, cap: ceiling, clamped });
    return { volume, requested, cap: ceiling, clamped };
  }

  /** Whether what plays now may be stopped from the panel, and whether that needs a reason. */
  stoppable(req: PlayRequest | null): { stoppable: boolean; needsReason: boolean } {
    if (!req) return { stoppable: false, needsReason: false };
    if (req.level === 'emergency') return { stoppable: this.rules.panelMayStopEmergency, needsReason: true };
    return { stoppable: true, needsReason: false };
  }

  stop(reason: string | undefined, who: Operator): { id: string; level: string; source: string; title?: string } {
    const req = this.#d.engine.playingRequest;
    if (!req) throw new LoaError('LOA_E_NOTHING_PLAYING', 'nothing is playing');
    const s = this.stoppable(req);
    if (!s.stoppable) throw new LoaError('LOA_E_FORBIDDEN', 'an emergency broadcast cannot be stopped from the panel: the rule profiles of this zone do not allow it; only the province can cancel it');
    const why = reason?.normalize('NFC').trim() ?? '';
    if (s.needsReason && why.length < 3) throw new LoaError('LOA_E_REASON_REQUIRED', 'stopping an emergency needs a reason, which is reported to the province');
    // The action first, so the province learns who stopped it before it learns it stopped.
    this.#act('stop', who, { id: req.id, level: req.level, source: req.source, title: req.title ?? null, ...(req.emergency ? { emergency: req.emergency } : {}), reason: why || null });
    this.#d.engine.dispatch({ type: 'cancel', id: req.id, at: this.#d.now(), reason: `stopped from the local panel${why ? ': ' + why : ''}`.slice(0, 500) });
    return { id: req.id, level: req.level, source: req.source, ...(req.title ? { title: req.title } : {}) };
  }

  /** A cached clip of the target state, played as a local announcement. */
  announceClip(sha256: string, title: string | undefined, who: Operator): { id: string; status: 'playing' | 'queued' } {
    const a = this.#d.target()?.assets.find((x) => x.sha256 === sha256);
    if (!a || !this.#d.hasAsset(sha256)) throw new LoaError('LOA_E_ASSET_UNKNOWN', 'that clip is not on this device');
    return this.#announce({ kind: 'asset', sha256, durationMs: a.durationMs }, title?.trim() || a.title || 'Thông báo', who, { clip: sha256 });
  }

  /** An uploaded file: ingested (loudness, Opus) into the local folder, then announced. */
  async announceUpload(file: string, title: string, who: Operator): Promise<{ id: string; status: 'playing' | 'queued'; durationMs: number }> {
    this.#refuseOutsideWindows(title, who);
    const clip = await this.#keep(file);
    return { ...this.#announce({ kind: 'file', path: clip.file, durationMs: clip.durationMs }, title || 'Thông báo', who, { upload: true, durationMs: clip.durationMs }), durationMs: clip.durationMs };
  }

  /** Typed Vietnamese text, spoken by the cluster's TTS (espeak-ng), then announced. */
  async announceText(text: string, title: string | undefined, who: Operator): Promise<{ id: string; status: 'playing' | 'queued'; durationMs: number; title: string }> {
    if (!this.#d.speech.available()) throw new LoaError('LOA_E_CONFIG_INVALID', 'this cluster has no text-to-speech (espeak-ng is not installed)');
    const t = text.normalize('NFC').trim();
    // No title of its own: its first words, cut at a word boundary with an ellipsis (lib/auto-title.ts).
    const name = title?.trim() || titleFromText(t);
    this.#refuseOutsideWindows(name, who);
    const wav = await this.#d.speech.speak(t);
    const tmp = join(this.#d.dir, `.tts-${randomUUID()}.wav`);
    writeFileSync(tmp, wav);
    try {
      const clip = await this.#keep(tmp);
      return { ...this.#announce({ kind: 'file', path: clip.file, durationMs: clip.durationMs }, name, who, { text: t.slice(0, 500), durationMs: clip.durationMs }), durationMs: clip.durationMs, title: name };
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  #refuseOutsideWindows(title: string, who: Operator): void {
    const now = this.#d.now();
    const a = allowedAt(this.rules, now);
    if (a.allowed) return;
    const reason = a.rule === 'blackout' ? 'today is a blackout date of this zone' : 'outside the hours this zone allows broadcasting';
    this.#d.record('play', { outcome: 'refused', level: 'priority', source: 'local', title: title.slice(0, 200), start: new Date(now).toISOString(), rule: a.rule ?? 'quiet-hours', reason } satisfies PlayLogData);
    this.#act('announce.refused', who, { rule: a.rule ?? 'quiet-hours', title: title.slice(0, 200) });
    throw new LoaError('LOA_E_ANNOUNCE_REFUSED', `announcement refused: ${reason}`, { context: { rule: a.rule ?? 'quiet-hours' } });
  }

  #announce(seg: Segment, title: string, who: Operator, detail: Record<string, string | number | boolean>): { id: string; status: 'playing' | 'queued' } {
    this.#refuseOutsideWindows(title, who);
    const now = this.#d.now();
    const a = allowedAt(this.rules, now);
    const id = `local-${randomUUID()}`;
    const req: PlayRequest = {
      id,
      level: 'priority',
      source: 'local',
      title: title.normalize('NFC').slice(0, 200),
      segments: [{ kind: 'tone', tone: 'chime', durationMs: this.#d.chimeMs ?? DEFAULT_CHIME_MS }, seg],
      volume: Math.min(this.volumeSetting ?? this.rules.defaultVolume, a.cap),
      resumable: true,
      notAfter: a.windowEnd,
      endBy: a.windowEnd,
      requiresTrustedClock: false,
    };
    this.#act('announce', who, { id, title: req.title!, ...detail });
    this.#d.engine.dispatch({ type: 'request', req, at: now });
    return { id, status: this.#d.engine.playingRequest?.id === id ? 'playing' : 'queued' };
  }

  async #keep(file: string): Promise<{ file: string; durationMs: number }> {
    const r = await this.#d.ingest(file, this.#d.dir, this.#d.maxAnnouncementMs);
    const dest = join(this.#d.dir, `${Date.now()}-${randomUUID().slice(0, 8)}.ogg`);
    renameSync(r.file, dest);
    this.#prune(dest);
    return { file: dest, durationMs: r.durationMs };
  }

  /** Keeps the newest local clips; anything else an hour old (left by a crash mid-ingest) goes too. */
  #prune(keep: string): void {
    const now = Date.now();
    const entries = readdirSync(this.#d.dir).map((name) => ({ name, f: join(this.#d.dir, name), t: statSync(join(this.#d.dir, name)).mtimeMs }));
    const clips = entries.filter((e) => LOCAL_CLIP.test(e.name) && e.f !== keep).sort((a, b) => b.t - a.t);
    for (const e of clips.slice(KEEP_LOCAL_FILES - 1)) rmSync(e.f, { force: true });
    for (const e of entries) if (!LOCAL_CLIP.test(e.name) && now - e.t > 3600_000) rmSync(e.f, { force: true, recursive: true });
  }

  #act(action: string, who: Operator, detail: Record<string, string | number | boolean | null>): void {
    this.#d.record('operator', { action, session: who.session, detail: { ...detail, address: who.address } });
    this.#d.log.info({ action, session: who.session, address: who.address, ...detail }, 'operator action');
  }
}

function maxCap(rules: EffectiveRules): number {
  let m = 0;
  for (const segs of Object.values(rules.week)) for (const s of segs) m = Math.max(m, s.cap);
  return m;
}
