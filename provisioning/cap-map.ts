import { z } from 'zod';
import { LoaError } from '../protocol/errors.js';
import { ZonePath, zoneContains } from '../protocol/ids.js';
import { capKey, capTimeMs, selectInfo, type CapAlert, type CapArea, type CapSeverity, type CapUrgency } from './cap-parse.js';

// What the console does with a CAP 1.2 alert (DESIGN.md "Emergency"). Pure:
// the current time comes in as `config.now`. The rules, checked in order:
//
//   1. status Draft                → refused  ("not to be acted on", §3.2.1)
//   2. status System               → no-audio (traffic between alerting systems)
//   3. msgType Ack or Error        → no-audio (answers to another message)
//   4. scope Restricted or Private → refused  (meant for named recipients;
//                                    a public loudspeaker would broadcast it)
//   5. msgType Cancel              → cancel of every alert in <references>
//   6. msgType Alert or Update     → dispatch from the chosen <info> (the first
//      Vietnamese one, else the first): refused when there is no <info>, when
//      it has expired, or when none of its areas maps to a zone. An Update is a
//      new dispatch that also lists the alerts it supersedes in `references`;
//      the console cancels or supersedes those (an Alert's references are
//      not passed on: only an Update supersedes).
//
// Mode: status Actual → actual, Exercise → exercise, Test → test.
//
// Level: disaster risk level 1–5 of QĐ 18/2021/QĐ-TTg, from severity ×
// urgency. Minor is always 1; Past (the event is over) is always 1; Unknown
// severity counts as Moderate; Unknown urgency as Expected. Certainty does not
// change the level.
//
//   severity \ urgency   Immediate  Expected  Future  Past  Unknown
//   Extreme                  5         4        3      1      4
//   Severe                   4         3        2      1      3
//   Moderate                 3         2        2      1      2
//   Unknown                  3         2        2      1      2
//   Minor                    1         1        1      1      1
//
// Zones: each area maps by its geocodes first; only an area none of whose
// geocodes is configured falls back to its areaDesc. A geocode matches when
// valueName is equal ignoring ASCII case and value is equal exactly. An
// areaDesc rule matches when its `match`, folded, occurs in the folded areaDesc
// as whole words; folding removes case and Vietnamese diacritics (đ → d) and
// turns punctuation into spaces. So "Ba Tô" matches "Xã Ba Tô, tỉnh Quảng Ngãi"
// and "XA BA TO", but not "Ba Tơn" — and it also matches "Ba Tơ": diacritics
// are gone, prefer geocodes where names collide. All matching rules apply.
// The zones are the union over the areas, in order, without duplicates and
// without a zone that lies below another one listed (an emergency to a zone
// reaches everything below it). Areas that map to nothing are named in
// `warnings`; when no area maps, the alert is refused naming them.
//
// Expiry: the <expires> of the chosen <info>, else <sent> + defaultExpiryMinutes
// (60 by default); refused when that is not after `now`.
//
// Text: title = headline (else event), NFC, whitespace collapsed, at most 200
// characters. ttsText = the same headline (uncut) + ". " + instruction, or +
// description when there is no instruction (no extra "." after a headline that
// ends in punctuation), NFC, at most 2000 characters (EmergencyContent tts).
// Cut text ends in "…" and adds a warning.

export const CapMapConfig = z.strictObject({
  areas: z.strictObject({
    geocode: z.array(z.strictObject({ valueName: z.string().min(1).max(100), value: z.string().min(1).max(100), zone: ZonePath })).max(10_000).default([]),
    areaDesc: z
      .array(z.strictObject({ match: z.string().max(200).refine((m) => foldName(m) !== '', 'must contain a letter or digit'), zone: ZonePath }))
      .max(10_000)
      .default([]),
  }),
  defaultExpiryMinutes: z.int().min(1).max(7 * 24 * 60).default(60),
  /** Milliseconds since the epoch. */
  now: z.number().int().min(0),
});
export type CapMapConfig = z.input<typeof CapMapConfig>;

export type CapMode = 'actual' | 'exercise' | 'test';
export type CapLevel = 1 | 2 | 3 | 4 | 5;

