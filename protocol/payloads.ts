import { z } from 'zod';
import { Sha256Hex, Slug, ZonePath } from './ids.js';

// One zod schema per payload of the loa/v1 contract (docs/protocol.md).
// Conventions:
// - instants are ISO-8601 UTC strings with a Z suffix (`Instant`);
// - wall-clock times of schedules are local to Asia/Ho_Chi_Minh ('HH:MM', 'YYYY-MM-DD');
// - objects are strict: an unknown field is an error, not silently dropped,
//   so a version skew shows up as a rejected payload with a clear reason;
// - text people read is NFC-normalised Unicode (Vietnamese diacritics exact).

export const Instant = z.iso.datetime({ offset: false });
export const LocalDate = z.iso.date();
export const LocalTime = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (00:00–23:59)');
export const Percent = z.int().min(0).max(100);
export const Uuid = z.uuid();
/** Human-readable text: NFC, bounded, no control characters. */
export const Text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => s === s.normalize('NFC'), 'must be Unicode NFC (compose diacritics: "ệ", not "ê" + U+0323)')
    .refine((s) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), 'must not contain control characters');

/** ISO weekday: 1 = Monday (Thứ Hai) … 7 = Sunday (Chủ Nhật). */
export const Weekday = z.int().min(1).max(7);

export const LEVELS = ['emergency', 'live', 'priority', 'normal'] as const;
export const Level = z.enum(LEVELS);
export const ProgrammeLevel = z.enum(['priority', 'normal']);

// ---------------------------------------------------------------- target state

export const AssetRef = z.strictObject({
  sha256: Sha256Hex,
  size: z.int().min(1).max(512 * 1024 * 1024),
  durationMs: z.int().min(1),
  mime: z.enum(['audio/ogg', 'audio/wav', 'audio/mpeg']),
  title: Text(200).optional(),
  /** Emergency clips live in the disk reserve and are fetched before anything else. */
  reserve: z.boolean().optional(),
});
export type AssetRef = z.infer<typeof AssetRef>;

export const AllowedWindow = z.strictObject({
  days: z.array(Weekday).min(1).max(7),
  start: LocalTime,
  /** Exclusive; '00:00' as end means midnight at the end of the day. */
  end: LocalTime,
  volumeCap: Percent,
});

export const RuleProfile = z.strictObject({
  zone: ZonePath,
  windows: z.array(AllowedWindow).max(64),
  defaultVolume: Percent.optional(),
  maxContinuousSec: z.int().min(1).optional(),
  maxDailySec: z.int().min(1).optional(),
  blackoutDates: z.array(LocalDate).max(366).default([]),
  emergencyVolume: Percent.optional(),
  /** Whether the commune operator may stop an emergency from the local panel (with a reason). */
  panelMayStopEmergency: z.boolean().optional(),
  /** Live broadcasts may sound outside the windows (quiet hours, blackout dates), at `liveVolume`; every profile of the lineage must say so. */
  liveAnyTime: z.boolean().optional(),
  /** The volume of live broadcasts that the windows would not allow (default: the emergency volume). */
  liveVolume: Percent.optional(),
});
export type RuleProfile = z.infer<typeof RuleProfile>;

export const Recurrence = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('once'), date: LocalDate, time: LocalTime }),
  z.strictObject({ kind: z.literal('daily'), time: LocalTime, from: LocalDate.optional(), until: LocalDate.optional() }),
  z.strictObject({ kind: z.literal('weekly'), days: z.array(Weekday).min(1).max(7), time: LocalTime, from: LocalDate.optional(), until: LocalDate.optional() }),
  /** RFC 5545 RRULE for everything else; DTSTART is local Asia/Ho_Chi_Minh. */
  z.strictObject({ kind: z.literal('rrule'), rrule: z.string().min(6).max(500), start: LocalDate, time: LocalTime }),
]);
export type Recurrence = z.infer<typeof Recurrence>;

export const Programme = z.strictObject({
  id: Slug,
  title: Text(200),
  level: ProgrammeLevel,
  playlist: z.array(Sha256Hex).min(1).max(100),
  recurrence: Recurrence,
  resumable: z.boolean(),
  zones: z.array(ZonePath).min(1),
  /** Pre-announcement chime before the playlist (bulletins). */
  chime: z.boolean().optional(),
});
export type Programme = z.infer<typeof Programme>;

