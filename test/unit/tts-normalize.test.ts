import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { normalizeVietnamese as n } from '../../audio/tts/normalize-vi.js';
import { readDecimal, readInteger } from '../../audio/tts/vi-numbers.js';

// What a listener hears for the numbers, dates, times, phone numbers, units
// and abbreviations of real bulletins. Expected readings follow the northern
// standard of the provincial stations (audio/tts/README.md).

const cases = (rows: [string, string][]) => {
  for (const [input, want] of rows) assert.is(n(input), want, input);
};

test('cardinals: mười/mươi, mốt, tư, lăm, linh', () => {
  const rows: [string, string][] = [
    ['0', 'không'], ['5', 'năm'], ['10', 'mười'], ['11', 'mười một'], ['14', 'mười bốn'], ['15', 'mười lăm'],
    ['20', 'hai mươi'], ['21', 'hai mươi mốt'], ['24', 'hai mươi tư'], ['25', 'hai mươi lăm'], ['55', 'năm mươi lăm'],
    ['91', 'chín mươi mốt'], ['100', 'một trăm'], ['101', 'một trăm linh một'], ['104', 'một trăm linh bốn'],
    ['105', 'một trăm linh năm'], ['110', 'một trăm mười'], ['115', 'một trăm mười lăm'], ['121', 'một trăm hai mươi mốt'],
    ['1000', 'một nghìn'], ['1005', 'một nghìn không trăm linh năm'], ['1050', 'một nghìn không trăm năm mươi'],
    ['2026', 'hai nghìn không trăm hai mươi sáu'], ['1975', 'một nghìn chín trăm bảy mươi lăm'],
    ['21.000', 'hai mươi mốt nghìn'], ['1.250.000', 'một triệu hai trăm năm mươi nghìn'],
    ['2.050.000', 'hai triệu không trăm năm mươi nghìn'], ['1.000.500', 'một triệu năm trăm'],
    ['1.200.000.000', 'một tỷ hai trăm triệu'], ['1.000.000.005', 'một tỷ không trăm linh năm'],
    ['1.000.000.000.000', 'một nghìn tỷ'],
  ];
  cases(rows);
  // Beyond 18 digits a number is a code: digit by digit.
  assert.is(readInteger('1234567890123456789'), 'một hai ba bốn năm sáu bảy tám chín không một hai ba bốn năm sáu bảy tám chín');
});

test('decimals use the comma; dots group thousands', () => {
  cases([
    ['3,5', 'ba phẩy năm'], ['0,35', 'không phẩy ba mươi lăm'], ['6,85', 'sáu phẩy tám mươi lăm'], ['3,05', 'ba phẩy không năm'],
    ['12.500', 'mười hai nghìn năm trăm'], ['1.250,5', 'một nghìn hai trăm năm mươi phẩy năm'],
    // A dot that does not group three digits is a decimal point as some writers use it.
    ['3.5', 'ba phẩy năm'],
  ]);
  assert.is(readDecimal('1', '23456'), 'một phẩy hai ba bốn năm sáu');
});

test('the southern readings are options: lẻ, ngàn', () => {
  assert.is(n('105 người, 2.005 hộ', { reading: { zeroTens: 'lẻ', thousand: 'ngàn' } }), 'một trăm lẻ năm người, hai ngàn không trăm lẻ năm hộ');
});

test('dates', () => {
  cases([
    ['26/11/2026', 'ngày hai mươi sáu tháng mười một năm hai nghìn không trăm hai mươi sáu'],
    ['ngày 26/11/2026', 'ngày hai mươi sáu tháng mười một năm hai nghìn không trăm hai mươi sáu'],
    ['Ngày 01/4/2026', 'Ngày một tháng tư năm hai nghìn không trăm hai mươi sáu'],
    ['26-11-2026', 'ngày hai mươi sáu tháng mười một năm hai nghìn không trăm hai mươi sáu'],
    ['26.11.2026', 'ngày hai mươi sáu tháng mười một năm hai nghìn không trăm hai mươi sáu'],
    ['từ 25/11', 'từ ngày hai mươi lăm tháng mười một'],
    ['đêm 25/11', 'đêm hai mươi lăm tháng mười một'],
    ['hai ngày 28-29/11', 'hai ngày hai mươi tám đến hai mươi chín tháng mười một'],
    ['từ 26/11 - 28/11', 'từ ngày hai mươi sáu tháng mười một đến ngày hai mươi tám tháng mười một'],
    ['tháng 4', 'tháng tư'], ['Tháng 1', 'Tháng một'], ['tháng 12', 'tháng mười hai'],
    ['tháng 11/2026', 'tháng mười một năm hai nghìn không trăm hai mươi sáu'],
    ['tháng 5-7', 'tháng năm đến tháng bảy'],
    ['năm 2026', 'năm hai nghìn không trăm hai mươi sáu'],
  ]);
});

