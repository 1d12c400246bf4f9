import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { thrownCode } from '../helpers/errors.js';
import { capKey, mapCap, parseCap, selectInfo, type CapMapConfig } from '../../provisioning/cap.js';
import type { ErrorCode, LoaError } from '../../protocol/errors.js';

// CAP 1.2 intake: realistic documents in, exact decisions out.

const NOW = Date.parse('2026-11-26T01:30:00Z'); // 08:30 in Quảng Ngãi
const SENDER = 'pctt.quangngai@example.vn';
const FLOOD_KEY = `${SENDER},QNG-PCTT-2026-1126-001,2026-11-26T08:00:00+07:00`;

const config: CapMapConfig = {
  areas: {
    geocode: [
      { valueName: 'MA_XA', value: '21457', zone: 'quang-ngai/ba-vi' },
      { valueName: 'MA_XA', value: '21460', zone: 'quang-ngai/ba-dien' },
    ],
    areaDesc: [{ match: 'ba to', zone: 'quang-ngai/ba-to' }],
  },
  now: NOW,
};

/** A flash-flood warning: an English info first, the Vietnamese one second; one area mapped by geocode, one by name. */
const FLOOD = `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>QNG-PCTT-2026-1126-001</identifier>
  <sender>${SENDER}</sender>
  <sent>2026-11-26T08:00:00+07:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>en-US</language>
    <category>Geo</category>
    <event>Flash flood</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <headline>Flash flood warning</headline>
    <area><areaDesc>Ba Vi commune</areaDesc></area>
  </info>
  <info>
    <language>vi-VN</language>
    <category>Geo</category>
    <category>Met</category>
    <event>Lũ quét</event>
    <responseType>Evacuate</responseType>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <effective>2026-11-26T08:00:00+07:00</effective>
    <expires>2026-11-26T20:00:00+07:00</expires>
    <senderName>Ban Chỉ huy PCTT và TKCN tỉnh Quảng Ngãi</senderName>
    <headline>Cảnh báo lũ quét</headline>
    <description>Mưa lớn trên 200 mm trong 6 giờ qua; nguy cơ lũ quét &amp; sạt lở đất rất cao.</description>
    <instruction>Người dân ven suối và vùng trũng thấp
      di chuyển ngay đến nơi an toàn; không qua ngầm tràn.</instruction>
    <area>
      <areaDesc>Xã Ba Vì, tỉnh Quảng Ngãi</areaDesc>
      <geocode><valueName>MA_XA</valueName><value>21457</value></geocode>
    </area>
    <area>
      <areaDesc>Xã Ba Tô, tỉnh Quảng Ngãi</areaDesc>
      <geocode><valueName>MA_XA</valueName><value>21466</value></geocode>
    </area>
  </info>
</alert>`;

/** An exercise, with a prefixed namespace and an enveloped XML signature (another namespace, skipped). */
const EXERCISE = `<?xml version="1.0" encoding="UTF-8"?>
<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">
  <cap:identifier>QNG-DT-2026-07</cap:identifier>
  <cap:sender>${SENDER}</cap:sender>
  <cap:sent>2026-11-26T08:15:00+07:00</cap:sent>
  <cap:status>Exercise</cap:status>
  <cap:msgType>Alert</cap:msgType>
  <cap:scope>Public</cap:scope>
  <cap:note>Diễn tập ứng phó bão cấp tỉnh</cap:note>
  <cap:info>
    <cap:language>vi</cap:language>
    <cap:category>Met</cap:category>
    <cap:event>Bão</cap:event>
    <cap:urgency>Immediate</cap:urgency>
    <cap:severity>Extreme</cap:severity>
    <cap:certainty>Observed</cap:certainty>
    <cap:headline>Diễn tập: bão mạnh đổ bộ!</cap:headline>
    <cap:instruction>Chằng chống nhà cửa, sơ tán người già và trẻ em đến nhà văn hóa thôn.</cap:instruction>
    <cap:area>
      <cap:areaDesc>Xã Ba Vì</cap:areaDesc>
      <cap:geocode><cap:valueName>ma_xa</cap:valueName><cap:value>21457</cap:value></cap:geocode>
    </cap:area>
  </cap:info>
  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignatureValue>bm90IGEgcmVhbCBzaWduYXR1cmU=</ds:SignatureValue></ds:Signature>
</cap:alert>`;