export const TargetState = z.strictObject({
  device: Slug,
  zone: ZonePath,
  /** Strictly increasing per device; the agent never applies a version lower than the one it holds. */
  version: z.int().min(1),
  issuedAt: Instant,
  assets: z.array(AssetRef).max(2000),
  programmes: z.array(Programme).max(500),
  /** The rule profiles of the device's zone lineage, root first; the most restrictive wins. */
  rules: z.array(RuleProfile).max(16),
  panel: z.strictObject({ passwordHash: z.string().min(20).max(300) }).optional(),
});
export type TargetState = z.infer<typeof TargetState>;

// ---------------------------------------------------------- device → province

export const DeviceStatus = z.strictObject({
  state: z.enum(['online', 'offline']),
  /** When the agent said so; absent in the will, which the broker sends later. */
  at: Instant.optional(),
  reason: z.enum(['connected', 'shutdown', 'will']).optional(),
  agent: z.string().max(40).optional(),
  /**
   * Asks the province for the time: it answers on the device's own time topic
   * with a beacon carrying this nonce, so the device knows the beacon was
   * made after it asked (device/clock.ts). Sent on every connect, and again
   * when an unsolicited beacon disagrees with the device's clock.
   */
  nonce: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/).optional(),
});
export type DeviceStatus = z.infer<typeof DeviceStatus>;

export const CodedReason = z.strictObject({ code: z.string().regex(/^LOA_E_[A-Z0-9_]+$/), message: z.string().max(500) });

export const DeviceState = z.strictObject({
  at: Instant,
  appliedVersion: z.int().min(0).nullable(),
  /** Highest version seen, valid or not. */
  receivedVersion: z.int().min(0).nullable(),
  sync: z.enum(['idle', 'syncing', 'blocked']),
  missingAssets: z.int().min(0),
  lastError: CodedReason.nullable(),
});
export type DeviceState = z.infer<typeof DeviceState>;

export const NowPlaying = z.strictObject({
  level: Level,
  source: z.enum(['programme', 'local', 'live', 'emergency', 'tone']),
  title: Text(200).optional(),
  asset: Sha256Hex.optional(),
  programme: Slug.optional(),
  emergency: Uuid.optional(),
  /** The live session it plays (the console counts the clusters receiving one). */
  live: Uuid.optional(),
  since: Instant,
});
export type NowPlaying = z.infer<typeof NowPlaying>;

export const Telemetry = z.strictObject({
  at: Instant,
  agent: z.string().max(40),
  uptimeSec: z.int().min(0),
  appliedVersion: z.int().min(0).nullable(),
  playing: NowPlaying.nullable(),
  volume: Percent,
  amplifier: z.enum(['on', 'off', 'warming', 'fault']),
  disk: z.strictObject({
    freeBytes: z.int().min(0),
    usedBytes: z.int().min(0),
    budgetBytes: z.int().min(0),
    full: z.boolean(),
  }),
  cpuTempC: z.number().min(-50).max(150).nullable(),
  clock: z.strictObject({ trusted: z.boolean(), source: z.enum(['ntp', 'rtc', 'beacon', 'none']) }),
  rttMs: z.int().min(0).nullable(),
  outboxDropped: z.int().min(0).optional(),
  /**
   * The device's own store, when it is not simply well: 'full' (the disk is
   * full; `held` records, plan items and ids wait in memory for room),
   * 'rebuilt' (a damaged store was set aside at `since`, kept for the
   * technician at `detail`, and the device resynced), 'memory' (no store
   * could be written at start: nothing survives a restart).
   */
  store: z.strictObject({ state: z.enum(['ok', 'full', 'rebuilt', 'memory']), since: Instant.nullable(), held: z.int().min(0), detail: z.string().max(300).optional() }).optional(),
});
export type Telemetry = z.infer<typeof Telemetry>;

export const CHUNK_SIZE_MIN = 32 * 1024;
export const CHUNK_SIZE_MAX = 64 * 1024;

