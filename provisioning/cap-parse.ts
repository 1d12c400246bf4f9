import { z } from 'zod';
import { capError, CAP12_NS, DEFAULT_MAX_CAP_BYTES, parseXmlTree, readSafeXml, rootNamespaceProblem, type XmlElement } from './cap-xml.js';

// CAP 1.2 (OASIS Common Alerting Protocol, 1 July 2010) read into a typed
// object. Section numbers below are those of the CAP 1.2 specification.
// The document is validated as strictly as the spec's schema: an unknown
// element in the CAP namespace is refused (as unknown fields are everywhere
// in Loa); elements in other namespaces (an enveloped <ds:Signature>, §3.3.2.1)
// are skipped. Element order is not enforced. Values are trimmed, otherwise
// kept as sent: `capKey` and <references> must match byte for byte.

/** §3.3.2: "2026-11-26T08:00:00+07:00"; a numeric offset is required, "Z" is not allowed, no fractions. */
const CAP_DATETIME_RE = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)([+-])(\d\d):(\d\d)$/;

export function capTimeMs(value: string): number | null {
  const m = CAP_DATETIME_RE.exec(value);
  if (!m) return null;
  const [y, mo, d, h, mi, s, sign, oh, om] = m.slice(1) as [string, string, string, string, string, string, string, string, string];
  const local = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s);
  const back = new Date(local);
  // Date.UTC rolls 2026-02-30 over into March; a real date survives the round trip.
  if (back.getUTCFullYear() !== +y || back.getUTCMonth() !== +mo - 1 || back.getUTCDate() !== +d || +h > 23 || +mi > 59 || +s > 59 || +oh > 14 || +om > 59) return null;
  return local - (sign === '-' ? -1 : 1) * (+oh * 60 + +om) * 60_000;
}

const CapDateTime = z.string().refine((s) => capTimeMs(s) !== null, 'must be a CAP dateTime with a numeric offset, e.g. 2026-11-26T08:00:00+07:00 (CAP 1.2 §3.3.2: no "Z", no fractions)');

/** §3.2.1: identifier and sender "MUST NOT include spaces, commas or restricted characters (< and &)". */
const ID_RE = /^[^\s,<&]{1,255}$/;
const CapId = z.string().regex(ID_RE, 'must be 1–255 characters without spaces, commas, "<" or "&" (CAP 1.2 §3.2.1)');

const Text = z.string().min(1, 'must not be empty');
/** An optional free-text element; an empty element counts as absent. */
const OptText = z
  .string()
  .optional()
  .transform((s) => (s === '' ? undefined : s));
const Decimal = z.string().regex(/^[+-]?\d+(?:\.\d+)?$/, 'must be a decimal number').transform(Number);
const Point = String.raw`[+-]?\d+(?:\.\d+)?,[+-]?\d+(?:\.\d+)?`;
const Polygon = z.string().regex(new RegExp(`^${Point}(?:\\s+${Point}){3,}$`), 'must be four or more "lat,lon" pairs separated by spaces (§3.2.4)');
const Circle = z.string().regex(new RegExp(`^${Point}\\s+\\d+(?:\\.\\d+)?$`), 'must be "lat,lon radius-km" (§3.2.4)');
const Language = z.string().regex(/^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$/, 'must be an RFC 3066 language tag such as vi-VN');

export const CAP_STATUS = ['Actual', 'Exercise', 'System', 'Test', 'Draft'] as const;
export const CAP_MSG_TYPE = ['Alert', 'Update', 'Cancel', 'Ack', 'Error'] as const;
export const CAP_SCOPE = ['Public', 'Restricted', 'Private'] as const;
export const CAP_CATEGORY = ['Geo', 'Met', 'Safety', 'Security', 'Rescue', 'Fire', 'Health', 'Env', 'Transport', 'Infra', 'CBRNE', 'Other'] as const;
export const CAP_RESPONSE_TYPE = ['Shelter', 'Evacuate', 'Prepare', 'Execute', 'Avoid', 'Monitor', 'Assess', 'AllClear', 'None'] as const;
export const CAP_URGENCY = ['Immediate', 'Expected', 'Future', 'Past', 'Unknown'] as const;
export const CAP_SEVERITY = ['Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown'] as const;
export const CAP_CERTAINTY = ['Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown'] as const;

