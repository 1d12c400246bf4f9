import { z } from 'zod';
import { CONTRACT, type Actor, type TopicContract } from './contract.js';
import { MAX_ZONE_DEPTH } from './ids.js';

// Renders the contract table and every payload schema as Markdown, so
// docs/protocol.md is generated from the code it documents (scripts/gen-docs.js
// writes it; a test fails when the two drift apart).

type Js = {
  type?: string | string[];
  properties?: Record<string, Js>;
  required?: string[];
  items?: Js;
  oneOf?: Js[];
  anyOf?: Js[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  default?: unknown;
};

const ACTOR_LABEL: Record<Actor, string> = {
  'own-device': 'the device itself',
  watch: 'people (admin, approver, editor, viewer) within their zone',
  device: 'any device',
  console: 'console',
  dispatch: 'dispatch',
  admin: 'admin',
  approver: 'approver',
  editor: 'editor',
  viewer: 'viewer',
};

function typeOf(s: Js): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((e) => `\`${JSON.stringify(e)}\``).join(' \\| ');
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map(typeOf).join(' or ');
  const t = Array.isArray(s.type) ? s.type.join(' or ') : s.type;
  if (t === 'string') {
    if (s.format === 'uuid') return 'uuid';
    if (s.format === 'date-time') return 'instant (ISO-8601 UTC)';
    if (s.format === 'date') return 'local date YYYY-MM-DD';
    if (s.format === 'uri') return 'URL';
    if (s.pattern === '^[0-9a-f]{64}$') return 'sha256 (hex)';
    if (s.pattern?.startsWith('^(?:[01]\\d|2[0-3])')) return 'local time HH:MM';
    if (s.pattern?.startsWith('^[a-z0-9](?:')) return 'slug';
    if (s.maxLength === MAX_ZONE_DEPTH * 65) return 'zone path';
    const len = s.maxLength !== undefined ? ` ≤ ${s.maxLength} chars` : '';
    return `string${len}`;
  }
  if (t === 'integer' || t === 'number') {
    const max = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
    const range = s.minimum !== undefined && max !== undefined ? ` ${s.minimum}–${max}` : s.minimum !== undefined ? ` ≥ ${s.minimum}` : '';
    return `${t}${range}`;
  }
  if (t === 'array') return `array${s.maxItems !== undefined ? ` (≤ ${s.maxItems})` : ''} of ${s.items ? typeOf(s.items) : 'any'}`;
  if (t === 'object') return 'object';
  return t ?? 'any';
}

function rows(s: Js, path: string, required: boolean, out: string[][]): void {
  const alts = s.oneOf ?? s.anyOf;
  if (alts && alts.every((a) => a.type === 'object')) {
    for (const a of alts) {
      const disc = Object.entries(a.properties ?? {}).find(([, p]) => p.const !== undefined);
      const label = disc ? `${path ? path + ' ' : ''}(when ${disc[0]} = ${JSON.stringify(disc[1].const)})` : `${path} (variant)`;
      out.push([label, 'object', required ? 'yes' : 'no']);
      for (const [k, p] of Object.entries(a.properties ?? {})) rows(p, `${path ? path + '.' : ''}${k}`, (a.required ?? []).includes(k), out);
    }
    return;
  }
  if (path) out.push([path, typeOf(s), required ? 'yes' : 'no']);
  if (s.type === 'object' && s.properties) {
    for (const [k, p] of Object.entries(s.properties)) rows(p, `${path ? path + '.' : ''}${k}`, (s.required ?? []).includes(k), out);
  }
  if (s.type === 'array' && s.items?.type === 'object' && s.items.properties) {
    for (const [k, p] of Object.entries(s.items.properties)) rows(p, `${path}[].${k}`, (s.items.required ?? []).includes(k), out);
  }
}

export function payloadFields(schema: z.ZodType): string[][] {
  const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Js;
  const out: string[][] = [];
  rows(js, '', true, out);
  return out;
}

function table(head: string[], body: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...body.map((r) => `| ${r.map((c) => c.replace(/\|(?!\s)/g, '\\|')).join(' | ')} |`)].join('\n');
}

export function topicTable(): string {
  return table(
    ['topic', 'direction', 'QoS', 'retained', 'publishers', 'subscribers'],
    CONTRACT.map((c) => [`\`${c.pattern}\``, c.direction, String(c.qos), c.retained ? 'yes' : 'no', c.publishers.map((a) => ACTOR_LABEL[a]).join(', '), c.subscribers.map((a) => ACTOR_LABEL[a]).join(', ')]),
  );
}

function section(c: TopicContract): string {
  const lines = [`### \`${c.pattern}\``, '', c.summary, ''];
  lines.push(`- Direction: ${c.direction}; QoS ${c.qos}; ${c.retained ? 'retained' : 'never retained'}.`);
  lines.push(`- Publishers: ${c.publishers.map((a) => ACTOR_LABEL[a]).join(', ')}. Subscribers: ${c.subscribers.map((a) => ACTOR_LABEL[a]).join(', ')}.`);
  lines.push(`- Largest payload: ${c.maxBytes} bytes${c.binary ? ' (binary frame: u16 big-endian header length, JSON header, then the chunk bytes)' : ''}.`);
  if (c.signed) lines.push(`- Signed: the payload travels as \`{ "payload": …, "kid": …, "sig": … }\`, an Ed25519 signature over \`loa/v1/${c.signed}\\n\` + the canonical JSON of \`payload\`.`);
  if (c.schema) {
    lines.push('', `${c.binary ? 'Header' : c.signed ? 'Fields of `payload`' : 'Fields'}:`, '', table(['field', 'type', 'required'], payloadFields(c.schema)));
  }
  return lines.join('\n');
}

export function contractMarkdown(): string {
  return [topicTable(), '', ...CONTRACT.map(section).flatMap((s) => [s, ''])].join('\n').trimEnd() + '\n';
}
