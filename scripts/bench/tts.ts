// tts: how long Loa takes to turn a 500-word Vietnamese bulletin into speech
// with espeak-ng on this machine. Normalisation time (median of many runs),
// synthesis time (each run and the median), seconds of audio produced and the
// real-time factor (synthesis time / audio time; below 1 is faster than
// real time).
//
//   npx tsc -p tsconfig.json && node dist/scripts/bench/tts.js [--runs 5] [--speed 1] [--voice vi] [--append docs/benchmarks.md] [--json]
//
// See docs/benchmarks.md, section "tts".

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { EspeakEngine, textToSpeech } from '../../audio/tts/engine.js';
import { normalizeVietnamese } from '../../audio/tts/normalize-vi.js';
import { parseWav } from '../../audio/tts/wav.js';

/**
 * A bulletin of the kind a commune station reads on a stormy morning: a
 * flood warning, a meeting, a vaccination drive, support payments. Written
 * for this benchmark (no real place's data); 500 words as written.
 */
export const BULLETIN = `Kính thưa bà con! Sau đây là bản tin của Đài truyền thanh xã Đắk Hà phát sáng Thứ 5, ngày 26/11/2026.

Tin thứ nhất: cảnh báo mưa lũ. Theo Đài KTTV tỉnh, do ảnh hưởng của hoàn lưu bão số 5, từ đêm 25/11 đến hết ngày 28/11/2026 khu vực các xã phía Bắc của tỉnh có mưa to đến rất to, lượng mưa phổ biến 200-300mm, có nơi trên 450 mm. Mực nước sông Đắk Bla tại trạm Kon Tum lúc 7h ngày 26/11 là 518,75m, trên báo động 2 là 0,25m, dự báo tiếp tục lên trong 24 giờ tới. Hồ thủy điện Plei Krông đang xả 1.250 m³/s. Gió giật cấp 8-9, sức gió 60-75km/h, nhiệt độ thấp nhất 17-19°C. BCH PCTT&TKCN xã đề nghị bà con thôn 3, thôn 5 và thôn 7 không đi qua các ngầm tràn, không vào rừng; chằng chống nhà cửa, chuẩn bị lương thực cho 5-7 ngày. Các hộ ở ven sông Đắk Bla sẵn sàng sơ tán đến trường THCS Đắk Hà khi có lệnh. Mọi thông tin xin báo về số điện thoại trực ban 0260 3862 115 hoặc 0912.345.678, gặp đồng chí Phó Chủ tịch UBND xã.

Tin thứ hai: thông báo họp dân. Vào lúc 14h00 Thứ 2, ngày 30/11/2026, UBND xã tổ chức họp dân tại Nhà văn hóa thôn 3, số 12/3 đường Hùng Vương, TT. Đắk Hà, để bàn về việc hỗ trợ các hộ bị thiệt hại. Thành phần gồm đại diện HĐND xã, MTTQ xã, trưởng các thôn và đại diện 150 hộ dân. Đề nghị bà con đến đúng giờ; thời gian họp dự kiến từ 14h00-16h30.

Tin thứ ba: tiêm vắc-xin. TTYT huyện phối hợp với TYT xã tổ chức tiêm vắc-xin sởi - rubella cho trẻ từ 1-5 tuổi vào sáng thứ 7 và CN (5-6/12). Đã có 1.024 trẻ được tiêm, đạt 87,5% kế hoạch. Phụ huynh mang theo sổ tiêm chủng và thẻ BHYT của trẻ. Khi trẻ có biểu hiện sốt trên 38,5°C hoặc phát ban, gọi ngay 115 hoặc đường dây nóng 1900 9095.

Tin thứ tư: chi trả hỗ trợ. Theo Quyết định của UBND tỉnh, mỗi hộ có nhà bị sập được hỗ trợ 40.000.000 đồng/hộ, nhà hư hỏng nặng 20.000.000đ, hư hỏng một phần 5.000.000 VNĐ; mỗi người bị thương được hỗ trợ 3.000.000 đồng. Tổng kinh phí của xã là 1,25 tỷ đồng, tăng 15% so với năm 2025. Việc chi trả bắt đầu từ 7h30 ngày 1/12 đến 17h ngày 15/12/2026 tại trụ sở UBND xã, số 25 QL14.

Tin thứ năm: an toàn giao thông. Đoạn QL14 từ Km 1.535 đến Km 1.540 và ĐT 671 bị sạt lở, cấm xe trên 10 tấn; xe máy đi chậm dưới 30 km/h. CSGT huyện trực tại ngã ba thôn 5 suốt 24/24 giờ.

Đài truyền thanh xã sẽ tiếp tục cập nhật tin tức vào lúc 11h00 và 17h00 hằng ngày. Bản tin đến đây là hết.`;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: number): number => performance.now() - t0;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    speed: { type: 'string', default: '1' },
    voice: { type: 'string', default: 'vi' },
    append: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const runs = Math.max(1, Number(values.runs));