export type CapDecision =
  | {
      kind: 'dispatch';
      mode: CapMode;
      level: CapLevel;
      zones: string[];
      title: string;
      ttsText: string;
      /** ISO-8601 UTC ("…Z"), ready for EmergencyStart.expiresAt. */
      expiresAt: string;
      capKey: string;
      /** Keys of the alerts an Update supersedes; empty for an Alert. */
      references: string[];
      /** Unmapped areas and other things an operator should see before approving. */
      warnings: string[];
    }
  | { kind: 'cancel'; mode: CapMode; capKey: string; references: string[] }
  | { kind: 'no-audio'; capKey: string; reason: string }
  | { kind: 'refused'; capKey: string; reason: string };

export const MAX_TITLE = 200;
export const MAX_TTS = 2000;

const MODE: Record<'Actual' | 'Exercise' | 'Test', CapMode> = { Actual: 'actual', Exercise: 'exercise', Test: 'test' };

export const LEVEL_TABLE: Readonly<Record<CapSeverity, Readonly<Record<CapUrgency, CapLevel>>>> = {
  Extreme: { Immediate: 5, Expected: 4, Future: 3, Past: 1, Unknown: 4 },
  Severe: { Immediate: 4, Expected: 3, Future: 2, Past: 1, Unknown: 3 },
  Moderate: { Immediate: 3, Expected: 2, Future: 2, Past: 1, Unknown: 2 },
  Unknown: { Immediate: 3, Expected: 2, Future: 2, Past: 1, Unknown: 2 },
  Minor: { Immediate: 1, Expected: 1, Future: 1, Past: 1, Unknown: 1 },
};

export function capLevel(severity: CapSeverity, urgency: CapUrgency): CapLevel {
  return LEVEL_TABLE[severity][urgency];
}

/** Lower case, no diacritics (đ → d), punctuation as single spaces: "Xã Ba Tô, Quảng Ngãi" → "xa ba to quang ngai". */
export function foldName(s: string): string {
  return s
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .replace(/[đĐ]/g, 'd')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** NFC, control characters and runs of whitespace as one space, trimmed. */
function cleanText(s: string): string {
  return s
    .normalize('NFC')
    .replace(/[\s\u0000-\u001f\u007f]+/g, ' ')
    .trim();
}

function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = s.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut.trimEnd() + '…';
}

function joinSentences(a: string, b: string | undefined): string {
  if (!b) return a;
  return /[.!?…:;]$/.test(a) ? `${a} ${b}` : `${a}. ${b}`;
}

