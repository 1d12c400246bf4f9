import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { LoaError } from '../protocol/errors.js';

// The XML half of the CAP intake: bytes in, a namespace-resolved element tree
// out, with nothing fetched and nothing expanded on the way.
//
// INVARIANT: no DTD ever reaches the parser. A document with a DOCTYPE, an
// ENTITY (or any other markup) declaration, a processing instruction other
// than the leading XML declaration, or an XInclude is refused by a linear scan
// of the text *before* fast-xml-parser sees it, so external entities (XXE:
// SYSTEM "file:///etc/passwd") and entity expansion ("billion laughs") cannot
// happen. The parser also runs with processEntities off; the five predefined
// XML entities and character references are decoded here, one pass, without
// recursion. Anything else written `&name;` is an undeclared entity and refused.

export const CAP12_NS = 'urn:oasis:names:tc:emergency:cap:1.2';
const OLDER_CAP_NS: Record<string, string> = {
  'urn:oasis:names:tc:emergency:cap:1.1': 'CAP 1.1',
  'http://www.incident.com/cap/1.0': 'CAP 1.0',
};
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XINCLUDE_NS = 'http://www.w3.org/2001/XInclude';

export const DEFAULT_MAX_CAP_BYTES = 256 * 1024;

/** Why a document was refused; carried as `context.capError` so the console can answer 413 / 400 without new codes. */
export type CapErrorKind = 'too-large' | 'unsafe' | 'not-xml' | 'namespace' | 'schema';

export function capError(kind: CapErrorKind, message: string, context: Record<string, unknown> = {}, cause?: unknown): LoaError {
  const code = kind === 'too-large' ? 'LOA_E_PAYLOAD_TOO_LARGE' : 'LOA_E_PAYLOAD_SCHEMA';
  return new LoaError(code, message, { context: { capError: kind, ...context }, cause });
}

export interface XmlElement {
  /** Namespace URI, or null for an element in no namespace. */
  ns: string | null;
  local: string;
  /** Character data directly inside the element (text and CDATA), entities decoded, untrimmed. */
  text: string;
  children: XmlElement[];
}

/** Size cap, UTF-8 decoding and the pre-parse guard; returns text that is safe to parse. */
export function readSafeXml(input: string | Buffer, maxBytes: number): string {
  const bytes = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (bytes > maxBytes) throw capError('too-large', `CAP document of ${bytes} bytes exceeds the ${maxBytes}-byte limit`, { bytes, maxBytes });
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    if ((input[0] === 0xfe && input[1] === 0xff) || (input[0] === 0xff && input[1] === 0xfe)) {
      throw capError('not-xml', 'CAP document is UTF-16; only UTF-8 is accepted');
    }
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch (e) {
      throw capError('not-xml', 'CAP document is not valid UTF-8', {}, e);
    }
  }
  // XML 1.0 §2.11: line ends are normalised before parsing. Whitespace before
  // the XML declaration is not well-formed but common in HTTP bodies; it is dropped.
  text = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').trimStart();
  guard(text);
  return text;
}

