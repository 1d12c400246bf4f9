import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { thrownCode } from '../helpers/errors.js';
import { capLevel, foldName, LEVEL_TABLE, mapCap, parseCap, parseReferences, type CapMapConfig } from '../../provisioning/cap.js';
import { isLoaError, type ErrorCode, type LoaError } from '../../protocol/errors.js';

// The finer rules of the CAP intake: what the XML guard refuses, how the
// schema names problems, and each mapping rule documented in cap-map.ts.

const NOW = Date.parse('2026-11-26T01:30:00Z');
const S = 'pctt.quangngai@example.vn';
const NS = 'urn:oasis:names:tc:emergency:cap:1.2';

const config: CapMapConfig = {
  areas: {
    geocode: [
      { valueName: 'MA_XA', value: '21457', zone: 'quang-ngai/ba-vi' },
      { valueName: 'MA_TINH', value: '51', zone: 'quang-ngai' },
    ],
    areaDesc: [
      { match: 'Ba Tô', zone: 'quang-ngai/ba-to' },
      { match: 'duc pho', zone: 'quang-ngai/duc-pho' },
    ],
  },
  now: NOW,
};

interface InfoOpts {
  language?: string;
  urgency?: string;
  severity?: string;
  headline?: string;
  expires?: string;
  areas?: string;
}

function info(o: InfoOpts = {}): string {
  const language = o.language === undefined ? '<language>vi-VN</language>' : o.language ? `<language>${o.language}</language>` : '';
  const headline = o.headline === undefined ? '<headline>Cảnh báo mưa lớn</headline>' : o.headline ? `<headline>${o.headline}</headline>` : '';
  return `<info>${language}<category>Met</category><event>Mưa lớn</event><urgency>${o.urgency ?? 'Expected'}</urgency><severity>${o.severity ?? 'Moderate'}</severity><certainty>Likely</certainty>${
    o.expires ? `<expires>${o.expires}</expires>` : ''
  }${headline}<instruction>Theo dõi bản tin tiếp theo.</instruction>${o.areas ?? '<area><areaDesc>Xã Ba Tô</areaDesc></area>'}</info>`;
}