export const ChunkRequest = z.strictObject({
  asset: Sha256Hex,
  index: z.int().min(0),
  size: z.int().min(CHUNK_SIZE_MIN).max(CHUNK_SIZE_MAX),
});
export type ChunkRequest = z.infer<typeof ChunkRequest>;

/** Header of a chunk response frame; the bytes follow it (see chunk-frame.ts). */
export const ChunkHeader = z.union([
  z.strictObject({
    asset: Sha256Hex,
    index: z.int().min(0),
    size: z.int().min(CHUNK_SIZE_MIN).max(CHUNK_SIZE_MAX),
    /** Size of the whole asset. */
    total: z.int().min(1),
    /** sha256 of this chunk's bytes, so a damaged chunk is refetched alone. */
    sha256: Sha256Hex,
  }),
  z.strictObject({ asset: Sha256Hex, index: z.int().min(0), error: CodedReason }),
]);
export type ChunkHeader = z.infer<typeof ChunkHeader>;

const PlayRecord = z.strictObject({
  outcome: z.enum(['played', 'refused', 'interrupted', 'failed']),
  level: Level,
  source: z.enum(['programme', 'local', 'live', 'emergency', 'tone']),
  programme: Slug.optional(),
  asset: Sha256Hex.optional(),
  emergency: Uuid.optional(),
  title: Text(200).optional(),
  start: Instant,
  end: Instant.optional(),
  volume: Percent.optional(),
  /** The rule that refused or shortened it, e.g. quiet-hours, volume-cap, daily-airtime, blackout, clock-untrusted. */
  rule: z.string().max(60).optional(),
  reason: z.string().max(500).optional(),
  interruptedBy: Level.optional(),
  /** How far into its content it got, ms: the airtime. Less than end − start when it was suspended, or cut by a restart and resumed. */
  playedMs: z.int().min(0).optional(),
});

const EmergencyAck = z.strictObject({
  emergency: Uuid,
  status: z.enum(['received', 'playing', 'finished', 'cancelled', 'rejected']),
  code: z.string().regex(/^LOA_E_[A-Z0-9_]+$/).optional(),
  reason: z.string().max(500).optional(),
});

const OperatorAction = z.strictObject({
  action: z.string().min(1).max(60),
  session: z.string().min(1).max(80),
  detail: z.record(z.string(), z.union([z.string().max(500), z.number(), z.boolean(), z.null()])).optional(),
});

const Metric = z.strictObject({ name: z.string().min(1).max(60), value: z.number() });

/**
 * Set when the record's times were stamped before the device's clock was
 * trusted and could not be corrected (it restarted before it learned the
 * time): reports must not take them at face value. Records made before the
 * clock was trusted are otherwise held back and corrected (device/store.ts).
 */
const RecordClock = z.literal('untrusted').optional();
/** `<install id>:<zero-padded counter>`: the device's own sequence within one store install; the province orders by it, not by `at`. */
const RecordKey = z.string().min(8).max(80);

export const LogRecord = z.discriminatedUnion('kind', [
  z.strictObject({ key: RecordKey, at: Instant, kind: z.literal('play'), data: PlayRecord, clock: RecordClock }),
  z.strictObject({ key: RecordKey, at: Instant, kind: z.literal('emergency-ack'), data: EmergencyAck, clock: RecordClock }),
  z.strictObject({ key: RecordKey, at: Instant, kind: z.literal('operator'), data: OperatorAction, clock: RecordClock }),
  z.strictObject({ key: RecordKey, at: Instant, kind: z.literal('metric'), data: Metric, clock: RecordClock }),
]);
export type LogRecord = z.infer<typeof LogRecord>;
export type LogKind = LogRecord['kind'];

export const MAX_LOG_BATCH = 200;

export const LogBatch = z.strictObject({
  batch: Uuid,
  records: z.array(LogRecord).min(1).max(MAX_LOG_BATCH),
});
export type LogBatch = z.infer<typeof LogBatch>;

// ---------------------------------------------------------- province → device

export const LogAck = z.strictObject({
  batch: Uuid,
  /** Keys the province has stored (now or earlier): the device deletes exactly these. */
  stored: z.array(z.string().min(8).max(80)).max(MAX_LOG_BATCH),
});
export type LogAck = z.infer<typeof LogAck>;

