import { isZonePath, SLUG_RE, zoneLineage } from './ids.js';

// The loa/v1 topic namespace. One builder per topic; `parseTopic` is its exact
// inverse and is what the broker's ACL and both sides' routers use, so a topic
// that no builder can produce is never authorised or handled.
//
// Device topics put the device id at a fixed level (loa/v1/d/<id>/...), so an
// ACL can match it without parsing payloads. Zone topics put the kind before
// the zone path (loa/v1/emergency/z/<zone path>), so zone paths of any depth
// never collide with a kind name and a device subscribes to exact topics for
// its zone and each ancestor, never a wildcard.

export const ROOT = 'loa/v1';

/** Deepest topic the contract produces: loa/v1/emergency/z/ + 8 zone levels. */
export const MAX_TOPIC_LEVELS = 4 + 8;

export const topics = {
  /** console → device, retained, QoS1: the signed target state. */
  target: (deviceId: string) => `${ROOT}/d/${deviceId}/target`,
  /** device → all, retained, QoS1: online/offline (offline is the will). */
  status: (deviceId: string) => `${ROOT}/d/${deviceId}/status`,
  /** device → console, retained, QoS1: applied target version and sync state. */
  state: (deviceId: string) => `${ROOT}/d/${deviceId}/state`,
  /** device → console, QoS0: heartbeat. */
  telemetry: (deviceId: string) => `${ROOT}/d/${deviceId}/telemetry`,
  /** device → console, QoS1: asset chunk requests. */
  chunkRequest: (deviceId: string) => `${ROOT}/d/${deviceId}/chunk/req`,
  /** console → device, QoS1: asset chunk responses (binary frame). */
  chunkResponse: (deviceId: string) => `${ROOT}/d/${deviceId}/chunk/res`,
  /** device → console, QoS1: a batch from the outbox (play log, emergency acks, operator actions). */
  log: (deviceId: string) => `${ROOT}/d/${deviceId}/log`,
  /** console → device, QoS1: which outbox records the province has stored. */
  logAck: (deviceId: string) => `${ROOT}/d/${deviceId}/log/ack`,
  /** dispatch → devices of a zone subtree, QoS1: signed emergency start and cancel. */
  zoneEmergency: (zonePath: string) => `${ROOT}/emergency/z/${zonePath}`,
  /** dispatch → one device, QoS1: signed emergency start and cancel. */
  deviceEmergency: (deviceId: string) => `${ROOT}/emergency/d/${deviceId}`,
  /** console → devices of a zone subtree, QoS1: signed live relay start/stop. */
  zoneLive: (zonePath: string) => `${ROOT}/live/z/${zonePath}`,
  /** console → all, QoS0, never retained: signed time beacon. */
  time: () => `${ROOT}/time`,
  /** console → one device, QoS0, never retained: signed time beacon answering the nonce of its status. */
  deviceClock: (deviceId: string) => `${ROOT}/d/${deviceId}/clock`,
} as const;

export type DeviceTopicKind = 'target' | 'status' | 'state' | 'telemetry' | 'chunk/req' | 'chunk/res' | 'log' | 'log/ack' | 'clock';

export type ParsedTopic =
  | { kind: 'device'; deviceId: string; sub: DeviceTopicKind }
  | { kind: 'zone-emergency'; zone: string }
  | { kind: 'device-emergency'; deviceId: string }
  | { kind: 'zone-live'; zone: string }
  | { kind: 'time' };

const DEVICE_SUBS = new Set<string>(['target', 'status', 'state', 'telemetry', 'chunk/req', 'chunk/res', 'log', 'log/ack', 'clock']);

/** Parses a concrete topic name (no wildcards); null when it is not in the contract. */
export function parseTopic(topic: string): ParsedTopic | null {
  if (!topic.startsWith(ROOT + '/')) return null;
  const rest = topic.slice(ROOT.length + 1);
  if (rest === 'time') return { kind: 'time' };
  const parts = rest.split('/');
  if (parts[0] === 'd' && parts.length >= 3) {
    const id = parts[1]!;
    const sub = parts.slice(2).join('/');
    if (SLUG_RE.test(id) && DEVICE_SUBS.has(sub)) return { kind: 'device', deviceId: id, sub: sub as DeviceTopicKind };
    return null;
  }
  if ((parts[0] === 'emergency' || parts[0] === 'live') && parts[1] === 'z') {
    const zone = parts.slice(2).join('/');
    if (!isZonePath(zone)) return null;
    return parts[0] === 'emergency' ? { kind: 'zone-emergency', zone } : { kind: 'zone-live', zone };
  }
  if (parts[0] === 'emergency' && parts[1] === 'd' && parts.length === 3 && SLUG_RE.test(parts[2]!)) {
    return { kind: 'device-emergency', deviceId: parts[2]! };
  }
  return null;
}

/** Every topic a device subscribes to: its own inbound topics, its zone lineage's emergency and live topics, the time beacon. */
export function deviceSubscriptions(deviceId: string, zonePath: string): string[] {
  const lineage = zoneLineage(zonePath);
  return [
    topics.target(deviceId),
    topics.chunkResponse(deviceId),
    topics.logAck(deviceId),
    topics.deviceClock(deviceId),
    topics.deviceEmergency(deviceId),
    ...lineage.map((z) => topics.zoneEmergency(z)),
    ...lineage.map((z) => topics.zoneLive(z)),
    topics.time(),
  ];
}

/** Topics a device publishes to. Only status and state may be retained. */
export function devicePublications(deviceId: string): { topic: string; retain: boolean }[] {
  return [
    { topic: topics.status(deviceId), retain: true },
    { topic: topics.state(deviceId), retain: true },
    { topic: topics.telemetry(deviceId), retain: false },
    { topic: topics.chunkRequest(deviceId), retain: false },
    { topic: topics.log(deviceId), retain: false },
  ];
}

/**
 * MQTT topic filter matching (MQTT-4.7): `+` matches one level, `#` the rest
 * including the parent level. Used for ACL decisions on subscriptions.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** True when every topic the filter can match also matches `outer` (filter ⊆ outer). */
export function filterWithin(filter: string, outer: string): boolean {
  const f = filter.split('/');
  const o = outer.split('/');
  for (let i = 0; i < f.length; i++) {
    const oi = o[i];
    if (oi === '#') return true;
    if (oi === undefined) return false;
    const fi = f[i]!;
    if (fi === '#') return false;
    if (oi === '+') continue;
    if (fi === '+' || fi !== oi) return false;
  }
  return f.length === o.length || (o.length === f.length + 1 && o[f.length] === '#');
}