function doc(body: string, head: Record<string, string> = {}): string {
  const h = { identifier: 'QNG-2026-200', sender: S, sent: '2026-11-26T08:20:00+07:00', status: 'Actual', msgType: 'Alert', scope: 'Public', ...head };
  const fields = Object.entries(h)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><alert xmlns="${NS}">${fields}${body}</alert>`;
}

const KEY = `${S},QNG-2026-200,2026-11-26T08:20:00+07:00`;

function refusedWith(fn: () => unknown, code: ErrorCode, capError: string): LoaError {
  const e = thrownCode(fn, code);
  assert.is(e.context.capError, capError);
  return e;
}

const found = (xml: string) => refusedWith(() => parseCap(xml), 'LOA_E_PAYLOAD_SCHEMA', 'unsafe').context.found;
const invalid = (xml: string) => refusedWith(() => parseCap(xml), 'LOA_E_PAYLOAD_SCHEMA', 'schema').message;
const notXml = (xml: string | Buffer) => refusedWith(() => parseCap(xml), 'LOA_E_PAYLOAD_SCHEMA', 'not-xml').message;

// ------------------------------------------------------------------ XML guard

test('external DTDs, declarations, processing instructions and XInclude are refused before parsing', () => {
  const body = doc(info()).replace('<?xml version="1.0" encoding="UTF-8"?>', '');
  assert.equal(found(`<!DOCTYPE alert SYSTEM "http://attacker.example/cap.dtd">${body}`), ['a DOCTYPE declaration', 'an external reference (SYSTEM "http://attacker.example/cap.dtd")']);
  assert.equal(found(`<!doctype alert>${body}`), ['a DOCTYPE declaration']);
  assert.equal(found(`<!ELEMENT alert ANY>${body}`), ['a markup declaration (<!ELEMENT…)']);
  assert.equal(found(`<?xml-stylesheet href="http://attacker.example/x.xsl"?>${body}`), ['a processing instruction (<?xml-stylesheet?>); only the XML declaration at the very start is allowed']);
  assert.equal(found(body.replace('<scope>', '<?php echo 1 ?><scope>')), ['a processing instruction (<?php?>); only the XML declaration at the very start is allowed']);
  assert.equal(found(body.replace('<scope>', '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"/><scope>')), [
    'an external reference (XInclude, http://www.w3.org/2001/XInclude)',
  ]);
  assert.equal(found(doc(info({ headline: 'Mưa&nbsp;lớn' }))), ['entity reference &nbsp;']);
});

test('predefined entities, character references and CDATA are read exactly once', () => {
  const a = parseCap(doc(info({ headline: 'L&#361; qu&#xE9;t &amp;amp; <![CDATA[s&amp;t <l&#7903;>]]>' })));
  assert.is(a.infos[0]!.headline, 'Lũ quét &amp; s&amp;t <l&#7903;>');
});

test('documents that are not well-formed UTF-8 XML 1.0 are refused with the reason', () => {
  assert.match(notXml(doc(info()).replace('</scope>', '</scop>')), /^CAP document is not well-formed XML: Expected closing tag 'scope' .* instead of closing tag 'scop'\. \(line 1, column \d+\)$/);
  assert.is(notXml(`${doc(info())}<alert xmlns="${NS}"/>`), 'CAP document must have exactly one root element (found 2)');
  assert.is(notXml(Buffer.from(`\ufeff${doc(info())}`, 'utf16le')), 'CAP document is UTF-16; only UTF-8 is accepted');
  assert.is(notXml(Buffer.concat([Buffer.from(doc(info()).slice(0, 60)), Buffer.from([0xc3, 0x28]), Buffer.from('</alert>')])), 'CAP document is not valid UTF-8');
  assert.is(notXml(doc(info()).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')), 'CAP document declares encoding ISO-8859-1; only UTF-8 is accepted');
  assert.is(notXml(doc(info()).replace('<scope>', '<cap:scope>').replace('</scope>', '</cap:scope>')), 'CAP document uses the namespace prefix "cap" (<cap:scope>) without declaring it');
  const bell = doc(info()).replace('Public', 'Pub\u0007lic');
  assert.is(notXml(bell), `CAP document is not well-formed XML: control character U+0007 at offset ${bell.indexOf('\u0007')}`);
  const fake = doc(info()).replace('<scope>', '<scope a="<!--">');
  assert.is(notXml(fake), `CAP document is not well-formed XML: "<" inside an attribute value at offset ${fake.indexOf('<!--')}`);
  // A UTF-8 byte order mark and whitespace before the declaration are fine.
  assert.is(parseCap(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`\r\n ${doc(info())}`)])).identifier, 'QNG-2026-200');
});

test('the root must be a CAP 1.2 <alert>', () => {
  const e = refusedWith(() => parseCap(doc(info()).replace(` xmlns="${NS}"`, '')), 'LOA_E_PAYLOAD_SCHEMA', 'namespace');
  assert.is(e.message, `CAP document root must be <alert> in the namespace ${NS}; found <alert> in no namespace`);
  // CAP elements in no namespace inside a CAP alert are someone else's: the identifier is then missing.
  assert.is(invalid(doc(info()).replace('<identifier>', '<identifier xmlns="">')), 'CAP alert is invalid: identifier is required');
});

// ------------------------------------------------------------------ schema

test('schema problems name the field and the rule', () => {
  assert.is(invalid(doc(info(), { sent: '2026-11-26T01:20:00Z' })), 'CAP alert is invalid: sent: must be a CAP dateTime with a numeric offset, e.g. 2026-11-26T08:00:00+07:00 (CAP 1.2 §3.3.2: no "Z", no fractions)');
  assert.match(invalid(doc(info(), { sent: '2026-02-30T08:00:00+07:00' })), /^CAP alert is invalid: sent: must be a CAP dateTime/);
  assert.is(invalid(doc(info(), { status: 'Real' })), 'CAP alert is invalid: status must be one of Actual, Exercise, System, Test, Draft');
  assert.is(invalid(doc(info(), { identifier: 'QNG 2026' })), 'CAP alert is invalid: identifier: must be 1–255 characters without spaces, commas, "<" or "&" (CAP 1.2 §3.2.1)');
  assert.is(invalid(doc(info(), { priority: 'high' })), 'CAP alert is invalid: alert has unknown CAP 1.2 element <priority>');
  assert.is(invalid(doc(info()).replace('<scope>', '<sent>2026-11-26T08:21:00+07:00</sent><scope>')), 'CAP alert is invalid: <sent> appears more than once in alert');
  assert.is(invalid(doc(info(), { msgType: 'Update' })), 'CAP alert is invalid: references is required when msgType is Update (§3.2.1)');
  assert.is(invalid(doc('', { msgType: 'Cancel', references: `${S},QNG-1` })), `CAP alert is invalid: references: entry "${S},QNG-1" is not a "sender,identifier,sent" triple`);
  assert.is(invalid(doc(info(), { scope: 'Restricted' })), 'CAP alert is invalid: restriction is required when scope is Restricted (§3.2.1)');
  assert.is(invalid(doc(info() + info({ urgency: 'Soon' }))), 'CAP alert is invalid: info[1].urgency must be one of Immediate, Expected, Future, Past, Unknown');
  assert.is(invalid(doc(info({ areas: '<area><geocode><valueName>MA_XA</valueName><value>1</value></geocode></area>' }))), 'CAP alert is invalid: info[0].area[0].areaDesc is required');
  assert.is(parseCap(doc(info({ language: '' }))).infos[0]!.language, 'en-US');
});

test('parseReferences reads whitespace-separated triples and drops duplicates', () => {
  const a = `${S},QNG-1,2026-11-26T08:00:00+07:00`;
  const b = `other@example.vn,X-9,2026-11-25T23:00:00-00:00`;
  assert.equal(parseReferences(`  ${a}\n\t${b} ${a} `), [
    { sender: S, identifier: 'QNG-1', sent: '2026-11-26T08:00:00+07:00', key: a },
    { sender: 'other@example.vn', identifier: 'X-9', sent: '2026-11-25T23:00:00-00:00', key: b },
  ]);
  const e = refusedWith(() => parseReferences(`${S},,2026-11-26T08:00:00+07:00`), 'LOA_E_PAYLOAD_SCHEMA', 'schema');
  assert.is(e.message, `CAP references entry "${S},,2026-11-26T08:00:00+07:00" has an empty or malformed sender or identifier`);
});

// ------------------------------------------------------------------ mapping

test('the level table: severity × urgency, Minor and Past always 1', () => {
  assert.equal(LEVEL_TABLE, {
    Extreme: { Immediate: 5, Expected: 4, Future: 3, Past: 1, Unknown: 4 },
    Severe: { Immediate: 4, Expected: 3, Future: 2, Past: 1, Unknown: 3 },
    Moderate: { Immediate: 3, Expected: 2, Future: 2, Past: 1, Unknown: 2 },
    Unknown: { Immediate: 3, Expected: 2, Future: 2, Past: 1, Unknown: 2 },
    Minor: { Immediate: 1, Expected: 1, Future: 1, Past: 1, Unknown: 1 },
  });
  assert.is(capLevel('Extreme', 'Immediate'), 5);
  const d = mapCap(parseCap(doc(info({ severity: 'Moderate', urgency: 'Immediate' }))), config);
  assert.is(d.kind === 'dispatch' && d.level, 3);
});

test('refusals and no-audio answers carry the reason', () => {
  const decide = (xml: string, c: CapMapConfig = config) => mapCap(parseCap(xml), c);
  assert.equal(decide(doc(info({ expires: '2026-11-26T08:20:00+07:00' }))), { kind: 'refused', capKey: KEY, reason: 'expired at 2026-11-26T01:20:00.000Z (<expires>)' });
  assert.equal(decide(doc(info()), { ...config, defaultExpiryMinutes: 10 }), { kind: 'refused', capKey: KEY, reason: 'expired at 2026-11-26T01:30:00.000Z (<sent> + 10 min)' });
  assert.equal(decide(doc(info(), { scope: 'Private', addresses: 'ubnd-ba-to' })), { kind: 'refused', capKey: KEY, reason: 'scope Private: meant for named recipients, not for public loudspeakers' });
  assert.equal(decide(doc('')), { kind: 'refused', capKey: KEY, reason: 'no <info> block: nothing to announce' });
  assert.equal(decide(doc(info({ areas: '' }))), { kind: 'refused', capKey: KEY, reason: 'the <info> names no <area>' });
  assert.equal(decide(doc('', { msgType: 'Ack', references: `${S},QNG-1,2026-11-26T08:00:00+07:00` })), { kind: 'no-audio', capKey: KEY, reason: 'msgType Ack: an answer to another message, nothing to announce' });
  assert.equal(decide(doc('', { msgType: 'Error' })), { kind: 'no-audio', capKey: KEY, reason: 'msgType Error: an answer to another message, nothing to announce' });
  const ref = `${S},QNG-DT-2026-07,2026-11-26T08:15:00+07:00`;
  const plain = decide(doc(info(), { references: ref }));
  assert.equal(plain.kind === 'dispatch' && plain.references, [], 'references on an Alert supersede nothing');
  assert.equal(decide(doc('', { status: 'Exercise', msgType: 'Cancel', references: ref })), { kind: 'cancel', mode: 'exercise', capKey: KEY, references: [ref] });
});

test('areaDesc matching ignores case and diacritics, needs whole words; geocodes win; zones are a cover', () => {
  const zones = (areas: string) => {
    const d = mapCap(parseCap(doc(info({ areas }))), config);
    return d.kind === 'dispatch' ? d.zones : 'reason' in d ? d.reason : d.kind;
  };
  const area = (desc: string, code = '') => `<area><areaDesc>${desc}</areaDesc>${code}</area>`;
  const xa = (v: string) => `<geocode><valueName>MA_XA</valueName><value>${v}</value></geocode>`;
  assert.equal(zones(area('XÃ BA TÔ, HUYỆN BA TƠ')), ['quang-ngai/ba-to']);
  assert.equal(zones(area('xa ba to')), ['quang-ngai/ba-to']);
  assert.equal(zones(area('Huyện Ba Tơ')), ['quang-ngai/ba-to'], 'documented: Tô and Tơ fold alike');
  assert.equal(zones(area('Thị trấn Đức Phổ')), ['quang-ngai/duc-pho']);
  assert.is(zones(area('Xã Ba Tơn')), 'no area maps to a zone: "Xã Ba Tơn"');
  assert.equal(zones(area('Xã Ba Tô', xa('21457'))), ['quang-ngai/ba-vi'], 'a mapped geocode wins over the name');
  assert.equal(zones(area('Xã Ba Tô', xa('99999'))), ['quang-ngai/ba-to'], 'an unmapped geocode falls back to the name');
  assert.equal(zones(area('Xã Ba Vì', xa('21457')) + area('Tỉnh Quảng Ngãi', '<geocode><valueName>ma_tinh</valueName><value>51</value></geocode>') + area('Ba Tô')), ['quang-ngai']);
  assert.is(foldName('  Xã Đắk Hà,  tỉnh Quảng Ngãi! '), 'xa dak ha tinh quang ngai');
});

test('title and spoken text: NFC, whitespace collapsed, bounded, with warnings', () => {
  const dispatch = (o: InfoOpts) => {
    const d = mapCap(parseCap(doc(info(o))), config);
    if (d.kind !== 'dispatch') throw new Error(d.kind);
    return d;
  };
  const nfd = dispatch({ headline: 'Cảnh báo\n   mưa lớn'.normalize('NFD') });
  assert.is(nfd.title, 'Cảnh báo mưa lớn');
  assert.is(nfd.ttsText, 'Cảnh báo mưa lớn. Theo dõi bản tin tiếp theo.');
  const long = dispatch({ headline: 'Mưa '.repeat(60) });
  assert.is(long.title, `${'Mưa '.repeat(49)}Mưa…`);
  assert.is(long.title.length, 200);
  assert.equal(long.warnings, ['headline cut to 200 characters for the title']);
  const noHead = dispatch({ headline: '', language: 'en-US' });
  assert.is(noHead.title, 'Mưa lớn');
  assert.equal(noHead.warnings, ['no Vietnamese <info>; announcing the en-US one', 'no <headline>; the title is the <event>']);
});

test('a bad mapping config is a config error', () => {
  try {
    mapCap(parseCap(doc(info())), { ...config, areas: { areaDesc: [{ match: 'Ba Tô', zone: 'Quảng Ngãi' }] } });
    assert.unreachable('expected LOA_E_CONFIG_INVALID');
  } catch (e) {
    assert.ok(isLoaError(e, 'LOA_E_CONFIG_INVALID'), String(e));
    assert.match((e as Error).message, /areas\.areaDesc\[0\]\.zone/);
  }
});

test.run();
