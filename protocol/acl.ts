import { CONTRACT, HUMAN_ROLES, kindOf, type Actor, type Role, type TopicContract } from './contract.js';
import { parseTopic, filterWithin, type ParsedTopic } from './topics.js';
import { zoneContains } from './ids.js';

// Topic ACL decisions, pure: a principal and a topic in, allow or a reason
// out. Everything is derived from the contract table (./contract.ts), which
// docs/protocol.md documents; it lives here, beside the contract, because both
// `loa broker` (broker/server.ts) and the Mosquitto ACL file generator
// (provisioning/mosquitto.ts) read it.
//
// - A device acts only on topics that name it, on its zone lineage's zone
//   topics, and the time beacon; it subscribes to exact topics only.
// - Dispatch accounts (optionally scoped to a zone subtree) publish emergency
//   topics; nobody else does.
// - The console publishes target states, chunk responses, log acks, live
//   control and time; it alone may subscribe to wide filters such as `#`.
// - People (admin, approver, editor, viewer) may watch device status, state
//   and telemetry; forwarding drops what lies outside their zone.

export interface AclPrincipal {
  name: string;
  role: Role;
  /** A device's leaf zone, or an account's scope (null: whole province). */
  zone: string | null;
  /** Development only (`--allow-anonymous`): everything is allowed. */
  anonymous?: boolean;
}

export type Decision = { ok: true } | { ok: false; reason: string };

/** Finds the zone of a device by id, for scoped accounts. */
export type ZoneOfDevice = (deviceId: string) => string | null;

const ALLOW: Decision = { ok: true };
const deny = (reason: string): Decision => ({ ok: false, reason });
const isHuman = (r: Role): boolean => (HUMAN_ROLES as readonly string[]).includes(r);

/** The wildcard filter that covers every concrete topic of a contract row. */
export function rowFilter(c: TopicContract): string {
  return c.pattern.replace('{device}', '+').replace('{zone path}', '#');
}

function roleMatches(actors: readonly Actor[], p: AclPrincipal): boolean {
  return actors.includes(p.role) || (actors.includes('watch') && isHuman(p.role));
}

/** Does the principal's zone scope cover what the topic names? */
function inScope(p: AclPrincipal, t: ParsedTopic, zoneOf: ZoneOfDevice): boolean {
  if (p.zone === null) return true;
  switch (t.kind) {
    case 'zone-emergency':
    case 'zone-live':
      return zoneContains(p.zone, t.zone);
    case 'device':
    case 'device-emergency': {
      const z = zoneOf(t.deviceId);
      return z !== null && zoneContains(p.zone, z);
    }
    case 'time':
      return true;
  }
}

/** Is the device named by (or inside the zone of) this topic the principal itself? */
function ownsTopic(p: AclPrincipal, t: ParsedTopic): boolean {
  if (p.role !== 'device' || p.zone === null) return false;
  switch (t.kind) {
    case 'device':
    case 'device-emergency':
      return t.deviceId === p.name;
    case 'zone-emergency':
    case 'zone-live':
      // The topic's zone must be the device's zone or one of its ancestors.
      return zoneContains(t.zone, p.zone);
    case 'time':
      return false;
  }
}

export function canPublish(p: AclPrincipal, topic: string, retain: boolean, zoneOf: ZoneOfDevice): Decision {
  if (p.anonymous) return ALLOW;
  const t = parseTopic(topic);
  if (!t) return deny(`topic "${topic}" is not in the loa/v1 contract`);
  const c = CONTRACT.find((r) => r.kind === kindOf(t))!;
  if (retain && !c.retained) return deny(`retained messages are not allowed on ${c.kind} topics`);
  if (roleMatches(c.publishers, p) && !isHuman(p.role)) {
    return inScope(p, t, zoneOf) ? ALLOW : deny(`${c.kind} topic "${topic}" lies outside the account's zone ${p.zone}`);
  }
  if (c.publishers.includes('own-device') && ownsTopic(p, t)) return ALLOW;
  return deny(`${p.role} "${p.name}" may not publish ${c.kind} topic "${topic}"`);
}

export function canSubscribe(p: AclPrincipal, filter: string, zoneOf: ZoneOfDevice): Decision {
  if (p.anonymous) return ALLOW;
  if (p.role === 'console') return ALLOW;
  const wild = filter.includes('+') || filter.includes('#');
  if (p.role === 'device') {
    if (wild) return deny(`devices subscribe to exact topics only, not "${filter}"`);
    const t = parseTopic(filter);
    if (!t) return deny(`topic "${filter}" is not in the loa/v1 contract`);
    const c = CONTRACT.find((r) => r.kind === kindOf(t))!;
    if (c.subscribers.includes('device')) return ALLOW;
    if (c.subscribers.includes('own-device') && ownsTopic(p, t)) return ALLOW;
    return deny(`device "${p.name}" may not subscribe to ${c.kind} topic "${filter}"`);
  }
  // dispatch and people: the filter must lie inside a row they may read.
  for (const c of CONTRACT) {
    if (!roleMatches(c.subscribers, p)) continue;
    if (!filterWithin(filter, rowFilter(c))) continue;
    if (!wild) {
      const t = parseTopic(filter);
      if (t && !inScope(p, t, zoneOf)) return deny(`"${filter}" lies outside the account's zone ${p.zone}`);
    }
    return ALLOW;
  }
  return deny(`${p.role} "${p.name}" may not subscribe to "${filter}"`);
}

/**
 * Last check on each message about to be delivered: scoped accounts that
 * subscribed with a wildcard receive only what lies inside their zone.
 */
export function canReceive(p: AclPrincipal, topic: string, zoneOf: ZoneOfDevice): boolean {
  if (p.anonymous || p.role === 'console' || p.role === 'device' || p.zone === null) return true;
  const t = parseTopic(topic);
  return t !== null && inScope(p, t, zoneOf);
}