export type CapStatus = (typeof CAP_STATUS)[number];
export type CapMsgType = (typeof CAP_MSG_TYPE)[number];
export type CapScope = (typeof CAP_SCOPE)[number];
export type CapUrgency = (typeof CAP_URGENCY)[number];
export type CapSeverity = (typeof CAP_SEVERITY)[number];

export interface CapValuePair {
  valueName: string;
  value: string;
}

export interface CapArea {
  areaDesc: string;
  polygons: string[];
  circles: string[];
  geocodes: CapValuePair[];
  altitude?: number;
  ceiling?: number;
}

export interface CapResource {
  resourceDesc: string;
  mimeType: string;
  size?: number;
  uri?: string;
  digest?: string;
}

export interface CapInfo {
  /** RFC 3066 tag; "en-US" when the element is absent (§3.2.2). */
  language: string;
  categories: (typeof CAP_CATEGORY)[number][];
  event: string;
  responseTypes: (typeof CAP_RESPONSE_TYPE)[number][];
  urgency: CapUrgency;
  severity: CapSeverity;
  certainty: (typeof CAP_CERTAINTY)[number];
  audience?: string;
  eventCodes: CapValuePair[];
  effective?: string;
  onset?: string;
  expires?: string;
  senderName?: string;
  headline?: string;
  description?: string;
  instruction?: string;
  web?: string;
  contact?: string;
  parameters: CapValuePair[];
  /** Listed, never fetched: the intake makes no network request. */
  resources: CapResource[];
  areas: CapArea[];
}

/** One entry of <references>: "sender,identifier,sent". */
export interface CapReference {
  sender: string;
  identifier: string;
  sent: string;
  /** The same triple joined again: the key of the referenced alert. */
  key: string;
}

export interface CapAlert {
  identifier: string;
  sender: string;
  /** As sent, with its offset. */
  sent: string;
  status: CapStatus;
  msgType: CapMsgType;
  source?: string;
  scope: CapScope;
  restriction?: string;
  addresses?: string;
  codes: string[];
  note?: string;
  references: CapReference[];
  incidents?: string;
  infos: CapInfo[];
}

const ValuePair = z.strictObject({ valueName: Text, value: z.string() });

const Area = z
  .strictObject({
    areaDesc: Text,
    polygon: z.array(Polygon).default([]),
    circle: z.array(Circle).default([]),
    geocode: z.array(ValuePair).default([]),
    altitude: Decimal.optional(),
    ceiling: Decimal.optional(),
  })
  .refine((a) => a.ceiling === undefined || a.altitude !== undefined, { message: '<ceiling> needs <altitude> (§3.2.4)', path: ['ceiling'] })
  .transform((a): CapArea => ({ areaDesc: a.areaDesc, polygons: a.polygon, circles: a.circle, geocodes: a.geocode, altitude: a.altitude, ceiling: a.ceiling }));

const Resource = z.strictObject({
  resourceDesc: Text,
  mimeType: Text,
  size: z.string().regex(/^\d{1,15}$/, 'must be a whole number of bytes').transform(Number).optional(),
  uri: OptText,
  derefUri: OptText,
  digest: OptText,
});