test('not dates: impossible days and months, house numbers, shares, document numbers', () => {
  cases([
    ['số 12/3 Hùng Vương', 'số mười hai trên ba Hùng Vương'],
    ['hẻm 45/7', 'hẻm bốn mươi lăm trên bảy'],
    ['40/13', 'bốn mươi trên mười ba'],
    ['3/4 số hộ', 'ba phần tư số hộ'],
    ['1/2 diện tích', 'một phần hai diện tích'],
  ]);
  // "12/2020" of a document number is not December: the slash is read "trên".
  assert.is(n('Nghị định 12/2020/NĐ-CP'), 'Nghị định mười hai trên hai nghìn không trăm hai mươi/Nghị định Chính phủ');
});

test('times', () => {
  cases([
    ['7h30', 'bảy giờ ba mươi phút'], ['7:30', 'bảy giờ ba mươi phút'], ['07 giờ 30', 'bảy giờ ba mươi phút'],
    ['07 giờ 30 phút', 'bảy giờ ba mươi phút'], ['14h', 'mười bốn giờ'], ['14h00', 'mười bốn giờ'], ['7H05', 'bảy giờ năm phút'],
    ['7g30', 'bảy giờ ba mươi phút'], ['7h30p', 'bảy giờ ba mươi phút'], ['16:45:30', 'mười sáu giờ bốn mươi lăm phút ba mươi giây'],
    ['từ 7h30-11h30', 'từ bảy giờ ba mươi phút đến mười một giờ ba mươi phút'], ['7-9h', 'bảy đến chín giờ'],
    ['trong 48h tới', 'trong bốn mươi tám giờ tới'], ['trực 24/24 giờ', 'trực hai mươi tư trên hai mươi tư giờ'], ['trong 24 giờ qua', 'trong hai mươi tư giờ qua'],
  ]);
  // 25h30 is no time of day; it is left to the number rules.
  assert.not.match(n('25h30'), /giờ/);
});

test('phone numbers are read digit by digit, in groups', () => {
  cases([
    ['0912 345 678', 'không chín một hai, ba bốn năm, sáu bảy tám'],
    ['0912345678', 'không chín một hai, ba bốn năm, sáu bảy tám'],
    ['0912.345.678', 'không chín một hai, ba bốn năm, sáu bảy tám'],
    ['+84 912 345 678', 'cộng tám bốn, chín một hai, ba bốn năm, sáu bảy tám'],
    ['+84912345678', 'cộng tám bốn, chín một hai, ba bốn năm, sáu bảy tám'],
    ['(0255) 3822 123', 'không hai năm năm, ba tám hai hai, một hai ba'],
    ['02553822123', 'không hai năm năm, ba tám hai hai, một hai ba'],
    ['1900 9095', 'một chín không không, chín không chín năm'],
    ['gọi 113, 114 hoặc 115', 'gọi một một ba, một một bốn hoặc một một năm'],
    ['gọi ngay 115', 'gọi ngay một một năm'],
    ['liên hệ ĐT: 0912 345 678', 'liên hệ điện thoại: không chín một hai, ba bốn năm, sáu bảy tám'],
  ]);
  // Without a word that says "dial", 115 is a number; a count after a phone number stays a count.
  assert.is(n('115 hộ'), 'một trăm mười lăm hộ');
  assert.is(n('0912 345 678 12 người'), 'không chín một hai, ba bốn năm, sáu bảy tám mười hai người');
});

test('units after numbers', () => {
  cases([
    ['5 km', 'năm ki-lô-mét'], ['200m', 'hai trăm mét'], ['30 cm', 'ba mươi xăng-ti-mét'], ['350mm', 'ba trăm năm mươi mi-li-mét'],
    ['5 kg', 'năm ki-lô-gam'], ['500 g', 'năm trăm gam'], ['2 ha', 'hai héc-ta'], ['35°C', 'ba mươi lăm độ C'], ['35oC', 'ba mươi lăm độ C'],
    ['-2°C', 'âm hai độ C'], ['15%', 'mười lăm phần trăm'], ['60km/h', 'sáu mươi ki-lô-mét trên giờ'], ['1.500 m³/s', 'một nghìn năm trăm mét khối trên giây'],
    ['100 m3', 'một trăm mét khối'], ['300 m2', 'ba trăm mét vuông'], ['50.000đ', 'năm mươi nghìn đồng'], ['50.000 VNĐ', 'năm mươi nghìn đồng'],
    ['1.250.000 đồng/hộ', 'một triệu hai trăm năm mươi nghìn đồng trên hộ'], ['50 mm/24h', 'năm mươi mi-li-mét trên hai mươi tư giờ'],
    ['cao 1m70', 'cao một mét bảy mươi'], ['sau 15p', 'sau mười lăm phút'], ['30 ph', 'ba mươi phút'], ['30m', 'ba mươi mét'],
  ]);
  // A unit is a unit only after a number, and only as a whole word.
  cases([['m', 'm'], ['5 mẫu', 'năm mẫu'], ['5 giờ', 'năm giờ'], ['5 đến 7', 'năm đến bảy'], ['4G', 'bốn G']]);
});