export const EmergencyScope = z
  .strictObject({ zones: z.array(ZonePath).max(200).default([]), devices: z.array(Slug).max(5000).default([]) })
  .refine((s) => s.zones.length + s.devices.length > 0, 'scope must name at least one zone or device');

export const EmergencyContent = z.discriminatedUnion('kind', [
  /** An asset the device may already hold, or fetches ahead of everything else. */
  z.strictObject({ kind: z.literal('asset'), asset: AssetRef }),
  /** A clip every device holds from install. */
  z.strictObject({ kind: z.literal('standard'), clip: z.enum(['siren', 'chime', 'alert-tone', 'drill-preamble']) }),
  /** TTS text rendered at the province; `asset` is the rendered clip. */
  z.strictObject({ kind: z.literal('tts'), text: Text(2000), asset: AssetRef }),
  z.strictObject({ kind: z.literal('live'), url: z.url().max(500) }),
]);

export const EmergencyStart = z.strictObject({
  type: z.literal('start'),
  id: Uuid,
  issuedAt: Instant,
  expiresAt: Instant,
  scope: EmergencyScope,
  /** Disaster risk level 1–5 (QĐ 18/2021/QĐ-TTg). */
  level: z.int().min(1).max(5),
  mode: z.enum(['actual', 'exercise', 'test']),
  content: EmergencyContent,
  repeat: z.int().min(1).max(20),
  title: Text(200).optional(),
});
export type EmergencyStart = z.infer<typeof EmergencyStart>;

export const EmergencyCancel = z.strictObject({
  type: z.literal('cancel'),
  id: Uuid,
  cancels: Uuid,
  issuedAt: Instant,
  expiresAt: Instant,
  scope: EmergencyScope,
});
export type EmergencyCancel = z.infer<typeof EmergencyCancel>;

/** Start and cancel share a topic so MQTT's per-topic ordering keeps a cancel behind its start. */
export const EmergencyCommand = z.discriminatedUnion('type', [EmergencyStart, EmergencyCancel]);
export type EmergencyCommand = z.infer<typeof EmergencyCommand>;

/**
 * A live session on a zone subtree (docs/live.md). `open` names the session,
 * the Ed25519 key its audio frames are signed with (raw 32 bytes, base64url)
 * and how long it may last; the console sends it again every few seconds
 * while the session runs, so an agent that connects late joins it. `close`
 * ends it after frame `lastSeq`. Both are signed with the province's live
 * key; frames (protocol/live-frames.ts) with the session's key only.
 */
export const LIVE_SOURCES = ['studio', 'terminal', 'relay', 'panel'] as const;
export const LiveControl = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('open'),
    id: Uuid,
    issuedAt: Instant,
    /** The open is evidence of a running session until then (a few seconds; it is sent again). */
    expiresAt: Instant,
    zone: ZonePath,
    title: Text(200),
    /** Who speaks: the console account, or the relay's programme id. */
    by: z.string().min(1).max(100),
    source: z.enum(LIVE_SOURCES),
    key: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a raw Ed25519 public key, base64url'),
    codec: z.strictObject({ name: z.literal('opus'), sampleRate: z.literal(48000), frameMs: z.literal(20) }),
    /** When the session began (its first frame's playout instant). */
    startedAt: Instant,
    /** The session ends by itself then, whatever else happens. */
    endBy: Instant,
  }),
  z.strictObject({ type: z.literal('close'), id: Uuid, issuedAt: Instant, expiresAt: Instant, zone: ZonePath, lastSeq: z.int().min(-1), reason: Text(200) }),
]);
export type LiveControl = z.infer<typeof LiveControl>;

/** Signed, never retained: a retained time is a stale time. */
export const TimeBeacon = z.strictObject({
  at: Instant,
  /** The beacon is only evidence of the time within this long after `at`. */
  validMs: z.int().min(1000).max(10 * 60_000),
  seq: z.int().min(0),
  /** On a device's own time topic: the nonce of the status that asked for it. */
  nonce: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/).optional(),
});
export type TimeBeacon = z.infer<typeof TimeBeacon>;