/** Builds a one-info alert; `head` and `info` replace the defaults line by line. */
function alertXml(head: Record<string, string>, info: string): string {
  const h = { identifier: 'QNG-2026-100', sender: SENDER, sent: '2026-11-26T08:20:00+07:00', status: 'Actual', msgType: 'Alert', scope: 'Public', ...head };
  const fields = Object.entries(h)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `  <${k}>${v}</${k}>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">\n${fields}\n${info}\n</alert>`;
}

const TEST_INFO = `  <info>
    <language>vi</language>
    <category>Other</category>
    <event>Thử nghiệm</event>
    <urgency>Future</urgency>
    <severity>Minor</severity>
    <certainty>Unknown</certainty>
    <headline>Thử nghiệm hệ thống cảnh báo</headline>
    <description>Đây là bản tin thử nghiệm, người dân không cần làm gì.</description>
    <area><areaDesc>Xã Ba Tô</areaDesc></area>
  </info>`;

function refusedWith(fn: () => unknown, code: ErrorCode, capError: string): LoaError {
  const e = thrownCode(fn, code);
  assert.is(e.context.capError, capError);
  return e;
}

test('Cảnh báo lũ quét: the Vietnamese info, one area by geocode and one by name, level 4', () => {
  const alert = parseCap(FLOOD);
  assert.is(alert.infos.length, 2);
  assert.is(selectInfo(alert)!.language, 'vi-VN');
  assert.equal(selectInfo(alert)!.categories, ['Geo', 'Met']);
  assert.equal(selectInfo(alert)!.areas[0], { areaDesc: 'Xã Ba Vì, tỉnh Quảng Ngãi', polygons: [], circles: [], geocodes: [{ valueName: 'MA_XA', value: '21457' }], altitude: undefined, ceiling: undefined });
  assert.is(selectInfo(alert)!.description, 'Mưa lớn trên 200 mm trong 6 giờ qua; nguy cơ lũ quét & sạt lở đất rất cao.');
  assert.is(capKey(alert), FLOOD_KEY);
  assert.equal(mapCap(alert, config), {
    kind: 'dispatch',
    mode: 'actual',
    level: 4,
    zones: ['quang-ngai/ba-vi', 'quang-ngai/ba-to'],
    title: 'Cảnh báo lũ quét',
    ttsText: 'Cảnh báo lũ quét. Người dân ven suối và vùng trũng thấp di chuyển ngay đến nơi an toàn; không qua ngầm tràn.',
    expiresAt: '2026-11-26T13:00:00.000Z',
    capKey: FLOOD_KEY,
    references: [],
    warnings: [],
  });
});

test('an Exercise with a prefixed namespace: mode exercise, Extreme + Immediate is level 5, default expiry', () => {
  assert.equal(mapCap(parseCap(Buffer.from(EXERCISE)), config), {
    kind: 'dispatch',
    mode: 'exercise',
    level: 5,
    zones: ['quang-ngai/ba-vi'],
    title: 'Diễn tập: bão mạnh đổ bộ!',
    ttsText: 'Diễn tập: bão mạnh đổ bộ! Chằng chống nhà cửa, sơ tán người già và trẻ em đến nhà văn hóa thôn.',
    expiresAt: '2026-11-26T02:15:00.000Z',
    capKey: `${SENDER},QNG-DT-2026-07,2026-11-26T08:15:00+07:00`,
    references: [],
    warnings: [],
  });
});