test('ranges', () => {
  cases([
    ['5-7', 'năm đến bảy'], ['5 - 7 ngày', 'năm đến bảy ngày'], ['200-300mm', 'hai trăm đến ba trăm mi-li-mét'],
    ['15–20%', 'mười lăm đến hai mươi phần trăm'], ['cấp 10-11', 'cấp mười đến mười một'], ['2025-2026', 'hai nghìn không trăm hai mươi lăm đến hai nghìn không trăm hai mươi sáu'],
  ]);
});

test('weekdays and ordinals', () => {
  cases([
    ['Thứ 2', 'Thứ Hai'], ['họp vào Thứ 2', 'họp vào thứ Hai'], ['sáng thứ 7 và CN', 'sáng thứ Bảy và Chủ nhật'],
    ['thứ 5, ngày 26/11', 'thứ Năm, ngày hai mươi sáu tháng mười một'], ['lần thứ 2', 'lần thứ hai'], ['lần thứ 1', 'lần thứ nhất'],
    ['đợt thứ 4', 'đợt thứ tư'], ['người thứ 21', 'người thứ hai mươi mốt'],
  ]);
});

test('abbreviations, with the context ones', () => {
  cases([
    ['UBND xã', 'Ủy ban nhân dân xã'], ['HĐND huyện', 'Hội đồng nhân dân huyện'], ['BCH PCTT&TKCN', 'Ban chỉ huy phòng chống thiên tai và tìm kiếm cứu nạn'],
    ['thẻ BHYT', 'thẻ bảo hiểm y tế'], ['Lúc 7h. CSGT huyện', 'Lúc bảy giờ. Cảnh sát giao thông huyện'], ['Km 1.535', 'Ki-lô-mét một nghìn năm trăm ba mươi lăm'], ['học sinh THPT, THCS', 'học sinh trung học phổ thông, trung học cơ sở'],
    ['tại TP. Kon Tum', 'tại thành phố Kon Tum'], ['ở TP.HCM', 'ở thành phố Hồ Chí Minh'], ['TTYT huyện', 'Trung tâm Y tế huyện'],
    ['tại TT. Đắk Hà', 'tại thị trấn Đắk Hà'], ['tại TT Plei Kần', 'tại thị trấn Plei Kần'], ['TT Y tế', 'Trung tâm Y tế'],
    ['theo TT 39/2020', 'theo Thông tư ba mươi chín trên hai nghìn không trăm hai mươi'], ['số 39/2020/TT-BTTTT', 'số ba mươi chín trên hai nghìn không trăm hai mươi/Thông tư Bộ Thông tin và Truyền thông'],
    ['trên QL1A', 'trên quốc lộ một A'], ['QL 14 bị sạt lở', 'Quốc lộ mười bốn bị sạt lở'], ['tuyến ĐT.605', 'tuyến đường tỉnh sáu trăm linh năm'], ['COVID-19', 'Cô-vít mười chín'],
    ['TP. Kon Tum mưa to', 'Thành phố Kon Tum mưa to'],
    ['NN&PTNT', 'Nông nghiệp và Phát triển nông thôn'], ['giá bằng VNĐ', 'giá bằng Việt Nam đồng'],
  ]);
  // Where nothing tells the reading, TT and ĐT stay as written; a longer word is not an abbreviation.
  cases([['TT', 'TT'], ['ĐT', 'ĐT'], ['UBNDX', 'UBNDX'], ['Ubnd', 'Ubnd'], ['của UBND.', 'của Ủy ban nhân dân.']]);
  // The table is extended by an option.
  assert.is(n('BQLDA rừng', { abbreviations: { BQLDA: 'Ban quản lý dự án' } }), 'Ban quản lý dự án rừng');
});

test('NFC first, everything else kept exactly', () => {
  // "Thông báo" typed with combining marks (NFD) comes out composed.
  const nfd = 'Thông báo khẩn'.normalize('NFD');
  assert.is.not(nfd, 'Thông báo khẩn');
  assert.is(n(nfd), 'Thông báo khẩn');
  const plain = '  Bà con   chú ý!\nĐề nghị sơ tán (ngay), không chủ quan… “Đắk Hà”; a/b, v.v';
  assert.is(n(plain), plain);
  // Digits glued to letters get spaces so the engine reads them as words.
  assert.is(n('H5N1'), 'H năm N một');
  assert.is(n('lớp 10A1'), 'lớp mười A một');
});