function guard(text: string): void {
  // Blunt on purpose: these words are refused wherever they appear, even in a
  // comment or CDATA, so no disagreement between this scan and the parser
  // about where markup starts can let a DTD through.
  const found: string[] = [];
  if (/<!DOCTYPE/i.test(text)) found.push('a DOCTYPE declaration');
  if (/<!ENTITY/i.test(text)) found.push('an ENTITY declaration');
  if (found.length) {
    const ext = /\b(SYSTEM|PUBLIC)\s+(["'])([^"']{0,200})\2/.exec(text);
    if (ext) found.push(`an external reference (${ext[1]} "${ext[3]}")`);
  }
  if (text.includes(XINCLUDE_NS)) found.push(`an external reference (XInclude, ${XINCLUDE_NS})`);
  if (found.length) throw unsafe(found);

  const ctl = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.exec(text);
  if (ctl) throw capError('not-xml', `CAP document is not well-formed XML: control character U+${ctl[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()} at offset ${ctl.index}`);

  // Every '<' opens markup ('<' is not allowed raw in text or attribute
  // values, XML 1.0 §2.4 and §3.1), so walking them finds every comment, CDATA
  // section, declaration and processing instruction. Tags are skipped whole,
  // quotes respected, so an attribute value cannot fake a comment.
  for (let i = text.indexOf('<'); i >= 0; i = text.indexOf('<', i + 1)) {
    const next = text[i + 1];
    if (next !== '!' && next !== '?') {
      i = skipTag(text, i);
    } else if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      if (end < 0) throw capError('not-xml', 'CAP document is not well-formed XML: unterminated comment');
      i = end + 2;
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i + 9);
      if (end < 0) throw capError('not-xml', 'CAP document is not well-formed XML: unterminated CDATA section');
      i = end + 2;
    } else if (text.startsWith('<!', i)) {
      throw unsafe([`a markup declaration (${text.slice(i, i + 12).split(/\s/)[0]}…)`]);
    } else if (text.startsWith('<?', i)) {
      if (i === 0 && /^<\?xml[\s?]/.test(text)) {
        const end = text.indexOf('?>');
        if (end < 0) throw capError('not-xml', 'CAP document is not well-formed XML: unterminated XML declaration');
        checkDeclaration(text.slice(0, end + 2));
        i = end + 1;
      } else {
        const target = /^<\?([^\s?]*)/.exec(text.slice(i, i + 64))?.[1] ?? '';
        throw unsafe([`a processing instruction (<?${target}?>); only the XML declaration at the very start is allowed`]);
      }
    }
  }
}

/** Index of the '>' closing the tag that starts at `start`. */
function skipTag(text: string, start: number): number {
  let quote = '';
  for (let j = start + 1; j < text.length; j++) {
    const c = text[j]!;
    if (quote) {
      if (c === quote) quote = '';
      else if (c === '<') throw capError('not-xml', `CAP document is not well-formed XML: "<" inside an attribute value at offset ${j}`);
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '>') return j;
    else if (c === '<') throw capError('not-xml', `CAP document is not well-formed XML: "<" inside a tag at offset ${j}`);
  }
  throw capError('not-xml', 'CAP document is not well-formed XML: unterminated tag');
}

function unsafe(found: string[]): LoaError {
  const list = found.length > 1 ? `${found.slice(0, -1).join(', ')} and ${found.at(-1)}` : found[0];
  return capError(
    'unsafe',
    `CAP document refused before parsing (XXE / billion-laughs protection): it contains ${list}; DTDs, entity declarations, processing instructions and external references are never processed`,
    { found },
  );
}