test('a Test: mode test, Minor is level 1, the description stands in for a missing instruction', () => {
  const xml = alertXml({ identifier: 'QNG-TN-1', status: 'Test' }, TEST_INFO);
  assert.equal(mapCap(parseCap(xml), { ...config, defaultExpiryMinutes: 30 }), {
    kind: 'dispatch',
    mode: 'test',
    level: 1,
    zones: ['quang-ngai/ba-to'],
    title: 'Thử nghiệm hệ thống cảnh báo',
    ttsText: 'Thử nghiệm hệ thống cảnh báo. Đây là bản tin thử nghiệm, người dân không cần làm gì.',
    expiresAt: '2026-11-26T01:50:00.000Z',
    capKey: `${SENDER},QNG-TN-1,2026-11-26T08:20:00+07:00`,
    references: [],
    warnings: [],
  });
});

test('status System is no-audio; status Draft is refused', () => {
  assert.equal(mapCap(parseCap(alertXml({ identifier: 'SYS-1', status: 'System' }, TEST_INFO)), config), {
    kind: 'no-audio',
    capKey: `${SENDER},SYS-1,2026-11-26T08:20:00+07:00`,
    reason: 'status System: a message between alerting systems, not for the public',
  });
  assert.equal(mapCap(parseCap(alertXml({ identifier: 'NHAP-1', status: 'Draft' }, TEST_INFO)), config), {
    kind: 'refused',
    capKey: `${SENDER},NHAP-1,2026-11-26T08:20:00+07:00`,
    reason: 'status Draft: a draft is not to be acted on',
  });
});

test('an Update is a new dispatch that references the alert it supersedes; unmapped areas become warnings', () => {
  const info = `  <info>
    <language>vi-VN</language>
    <category>Geo</category>
    <event>Lũ quét</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <expires>2026-11-26T22:00:00+07:00</expires>
    <headline>Lũ quét đã xảy ra tại xã Ba Vì</headline>
    <instruction>Sơ tán ngay toàn bộ người dân ven suối.</instruction>
    <area><areaDesc>Xã Ba Vì</areaDesc><geocode><valueName>MA_XA</valueName><value>21457</value></geocode></area>
    <area><areaDesc>Xã Ba Lế</areaDesc><geocode><valueName>MA_XA</valueName><value>21463</value></geocode></area>
  </info>`;
  const alert = parseCap(alertXml({ identifier: 'QNG-PCTT-2026-1126-002', sent: '2026-11-26T09:00:00+07:00', msgType: 'Update', references: FLOOD_KEY }, info));
  assert.equal(alert.references, [{ sender: SENDER, identifier: 'QNG-PCTT-2026-1126-001', sent: '2026-11-26T08:00:00+07:00', key: FLOOD_KEY }]);
  assert.equal(mapCap(alert, config), {
    kind: 'dispatch',
    mode: 'actual',
    level: 5,
    zones: ['quang-ngai/ba-vi'],
    title: 'Lũ quét đã xảy ra tại xã Ba Vì',
    ttsText: 'Lũ quét đã xảy ra tại xã Ba Vì. Sơ tán ngay toàn bộ người dân ven suối.',
    expiresAt: '2026-11-26T15:00:00.000Z',
    capKey: `${SENDER},QNG-PCTT-2026-1126-002,2026-11-26T09:00:00+07:00`,
    references: [FLOOD_KEY],
    warnings: ['area "Xã Ba Lế" (MA_XA=21463) maps to no zone'],
  });
});

test('a Cancel cancels the alerts it references', () => {
  const alert = parseCap(alertXml({ identifier: 'QNG-PCTT-2026-1126-003', sent: '2026-11-26T10:00:00+07:00', msgType: 'Cancel', references: FLOOD_KEY }, ''));
  assert.equal(mapCap(alert, config), { kind: 'cancel', mode: 'actual', capKey: `${SENDER},QNG-PCTT-2026-1126-003,2026-11-26T10:00:00+07:00`, references: [FLOOD_KEY] });
});

