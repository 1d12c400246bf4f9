import type { z } from 'zod';
import type { ParsedTopic } from './topics.js';
import * as P from './payloads.js';
import type { SignPurpose } from './signing.js';

// The contract as data: one row per topic kind. The broker's ACL, the
// documentation (docs/protocol.md, checked by a test) and the size limits all
// read this table, so there is exactly one place that says who may do what.

/** Account roles in the province registry. */
export const ROLES = ['device', 'console', 'dispatch', 'admin', 'approver', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];
/** People using the console; on the broker they only watch (WebSocket view), within their zone. */
export const HUMAN_ROLES = ['admin', 'approver', 'editor', 'viewer'] as const satisfies readonly Role[];

export type TopicKind = 'target' | 'status' | 'state' | 'telemetry' | 'chunk/req' | 'chunk/res' | 'log' | 'log/ack' | 'clock' | 'zone-emergency' | 'device-emergency' | 'zone-live' | 'time';

/**
 * Who may act on a topic. `own-device`: the device named in the topic (or, for
 * zone topics, a device whose zone lies in that subtree). `watch`: human
 * roles, restricted to devices inside their zone scope.
 */
export type Actor = Role | 'own-device' | 'watch';

export interface TopicContract {
  kind: TopicKind;
  pattern: string;
  direction: string;
  qos: 0 | 1;
  retained: boolean;
  publishers: readonly Actor[];
  subscribers: readonly Actor[];
  /** Schema of the payload (of the signed envelope's payload when `signed`). */
  schema: z.ZodType | null;
  signed: SignPurpose | null;
  /** Largest payload accepted, in bytes. */
  maxBytes: number;
  binary?: boolean;
  summary: string;
}

const KiB = 1024;

export const CONTRACT: readonly TopicContract[] = [
  { kind: 'target', pattern: 'loa/v1/d/{device}/target', direction: 'province → device', qos: 1, retained: true, publishers: ['console'], subscribers: ['own-device', 'console'], schema: P.TargetState, signed: 'target', maxBytes: 384 * KiB, summary: 'The signed target state: assets, programmes, rule profiles of the zone lineage, panel password hash.' },
  { kind: 'status', pattern: 'loa/v1/d/{device}/status', direction: 'device → province', qos: 1, retained: true, publishers: ['own-device'], subscribers: ['console', 'dispatch', 'watch'], schema: P.DeviceStatus, signed: null, maxBytes: 1 * KiB, summary: 'Online/offline; the offline message is the MQTT will.' },
  { kind: 'state', pattern: 'loa/v1/d/{device}/state', direction: 'device → province', qos: 1, retained: true, publishers: ['own-device'], subscribers: ['console', 'watch'], schema: P.DeviceState, signed: null, maxBytes: 4 * KiB, summary: 'Applied and received target versions, sync state, last error.' },
  { kind: 'telemetry', pattern: 'loa/v1/d/{device}/telemetry', direction: 'device → province', qos: 0, retained: false, publishers: ['own-device'], subscribers: ['console', 'watch'], schema: P.Telemetry, signed: null, maxBytes: 4 * KiB, summary: 'Heartbeat: what plays, volume, amplifier, disk, temperature, clock, link RTT.' },
  { kind: 'chunk/req', pattern: 'loa/v1/d/{device}/chunk/req', direction: 'device → province', qos: 1, retained: false, publishers: ['own-device'], subscribers: ['console'], schema: P.ChunkRequest, signed: null, maxBytes: 1 * KiB, summary: 'Request for one chunk of an asset; the next request acknowledges the previous chunk.' },
  { kind: 'chunk/res', pattern: 'loa/v1/d/{device}/chunk/res', direction: 'province → device', qos: 0, retained: false, publishers: ['console'], subscribers: ['own-device'], schema: P.ChunkHeader, signed: null, maxBytes: P.CHUNK_SIZE_MAX + 2 * KiB, binary: true, summary: 'One chunk: a length-prefixed JSON header, then the bytes. QoS 0: the broker never stores audio; the device asks again for what does not arrive.' },
  { kind: 'log', pattern: 'loa/v1/d/{device}/log', direction: 'device → province', qos: 1, retained: false, publishers: ['own-device'], subscribers: ['console', 'dispatch'], schema: P.LogBatch, signed: null, maxBytes: 256 * KiB, summary: 'A batch from the outbox: play-log entries, emergency acks, operator actions, metrics.' },
  { kind: 'log/ack', pattern: 'loa/v1/d/{device}/log/ack', direction: 'province → device', qos: 1, retained: false, publishers: ['console'], subscribers: ['own-device'], schema: P.LogAck, signed: null, maxBytes: 32 * KiB, summary: 'Keys of outbox records the province has stored; only these are deleted on the device.' },
  { kind: 'clock', pattern: 'loa/v1/d/{device}/clock', direction: 'province → device', qos: 0, retained: false, publishers: ['console'], subscribers: ['own-device'], schema: P.TimeBeacon, signed: 'time', maxBytes: 1 * KiB, summary: 'Signed time beacon answering the nonce of the device\'s status: the device knows it was made after it asked, so its time is fresh to within the round trip.' },
  { kind: 'zone-emergency', pattern: 'loa/v1/emergency/z/{zone path}', direction: 'dispatch → devices', qos: 1, retained: false, publishers: ['dispatch'], subscribers: ['own-device', 'console'], schema: P.EmergencyCommand, signed: 'emergency', maxBytes: 32 * KiB, summary: 'Signed emergency start or cancel for every device in the zone subtree.' },
  { kind: 'device-emergency', pattern: 'loa/v1/emergency/d/{device}', direction: 'dispatch → device', qos: 1, retained: false, publishers: ['dispatch'], subscribers: ['own-device', 'console'], schema: P.EmergencyCommand, signed: 'emergency', maxBytes: 32 * KiB, summary: 'Signed emergency start or cancel for one device.' },
  { kind: 'zone-live', pattern: 'loa/v1/live/z/{zone path}', direction: 'province → devices', qos: 1, retained: false, publishers: ['console'], subscribers: ['own-device'], schema: P.LiveControl, signed: 'live', maxBytes: 8 * KiB, summary: 'Live sessions of a zone subtree: signed JSON open/close (QoS 1) and binary Opus frame batches signed with the session key (QoS 0, protocol/live-frames.ts).' },
  { kind: 'time', pattern: 'loa/v1/time', direction: 'province → all', qos: 0, retained: false, publishers: ['console'], subscribers: ['device', 'console'], schema: P.TimeBeacon, signed: 'time', maxBytes: 1 * KiB, summary: 'Signed time beacon; never retained, since a retained time is a stale time.' },
];

const BY_KIND = new Map(CONTRACT.map((c) => [c.kind, c]));

export function contractFor(kind: TopicKind): TopicContract {
  const c = BY_KIND.get(kind);
  if (!c) throw new Error(`no contract row for ${kind}`);
  return c;
}

export function kindOf(parsed: ParsedTopic): TopicKind {
  return parsed.kind === 'device' ? parsed.sub : parsed.kind;
}