function checkDeclaration(decl: string): void {
  const version = /\sversion\s*=\s*(["'])([^"']*)\1/.exec(decl)?.[2];
  if (version !== '1.0') throw capError('not-xml', `CAP document declares XML version ${version ?? '(none)'}; only 1.0 is accepted`);
  const encoding = /\sencoding\s*=\s*(["'])([^"']*)\1/.exec(decl)?.[2];
  if (encoding !== undefined && !/^(utf-8|us-ascii)$/i.test(encoding)) {
    throw capError('not-xml', `CAP document declares encoding ${encoding}; only UTF-8 is accepted`);
  }
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  allowBooleanAttributes: false,
  removeNSPrefix: false,
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: '#cdata',
  commentPropName: false,
  // A CAP alert is five levels deep (alert/info/area/geocode/value).
  maxNestedTags: 16,
});

type Ordered = Record<string, unknown>;

/** Parses text that passed `readSafeXml` into one root element with namespaces resolved. */
export function parseXmlTree(text: string): XmlElement {
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) {
    throw capError('not-xml', `CAP document is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`, { line: valid.err.line, col: valid.err.col });
  }
  let nodes: Ordered[];
  try {
    nodes = parser.parse(text) as Ordered[];
  } catch (e) {
    throw capError('not-xml', `CAP document is not well-formed XML: ${(e as Error).message}`, {}, e);
  }
  const roots = nodes.filter((n) => elementName(n) !== null);
  const strayText = nodes.some((n) => typeof n['#text'] === 'string' && n['#text'].trim() !== '');
  if (roots.length !== 1 || strayText) throw capError('not-xml', `CAP document must have exactly one root element (found ${roots.length}${strayText ? ' and text outside it' : ''})`);
  return toElement(roots[0]!, { xml: XML_NS });
}

function elementName(n: Ordered): string | null {
  for (const k of Object.keys(n)) if (k !== ':@' && !k.startsWith('#') && !k.startsWith('?')) return k;
  return null;
}

function toElement(node: Ordered, inherited: Record<string, string>): XmlElement {
  const qname = elementName(node)!;
  const attrs = (node[':@'] ?? {}) as Record<string, string>;
  const scope = { ...inherited };
  for (const [k, raw] of Object.entries(attrs)) {
    const v = decodeXmlText(raw); // every value, so an undeclared entity is refused wherever it is
    if (k === '@_xmlns') scope[''] = v;
    else if (k.startsWith('@_xmlns:')) scope[k.slice(8)] = v;
  }
  const colon = qname.indexOf(':');
  const prefix = colon < 0 ? '' : qname.slice(0, colon);
  const local = colon < 0 ? qname : qname.slice(colon + 1);
  const ns = scope[prefix];
  if (prefix !== '' && ns === undefined) throw capError('not-xml', `CAP document uses the namespace prefix "${prefix}" (<${qname}>) without declaring it`);
  const el: XmlElement = { ns: ns ? ns : null, local, text: '', children: [] };
  for (const child of (node[qname] ?? []) as Ordered[]) {
    if (typeof child['#text'] === 'string') el.text += decodeXmlText(child['#text']);
    else if (Array.isArray(child['#cdata'])) {
      for (const c of child['#cdata'] as Ordered[]) if (typeof c['#text'] === 'string') el.text += c['#text'];
    } else if (elementName(child) !== null) el.children.push(toElement(child, scope));
  }
  return el;
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** One pass over `&…;` references: the five predefined entities and character references, nothing else. */
export function decodeXmlText(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&<\s]{0,32})(;?)/g, (all, name: string, semi: string) => {
    if (!semi) throw capError('not-xml', `CAP document is not well-formed XML: "&" must be written &amp; (near "${all}")`);
    const predefined = PREDEFINED[name];
    if (predefined !== undefined) return predefined;
    const num = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(name);
    if (num) {
      const cp = num[1] !== undefined ? parseInt(num[1], 16) : parseInt(num[2]!, 10);
      const ok = cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
      if (!ok) throw capError('not-xml', `CAP document is not well-formed XML: &${name}; is not an allowed character`);
      return String.fromCodePoint(cp);
    }
    throw capError('unsafe', `CAP document refers to the undeclared entity &${name};; without a DTD only &amp; &lt; &gt; &quot; &apos; and character references are allowed`, { found: [`entity reference &${name};`] });
  });
}

/** Names the namespace problem of a root element, or returns null when it is a CAP 1.2 <alert>. */
export function rootNamespaceProblem(root: XmlElement): string | null {
  if (root.local === 'alert' && root.ns === CAP12_NS) return null;
  const older = root.ns ? OLDER_CAP_NS[root.ns] : undefined;
  if (older) return `CAP document is ${older} (namespace ${root.ns}); only CAP 1.2 (${CAP12_NS}) is accepted`;
  return `CAP document root must be <alert> in the namespace ${CAP12_NS}; found <${root.local}> in ${root.ns ? `the namespace ${root.ns}` : 'no namespace'}`;
}