const speed = Number(values.speed);
const voice = values.voice!;

const words = BULLETIN.split(/\s+/).filter(Boolean).length;
// Normalisation: warm the regular expressions, then the median of 200 runs.
for (let i = 0; i < 20; i++) normalizeVietnamese(BULLETIN);
const normMs: number[] = [];
for (let i = 0; i < 200; i++) {
  const t0 = performance.now();
  normalizeVietnamese(BULLETIN);
  normMs.push(ms(t0));
}
const spoken = normalizeVietnamese(BULLETIN);
const spokenWords = spoken.split(/\s+/).filter(Boolean).length;

// Synthesis: espeak-ng on the normalised text, as textToSpeech runs it (one
// process for the whole bulletin), and textToSpeech end to end.
const engine = new EspeakEngine({ voice, speed });
const synthMs: number[] = [];
let audioMs = 0;
let wavBytes = 0;
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const wav = await engine.synthesize(spoken);
  synthMs.push(ms(t0));
  const info = parseWav(wav);
  audioMs = info.durationMs;
  wavBytes = wav.length;
}
const totalMs: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  await textToSpeech(BULLETIN, { engine });
  totalMs.push(ms(t0));
}

const espeakVersion = execFileSync('espeak-ng', ['--version'], { encoding: 'utf8' }).trim().replace(/\s+Data at:.*$/, '');
const uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
const result = {
  date: new Date().toISOString(),
  machine: `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU`,
  node: process.version,
  espeak: espeakVersion,
  load: loadavg().map((l) => l.toFixed(2)).join(' '),
  uptime,
  words,
  spokenWords,
  voice,
  speed,
  normalizeMsMedian: median(normMs),
  synthesisMs: synthMs.map((x) => Math.round(x)),
  synthesisMsMedian: median(synthMs),
  textToSpeechMsMedian: median(totalMs),
  audioSeconds: audioMs / 1000,
  wavBytes,
  realTimeFactor: median(synthMs) / audioMs,
};

if (values.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  console.log(`tts bench: ${words}-word bulletin (${spokenWords} words once normalised), espeak-ng voice ${voice}, speed ${speed}`);
  console.log(`machine:       ${result.machine}, Node ${result.node}, ${result.espeak}`);
  console.log(`load:          ${result.load} (uptime: ${uptime})`);
  console.log(`normalise:     ${result.normalizeMsMedian.toFixed(2)} ms (median of ${normMs.length})`);
  console.log(`synthesis:     ${result.synthesisMsMedian.toFixed(0)} ms median; runs ${result.synthesisMs.join(', ')} ms`);
  console.log(`textToSpeech:  ${result.textToSpeechMsMedian.toFixed(0)} ms median (normalise + synthesise + WAV check), ${runs} runs`);
  console.log(`audio:         ${result.audioSeconds.toFixed(1)} s (${(wavBytes / 1e6).toFixed(2)} MB WAV, 22.05 kHz mono 16-bit)`);
  console.log(`real-time factor: ${result.realTimeFactor.toFixed(4)} (${(1 / result.realTimeFactor).toFixed(0)}× faster than real time)`);
}

if (values.append) {
  // One row at the end of the tts section's table, wherever the section lies in the file.
  const file = values.append;
  const row = `| ${result.date.slice(0, 16).replace('T', ' ')} UTC | ${words} (${spokenWords}) | ${result.normalizeMsMedian.toFixed(2)} ms | ${result.synthesisMsMedian.toFixed(0)} ms (${result.synthesisMs.join(', ')}) | ${result.textToSpeechMsMedian.toFixed(0)} ms | ${result.audioSeconds.toFixed(1)} s | ${result.realTimeFactor.toFixed(4)} | ${result.load} |`;
  const lines = readFileSync(file, 'utf8').split('\n');
  const start = lines.findIndex((l) => l === '## tts');
  if (start < 0) throw new Error(`${file} has no "## tts" section`);
  const next = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  const end = next < 0 ? lines.length : next;
  let last = -1;
  for (let i = start; i < end; i++) if (lines[i]!.startsWith('|')) last = i;
  if (last < 0) throw new Error(`the tts section of ${file} has no table`);
  lines.splice(last + 1, 0, row);
  writeFileSync(file, lines.join('\n'));
  console.log(`appended a row to ${values.append}`);
}