const Info = z
  .strictObject({
    language: Language.default('en-US'),
    category: z.array(z.enum(CAP_CATEGORY)).min(1, 'needs at least one <category>'),
    event: Text,
    responseType: z.array(z.enum(CAP_RESPONSE_TYPE)).default([]),
    urgency: z.enum(CAP_URGENCY),
    severity: z.enum(CAP_SEVERITY),
    certainty: z.enum(CAP_CERTAINTY),
    audience: OptText,
    eventCode: z.array(ValuePair).default([]),
    effective: CapDateTime.optional(),
    onset: CapDateTime.optional(),
    expires: CapDateTime.optional(),
    senderName: OptText,
    headline: OptText,
    description: OptText,
    instruction: OptText,
    web: OptText,
    contact: OptText,
    parameter: z.array(ValuePair).default([]),
    resource: z.array(Resource).default([]),
    area: z.array(Area).default([]),
  })
  .transform(
    (i): CapInfo => ({
      language: i.language,
      categories: i.category,
      event: i.event,
      responseTypes: i.responseType,
      urgency: i.urgency,
      severity: i.severity,
      certainty: i.certainty,
      audience: i.audience,
      eventCodes: i.eventCode,
      effective: i.effective,
      onset: i.onset,
      expires: i.expires,
      senderName: i.senderName,
      headline: i.headline,
      description: i.description,
      instruction: i.instruction,
      web: i.web,
      contact: i.contact,
      parameters: i.parameter,
      resources: i.resource.map((r) => ({ resourceDesc: r.resourceDesc, mimeType: r.mimeType, size: r.size, uri: r.uri ?? r.derefUri, digest: r.digest })),
      areas: i.area,
    }),
  );

const AlertXml = z
  .strictObject({
    identifier: CapId,
    sender: CapId,
    sent: CapDateTime,
    status: z.enum(CAP_STATUS),
    msgType: z.enum(CAP_MSG_TYPE),
    source: OptText,
    scope: z.enum(CAP_SCOPE),
    restriction: OptText,
    addresses: OptText,
    code: z.array(z.string()).default([]),
    note: OptText,
    references: OptText,
    incidents: OptText,
    info: z.array(Info).default([]),
  })
  .superRefine((a, ctx) => {
    if ((a.msgType === 'Update' || a.msgType === 'Cancel') && a.references === undefined) {
      ctx.addIssue({ code: 'custom', path: ['references'], message: `is required when msgType is ${a.msgType} (§3.2.1)` });
    }
    if (a.references !== undefined) {
      const bad = referenceProblem(a.references);
      if (bad) ctx.addIssue({ code: 'custom', path: ['references'], message: bad });
    }
    if (a.scope === 'Restricted' && a.restriction === undefined) ctx.addIssue({ code: 'custom', path: ['restriction'], message: 'is required when scope is Restricted (§3.2.1)' });
    if (a.scope === 'Private' && a.addresses === undefined) ctx.addIssue({ code: 'custom', path: ['addresses'], message: 'is required when scope is Private (§3.2.1)' });
  })
  .transform(
    (a): CapAlert => ({
      identifier: a.identifier,
      sender: a.sender,
      sent: a.sent,
      status: a.status,
      msgType: a.msgType,
      source: a.source,
      scope: a.scope,
      restriction: a.restriction,
      addresses: a.addresses,
      codes: a.code,
      note: a.note,
      references: a.references === undefined ? [] : parseReferences(a.references),
      incidents: a.incidents,
      infos: a.info,
    }),
  );

// ------------------------------------------------------------- references

/** The key of an alert: "sender,identifier,sent" exactly as in its <references> (§3.2.1). */
export function capKey(alert: { sender: string; identifier: string; sent: string }): string {
  return `${alert.sender},${alert.identifier},${alert.sent}`;
}

function referenceProblem(text: string): string | null {
  const entries = text.trim().split(/\s+/);
  for (const entry of entries) {
    const parts = entry.split(',');
    if (parts.length !== 3) return `entry "${entry}" is not a "sender,identifier,sent" triple`;
    const [sender, identifier, sent] = parts as [string, string, string];
    if (!ID_RE.test(sender) || !ID_RE.test(identifier)) return `entry "${entry}" has an empty or malformed sender or identifier`;
    if (capTimeMs(sent) === null) return `entry "${entry}" has a sent time that is not a CAP dateTime with an offset`;
  }
  return entries.length > 100 ? `lists ${entries.length} alerts; at most 100 are accepted` : null;
}

/**
 * Parses a <references> value: "sender,identifier,sent" triples separated by
 * whitespace (§3.2.1). Duplicates are dropped, order is kept.
 */