test('billion laughs (DOCTYPE + ENTITY) is refused before parsing, at once', () => {
  const lol = `<?xml version="1.0"?>
<!DOCTYPE alert [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>`;
  const t0 = performance.now();
  const e = refusedWith(() => parseCap(lol), 'LOA_E_PAYLOAD_SCHEMA', 'unsafe');
  // 10^9 "lol"s would take minutes and gigabytes; the generous bound only proves nothing was expanded.
  assert.ok(performance.now() - t0 < 250, 'refused without expanding anything');
  assert.is(
    e.message,
    'CAP document refused before parsing (XXE / billion-laughs protection): it contains a DOCTYPE declaration and an ENTITY declaration; DTDs, entity declarations, processing instructions and external references are never processed',
  );
  assert.equal(e.context.found, ['a DOCTYPE declaration', 'an ENTITY declaration']);
});

test('an external entity (SYSTEM "file:///etc/passwd") is refused and named', () => {
  const xxe = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE alert [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>`;
  const e = refusedWith(() => parseCap(xxe), 'LOA_E_PAYLOAD_SCHEMA', 'unsafe');
  assert.equal(e.context.found, ['a DOCTYPE declaration', 'an ENTITY declaration', 'an external reference (SYSTEM "file:///etc/passwd")']);
  assert.ok(!e.message.includes('root:'), 'the file was not read');
});

test('an oversized document is refused before anything else, at the exact limit', () => {
  const big = FLOOD.replace('<scope>', `<!-- ${'x'.repeat(300 * 1024)} --><scope>`);
  const e = refusedWith(() => parseCap(big), 'LOA_E_PAYLOAD_TOO_LARGE', 'too-large');
  assert.equal(e.context, { capError: 'too-large', bytes: Buffer.byteLength(big), maxBytes: 256 * 1024 });
  const n = Buffer.byteLength(FLOOD);
  assert.is(parseCap(FLOOD, { maxBytes: n }).identifier, 'QNG-PCTT-2026-1126-001');
  assert.is(refusedWith(() => parseCap(FLOOD, { maxBytes: n - 1 }), 'LOA_E_PAYLOAD_TOO_LARGE', 'too-large').message, `CAP document of ${n} bytes exceeds the ${n - 1}-byte limit`);
});

test('a missing identifier is refused naming the field', () => {
  const e = refusedWith(() => parseCap(alertXml({ identifier: '' }, TEST_INFO)), 'LOA_E_PAYLOAD_SCHEMA', 'schema');
  assert.is(e.message, 'CAP alert is invalid: identifier is required');
  assert.equal(e.context.fields, ['identifier']);
});

test('CAP 1.1 is refused by its namespace', () => {
  const v11 = FLOOD.replace('urn:oasis:names:tc:emergency:cap:1.2', 'urn:oasis:names:tc:emergency:cap:1.1');
  const e = refusedWith(() => parseCap(v11), 'LOA_E_PAYLOAD_SCHEMA', 'namespace');
  assert.is(e.message, 'CAP document is CAP 1.1 (namespace urn:oasis:names:tc:emergency:cap:1.1); only CAP 1.2 (urn:oasis:names:tc:emergency:cap:1.2) is accepted');
});

test('an alert whose areas map to no zone is refused naming the areas', () => {
  const info = TEST_INFO.replace(
    '<area><areaDesc>Xã Ba Tô</areaDesc></area>',
    '<area><areaDesc>Xã Ba Lế, tỉnh Quảng Ngãi</areaDesc><geocode><valueName>MA_XA</valueName><value>21463</value></geocode></area><area><areaDesc>Thị trấn Đức Phổ</areaDesc></area>',
  );
  assert.equal(mapCap(parseCap(alertXml({ identifier: 'QNG-2026-101' }, info)), config), {
    kind: 'refused',
    capKey: `${SENDER},QNG-2026-101,2026-11-26T08:20:00+07:00`,
    reason: 'no area maps to a zone: "Xã Ba Lế, tỉnh Quảng Ngãi" (MA_XA=21463), "Thị trấn Đức Phổ"',
  });
});

test.run();