test('a flood warning with rainfall, water levels and dates', () => {
  assert.is(
    n('Do ảnh hưởng của hoàn lưu bão số 5, từ đêm 25/11 đến hết ngày 27/11/2026, khu vực tỉnh Quảng Ngãi có mưa to đến rất to, lượng mưa phổ biến 200-300mm, có nơi trên 400 mm. Mực nước sông Trà Khúc lúc 7h ngày 26/11 là 6,85m, trên báo động 3 là 0,35m.'),
    'Do ảnh hưởng của hoàn lưu bão số năm, từ đêm hai mươi lăm tháng mười một đến hết ngày hai mươi bảy tháng mười một năm hai nghìn không trăm hai mươi sáu, khu vực tỉnh Quảng Ngãi có mưa to đến rất to, lượng mưa phổ biến hai trăm đến ba trăm mi-li-mét, có nơi trên bốn trăm mi-li-mét. Mực nước sông Trà Khúc lúc bảy giờ ngày hai mươi sáu tháng mười một là sáu phẩy tám mươi lăm mét, trên báo động ba là không phẩy ba mươi lăm mét.',
  );
  assert.is(
    n('Hồ Đắk Uy đang xả 1.200 m³/s; gió giật cấp 10-11, sức gió 60-80km/h; nhiệt độ thấp nhất 12-14°C.'),
    'Hồ Đắk Uy đang xả một nghìn hai trăm mét khối trên giây; gió giật cấp mười đến mười một, sức gió sáu mươi đến tám mươi ki-lô-mét trên giờ; nhiệt độ thấp nhất mười hai đến mười bốn độ C.',
  );
});

test('a meeting announcement with date, time and address', () => {
  assert.is(
    n('UBND xã Đắk Hà tổ chức họp dân vào lúc 14h00, Thứ 5, ngày 26/11/2026 tại Nhà văn hóa thôn 3 (số 12/3 đường Hùng Vương, TT. Đắk Hà). Đề nghị bà con có mặt đúng giờ.'),
    'Ủy ban nhân dân xã Đắk Hà tổ chức họp dân vào lúc mười bốn giờ, thứ Năm, ngày hai mươi sáu tháng mười một năm hai nghìn không trăm hai mươi sáu tại Nhà văn hóa thôn ba (số mười hai trên ba đường Hùng Vương, thị trấn Đắk Hà). Đề nghị bà con có mặt đúng giờ.',
  );
});

test('a vaccination notice with phone numbers', () => {
  assert.is(
    n('TTYT huyện thông báo: tiêm vắc-xin sởi cho trẻ từ 1-5 tuổi vào sáng thứ 7 và CN (28-29/11). Mọi thắc mắc xin liên hệ SĐT: 0912.345.678 hoặc đường dây nóng 1900 9095, cấp cứu gọi 115.'),
    'Trung tâm Y tế huyện thông báo: tiêm vắc-xin sởi cho trẻ từ một đến năm tuổi vào sáng thứ Bảy và Chủ nhật (ngày hai mươi tám đến hai mươi chín tháng mười một). Mọi thắc mắc xin liên hệ số điện thoại: không chín một hai, ba bốn năm, sáu bảy tám hoặc đường dây nóng một chín không không, chín không chín năm, cấp cứu gọi một một năm.',
  );
});

test('money', () => {
  assert.is(
    n('Mức hỗ trợ 1.250.000 đồng/hộ; hộ nghèo được thêm 500.000đ, tổng kinh phí 2,5 tỷ đồng (tăng 15% so với năm 2025). Phí BHYT 1.263.600 VNĐ/người/năm.'),
    'Mức hỗ trợ một triệu hai trăm năm mươi nghìn đồng trên hộ; hộ nghèo được thêm năm trăm nghìn đồng, tổng kinh phí hai phẩy năm tỷ đồng (tăng mười lăm phần trăm so với năm hai nghìn không trăm hai mươi lăm). Phí bảo hiểm y tế một triệu hai trăm sáu mươi ba nghìn sáu trăm đồng trên người/năm.',
  );
});

test('normalising twice changes nothing more', () => {
  const once = n('UBND xã: họp lúc 7h30 ngày 26/11/2026, mưa 200-300mm, gọi 0912 345 678, TT. Đắk Hà, Thứ 2.');
  assert.is(n(once), once);
  assert.not.match(once, /\d/);
});

test.run();