/** The configured rules, indexed: geocodes by "valuename\0value", name rules by their first folded word. */
interface AreaRules {
  geocode: Map<string, string[]>;
  areaDesc: Map<string, { folded: string; zone: string }[]>;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function indexRules(areas: { geocode: { valueName: string; value: string; zone: string }[]; areaDesc: { match: string; zone: string }[] }): AreaRules {
  const rules: AreaRules = { geocode: new Map(), areaDesc: new Map() };
  for (const r of areas.geocode) push(rules.geocode, `${r.valueName.toLowerCase()}\0${r.value}`, r.zone);
  for (const r of areas.areaDesc) {
    const folded = foldName(r.match);
    push(rules.areaDesc, folded.split(' ')[0]!, { folded, zone: r.zone });
  }
  return rules;
}

function zonesOf(area: CapArea, rules: AreaRules): string[] {
  const byCode = area.geocodes.flatMap((g) => rules.geocode.get(`${g.valueName.toLowerCase()}\0${g.value.trim()}`) ?? []);
  if (byCode.length) return byCode;
  const desc = ` ${foldName(area.areaDesc)} `;
  const zones: string[] = [];
  for (const word of new Set(desc.trim().split(' '))) {
    for (const r of rules.areaDesc.get(word) ?? []) if (desc.includes(` ${r.folded} `)) zones.push(r.zone);
  }
  return zones;
}

/** Distinct zones in order, dropping any that lies below another in the list. */
function coverZones(zones: string[]): string[] {
  const distinct = [...new Set(zones)];
  return distinct.filter((z) => !distinct.some((other) => other !== z && zoneContains(other, z)));
}

function describeArea(area: CapArea): string {
  const codes = area.geocodes.map((g) => `${g.valueName}=${g.value}`).join(', ');
  return codes ? `"${area.areaDesc}" (${codes})` : `"${area.areaDesc}"`;
}

/** Areas named in one reason or in warnings; an alert may list thousands. */
const MAX_LISTED = 20;

function listAreas(areas: CapArea[]): string {
  const named = areas.slice(0, MAX_LISTED).map(describeArea).join(', ');
  return areas.length > MAX_LISTED ? `${named} and ${areas.length - MAX_LISTED} more` : named;
}

export function mapCap(alert: CapAlert, rawConfig: CapMapConfig): CapDecision {
  const parsed = CapMapConfig.safeParse(rawConfig);
  if (!parsed.success) {
    throw new LoaError('LOA_E_CONFIG_INVALID', `CAP mapping config: ${z.prettifyError(parsed.error).replace(/\n\s*/g, ' ')}`, { context: { issues: parsed.error.issues.slice(0, 10) } });
  }
  const config = parsed.data;
  const key = capKey(alert);
  const refused = (reason: string): CapDecision => ({ kind: 'refused', capKey: key, reason });

  if (alert.status === 'Draft') return refused('status Draft: a draft is not to be acted on');
  if (alert.status === 'System') return { kind: 'no-audio', capKey: key, reason: 'status System: a message between alerting systems, not for the public' };
  if (alert.msgType === 'Ack' || alert.msgType === 'Error') return { kind: 'no-audio', capKey: key, reason: `msgType ${alert.msgType}: an answer to another message, nothing to announce` };
  if (alert.scope !== 'Public') return refused(`scope ${alert.scope}: meant for named recipients, not for public loudspeakers`);
  const mode = MODE[alert.status];
  const references = alert.references.map((r) => r.key);
  if (alert.msgType === 'Cancel') return { kind: 'cancel', mode, capKey: key, references };
  // Only an Update supersedes; <references> on a plain Alert (§3.2.1 allows it) cancels nothing.
  const supersedes = alert.msgType === 'Update' ? references : [];

  const info = selectInfo(alert);
  if (!info) return refused('no <info> block: nothing to announce');

  const sentMs = capTimeMs(alert.sent)!;
  const expiresMs = info.expires !== undefined ? capTimeMs(info.expires)! : sentMs + config.defaultExpiryMinutes * 60_000;
  const expiresAt = new Date(expiresMs).toISOString();
  if (expiresMs <= config.now) return refused(`expired at ${expiresAt} (${info.expires !== undefined ? '<expires>' : `<sent> + ${config.defaultExpiryMinutes} min`})`);

  if (!info.areas.length) return refused('the <info> names no <area>');
  const rules = indexRules(config.areas);
  const warnings: string[] = [];
  const mapped: string[] = [];
  const unmapped: CapArea[] = [];
  for (const area of info.areas) {
    const zones = zonesOf(area, rules);
    if (zones.length) mapped.push(...zones);
    else unmapped.push(area);
  }
  if (!mapped.length) return refused(`no area maps to a zone: ${listAreas(unmapped)}`);
  for (const area of unmapped.slice(0, MAX_LISTED)) warnings.push(`area ${describeArea(area)} maps to no zone`);
  if (unmapped.length > MAX_LISTED) warnings.push(`${unmapped.length - MAX_LISTED} more areas map to no zone`);

  if (!/^vi(?:-|$)/i.test(info.language)) warnings.push(`no Vietnamese <info>; announcing the ${info.language} one`);
  const head = cleanText(info.headline ?? '') || cleanText(info.event);
  if (!cleanText(info.headline ?? '')) warnings.push('no <headline>; the title is the <event>');
  const title = truncate(head, MAX_TITLE);
  if (title !== head) warnings.push(`headline cut to ${MAX_TITLE} characters for the title`);
  const body = cleanText(info.instruction ?? '') || cleanText(info.description ?? '');
  const fullTts = joinSentences(head, body || undefined);
  const ttsText = truncate(fullTts, MAX_TTS);
  if (ttsText !== fullTts) warnings.push(`spoken text cut to ${MAX_TTS} characters`);

  return {
    kind: 'dispatch',
    mode,
    level: capLevel(info.severity, info.urgency),
    zones: coverZones(mapped),
    title,
    ttsText,
    expiresAt,
    capKey: key,
    references: supersedes,
    warnings,
  };
}