export function parseReferences(text: string): CapReference[] {
  const bad = referenceProblem(text);
  if (bad) throw capError('schema', `CAP references ${bad}`, { field: 'references' });
  const seen = new Map<string, CapReference>();
  for (const entry of text.trim().split(/\s+/)) {
    const [sender, identifier, sent] = entry.split(',') as [string, string, string];
    if (!seen.has(entry)) seen.set(entry, { sender, identifier, sent, key: entry });
  }
  return [...seen.values()];
}

// ------------------------------------------------------------- element tree → plain values

const REPEATABLE = new Set(['code', 'info', 'category', 'responseType', 'eventCode', 'parameter', 'resource', 'area', 'polygon', 'circle', 'geocode']);
const COMPLEX = new Set(['alert', 'info', 'eventCode', 'parameter', 'resource', 'area', 'geocode']);

function toPlain(el: XmlElement, path: string): unknown {
  if (!COMPLEX.has(el.local)) {
    const inner = el.children.find((c) => c.ns === CAP12_NS);
    if (inner) throw capError('schema', `CAP alert is invalid: ${path} must be text, found <${inner.local}> inside it`, { field: path });
    return el.text.trim();
  }
  const out: Record<string, unknown> = {};
  const counts = new Map<string, number>();
  for (const child of el.children) {
    if (child.ns !== CAP12_NS) continue; // another namespace: an extension or a <ds:Signature>, not ours to read
    const n = counts.get(child.local) ?? 0;
    counts.set(child.local, n + 1);
    const childPath = path === 'alert' ? child.local : `${path}.${child.local}`;
    if (REPEATABLE.has(child.local)) {
      const list = (out[child.local] ??= []) as unknown[];
      list.push(toPlain(child, `${childPath}[${n}]`));
    } else if (n > 0) {
      throw capError('schema', `CAP alert is invalid: <${child.local}> appears more than once in ${path}`, { field: childPath });
    } else out[child.local] = toPlain(child, childPath);
  }
  return out;
}

function formatPath(path: PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path);
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) return `${where} is required`;
  if (issue.code === 'unrecognized_keys') return `${where || 'alert'} has unknown CAP 1.2 element${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `<${k}>`).join(', ')}`;
  if (issue.code === 'invalid_value' && 'values' in issue) return `${where} must be one of ${issue.values.map(String).join(', ')}`;
  // Custom messages of this file read on from the field name ("references is required when …").
  if (issue.code === 'custom' && /^is /.test(issue.message)) return `${where} ${issue.message}`;
  return `${where || 'alert'}: ${issue.message}`;
}

export interface ParseCapOptions {
  /** Refused above this many bytes; 256 KiB by default. */
  maxBytes?: number;
}

/**
 * Reads a CAP 1.2 alert. Throws a LoaError (LOA_E_PAYLOAD_TOO_LARGE or
 * LOA_E_PAYLOAD_SCHEMA, with `context.capError` saying which check failed)
 * whose message names what is wrong; never fetches anything.
 */
export function parseCap(xml: string | Buffer, opts: ParseCapOptions = {}): CapAlert {
  const text = readSafeXml(xml, opts.maxBytes ?? DEFAULT_MAX_CAP_BYTES);
  const root = parseXmlTree(text);
  const nsProblem = rootNamespaceProblem(root);
  if (nsProblem) throw capError('namespace', nsProblem, { ns: root.ns, root: root.local });
  const r = AlertXml.safeParse(toPlain(root, 'alert'));
  if (!r.success) {
    const problems = r.error.issues.slice(0, 10).map(describeIssue);
    throw capError('schema', `CAP alert is invalid: ${problems.join('; ')}`, { problems, fields: r.error.issues.slice(0, 10).map((i) => formatPath(i.path)) });
  }
  return r.data;
}

/** The <info> to announce: the first in Vietnamese (language "vi" or "vi-…", any case), else the first (§3.2.2 allows one per language). */
export function selectInfo(alert: CapAlert): CapInfo | undefined {
  return alert.infos.find((i) => /^vi(?:-|$)/i.test(i.language)) ?? alert.infos[0];
}
