import { z } from 'zod';
import { LoaError } from './errors.js';

// Identifiers end up inside MQTT topic names, file names and SQL rows, so they
// are ASCII slugs. Names people read (zone names, titles) are free Unicode
// text kept in NFC; identifiers are not.

/** Device ids and account names: lower-case ASCII slug, 1–64 characters. */
export const SLUG_RE = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

/** Deepest zone tree accepted (province → … → village leaves room to spare). */
export const MAX_ZONE_DEPTH = 8;

export const Slug = z.string().regex(SLUG_RE, 'must be a lower-case ASCII slug: a-z, 0-9 and inner dashes, 1–64 characters');

export const ZonePath = z
  .string()
  .min(1)
  .max(MAX_ZONE_DEPTH * 65)
  .refine((p) => isZonePath(p), `must be 1–${MAX_ZONE_DEPTH} slugs joined by "/", e.g. quang-ngai/dak-ha/thon-3`);

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits');

export function isZonePath(path: string): boolean {
  const parts = path.split('/');
  return parts.length >= 1 && parts.length <= MAX_ZONE_DEPTH && parts.every((s) => SLUG_RE.test(s));
}

export function assertZonePath(path: string): string {
  if (!isZonePath(path)) {
    throw new LoaError('LOA_E_ZONE_PATH_INVALID', `zone path "${path}" is not 1–${MAX_ZONE_DEPTH} lower-case ASCII slugs joined by "/" (e.g. quang-ngai/dak-ha/thon-3)`, { context: { path } });
  }
  return path;
}

export function assertSlug(kind: string, id: string): string {
  if (!SLUG_RE.test(id)) {
    throw new LoaError('LOA_E_ID_INVALID', `${kind} "${id}" is not a lower-case ASCII slug (a-z, 0-9, inner dashes, 1–64 characters)`, { context: { kind, id } });
  }
  return id;
}

/** The zone itself and every ancestor, root first: a/b/c → [a, a/b, a/b/c]. */
export function zoneLineage(path: string): string[] {
  const parts = path.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

export function parentZone(path: string): string | null {
  const i = path.lastIndexOf('/');
  return i < 0 ? null : path.slice(0, i);
}

/** True when `path` is `ancestor` or lies below it. */
export function zoneContains(ancestor: string, path: string): boolean {
  return path === ancestor || path.startsWith(ancestor + '/');
}

/**
 * MQTT client ids and usernames that the broker refuses before any lookup:
 * wildcard and level separators would let an id escape its topic subtree
 * (MQTT-4.7.1), and NUL is forbidden in UTF-8 strings (MQTT-1.5.3-2).
 */
export function hasForbiddenIdChars(id: string): boolean {
  return /[+#/\u0000]/.test(id);
}
