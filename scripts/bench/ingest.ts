// Benchmark: the province ingest (audio/ingest.ts) of a generated programme
// of speech, as a multiple of real time, with the time of each pass. Then,
// on the same programme, each ffmpeg stage alone ("floors"), to show what
// dominates and what the alternatives would cost.
//
//   npx tsc -p tsconfig.json && node dist/scripts/bench/ingest.js [--minutes 10] [--runs 3] [--format mp3] [--no-floors] [--json]
//
// The programme: espeak-ng reading Vietnamese bulletins in its three
// Vietnamese voices at two speeds, looped to length, over a pink-noise room
// tone at -40 dB, stereo 44.1 kHz, encoded as an operator would upload it
// (--format mp3: 128 kbit/s; wav, m4a, flac, ogg). Generating it is not timed.
// See docs/benchmarks.md ("ingest").

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ingest, type IngestResult } from '../../audio/ingest.js';

const { values: opt } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    format: { type: 'string', default: 'mp3' },
    'no-floors': { type: 'boolean' },
    json: { type: 'boolean' },
  },
});
const MINUTES = Number(opt.minutes);
const RUNS = Number(opt.runs);
const log = (s: string) => !opt.json && process.stderr.write(s + '\n');

const BULLETINS = [
  'Thông báo của Ủy ban nhân dân xã Đắk Hà. Do ảnh hưởng của bão số năm, từ đêm nay đến hết ngày mai có mưa to. Đề nghị bà con không đi qua các ngầm tràn, không vào rừng, chằng chống nhà cửa.',
  'Kính thưa bà con, đây là Đài truyền thanh xã. Sáng thứ hai, lúc bảy giờ, trạm y tế xã tiêm chủng cho trẻ em dưới năm tuổi. Bà con nhớ mang theo sổ tiêm chủng.',
  'Hội nông dân xã thông báo: vụ lúa đông xuân năm nay gieo sạ từ ngày mười lăm tháng mười hai. Bà con chuẩn bị giống, phân bón và theo dõi lịch thời vụ trên loa truyền thanh.',
];
const ENCODE: Record<string, string[]> = {
  mp3: ['-c:a', 'libmp3lame', '-b:a', '128k'],
  wav: ['-c:a', 'pcm_s16le'],
  m4a: ['-c:a', 'aac', '-b:a', '128k'],
  flac: ['-c:a', 'flac'],
  ogg: ['-c:a', 'libvorbis', '-q:a', '4'],
};

function ffmpeg(args: string[]): void {
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** CPU seconds of this process's children that have exited and been waited for (/proc: cutime + cstime, 100 Hz ticks). */
function childCpuSec(): number {
  const s = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** CPU seconds the whole machine has been busy (/proc/stat: all but idle and iowait, 100 Hz ticks). */
function machineBusySec(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / 100;
}

const ownCpuSec = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function generate(dir: string): { file: string; seconds: number } {
  const parts: string[] = [];
  const voices = ['vi', 'vi-vn-x-central', 'vi-vn-x-south'];
  for (const [i, text] of BULLETINS.entries()) {
    for (const [j, speed] of [155, 135].entries()) {
      const wav = join(dir, `b${i}${j}.wav`);
      execFileSync('espeak-ng', ['-v', voices[(i + j) % voices.length]!, '-s', String(speed), '-w', wav, text]);
      parts.push(wav);
    }
  }
  const seconds = MINUTES * 60;
  const inputs = parts.flatMap((p) => ['-i', p]);
  // Bulletins one after another with a second of pause between them, looped to length, over room tone.
  const concat = parts.map((_, i) => `[${i}:a]aresample=44100,apad=pad_dur=1[p${i}]`).join(';') + ';' + parts.map((_, i) => `[p${i}]`).join('') + `concat=n=${parts.length}:v=0:a=1[cycle]`;
  const cycle = join(dir, 'cycle.wav');
  ffmpeg([...inputs, '-filter_complex', concat, '-map', '[cycle]', cycle]);
  const file = join(dir, `programme.${opt.format}`);
  ffmpeg([
    '-stream_loop', '-1', '-i', cycle,
    '-f', 'lavfi', '-i', `anoisesrc=color=pink:amplitude=0.01:r=44100:d=${seconds}`,
    '-filter_complex', `[0:a][1:a]amix=inputs=2:duration=shortest:normalize=0,atrim=0:${seconds},pan=stereo|c0=c0|c1=c0[out]`,
    '-map', '[out]', '-ar', '44100', ...(ENCODE[opt.format!] ?? ENCODE.mp3!), file,
  ]);
  return { file, seconds };
}

/** One ffmpeg command alone on the programme: wall seconds, and what else the machine did meanwhile (cores). */
function floor(args: string[]): { sec: number; otherCores: number } {
  const [cpu0, busy0, t0] = [childCpuSec(), machineBusySec(), performance.now()];
  ffmpeg(args);
  const sec = (performance.now() - t0) / 1000;
  return { sec, otherCores: (machineBusySec() - busy0 - (childCpuSec() - cpu0)) / sec };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'loa-bench-ingest-'));
  try {
    const ffmpegVersion = execFileSync('ffmpeg', ['-version'], { encoding: 'utf8' }).split('\n')[0] ?? '?';
    const machine = { cpu: cpus()[0]?.model ?? '?', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, ffmpeg: ffmpegVersion };
    log(`generating a ${MINUTES}-minute programme (${opt.format})…`);
    const prog = generate(dir);
    log(`  ${prog.file}: ${(statSync(prog.file).size / 2 ** 20).toFixed(1)} MiB`);
    const loadBefore = loadavg().map((l) => +l.toFixed(2));

    const runs: { wallSec: number; xRealtime: number; childCpuSec: number; otherCores: number; result: IngestResult }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const out = mkdtempSync(join(dir, 'out-'));
      const [cpu0, own0, busy0] = [childCpuSec(), ownCpuSec(), machineBusySec()];
      const t0 = performance.now();
      const result = await ingest(prog.file, { outDir: out });
      const wallSec = (performance.now() - t0) / 1000;
      const ffmpegCpu = childCpuSec() - cpu0;
      // What else the machine did meanwhile, in cores: near 0 on a quiet machine.
      const otherCores = (machineBusySec() - busy0 - ffmpegCpu - (ownCpuSec() - own0)) / wallSec;
      const run = { wallSec, xRealtime: prog.seconds / wallSec, childCpuSec: ffmpegCpu, otherCores, result };
      runs.push(run);
      const t = result.timingsMs;
      log(
        `run ${i + 1}: ${wallSec.toFixed(2)} s = ${run.xRealtime.toFixed(1)}× real time | pass 1 (measure) ${(t.measure / 1000).toFixed(2)} s, calibrate ${(t.calibrate / 1000).toFixed(2)} s, ` +
          `pass 2 (encode + verify) ${(t.encode / 1000).toFixed(2)} s, probe ${(t.probe / 1000).toFixed(2)} s | ffmpeg CPU ${run.childCpuSec.toFixed(1)} s (${(run.childCpuSec / wallSec).toFixed(2)} cores), other load ${run.otherCores.toFixed(2)} cores | ` +
          `${result.loudness.method}, in ${result.loudness.input.I} LUFS / ${result.loudness.input.TP} dBTP → out ${result.loudness.output.I} LUFS / ${result.loudness.output.TP} dBTP, ${(result.size / 2 ** 20).toFixed(2)} MiB`,
      );
      rmSync(out, { recursive: true, force: true });
    }
    const loadAfter = loadavg().map((l) => +l.toFixed(2));

    let floors: Record<string, { sec: number; otherCores: number }> | undefined;
    if (!opt['no-floors']) {
      log('floors: each stage alone on the same programme…');
      const pcm = join(dir, 'mono48k.f32');
      const decode = floor(['-i', prog.file, '-af', 'aresample=48000:ochl=mono:osf=flt', '-f', 'f32le', pcm]);
      const onPcm = ['-f', 'f32le', '-ar', '48000', '-ac', '1', '-i', pcm];
      const opus = (c: number) => floor([...onPcm, '-c:a', 'libopus', '-b:a', '32k', '-vbr', 'constrained', '-application', 'voip', '-compression_level', String(c), '-f', 'ogg', join(dir, `c${c}.ogg`)]);
      const ln = 'loudnorm=I=-16:TP=-1.5:LRA=11:print_format=json';
      floors = {
        'decode + downmix to 48 kHz mono PCM': decode,
        'pass 1 as built, in one process: ebur128 (peak=true) at 48 kHz': floor(['-i', prog.file, '-af', 'aresample=48000:ochl=mono:osf=flt,ebur128=peak=true', '-f', 'null', '-']),
        'pass 1 before: loudnorm, linear with a neutral gain, at 192 kHz': floor(['-i', prog.file, '-af', `aresample=192000:ochl=mono:osf=flt,${ln.replace(':print', ':measured_I=-16:measured_TP=-1.5:measured_LRA=1:measured_thresh=-26:linear=true:print')}`, '-f', 'null', '-']),
        'pass 1 as loudnorm runs it by default (dynamic mode, 192 kHz)': floor(['-i', prog.file, '-af', `aresample=192000:ochl=mono:osf=flt,${ln}`, '-f', 'null', '-']),
        'libopus alone on the PCM, complexity 10 (before)': opus(10),
        'libopus alone on the PCM, complexity 6 (as built)': opus(6),
        'libopus alone on the PCM, complexity 5': opus(5),
      };
      for (const [k, f] of Object.entries(floors)) log(`  ${f.sec.toFixed(2).padStart(6)} s  ${(prog.seconds / f.sec).toFixed(0).padStart(4)}×  ${k}  (other load ${f.otherCores.toFixed(2)})`);
    }

    const sorted = [...runs].sort((a, b) => a.wallSec - b.wallSec);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const summary = {
      machine,
      loadavg: { before: loadBefore, after: loadAfter },
      programme: { minutes: MINUTES, format: opt.format, bytes: statSync(prog.file).size },
      median: { wallSec: +median.wallSec.toFixed(2), xRealtime: +median.xRealtime.toFixed(1), timingsMs: median.result.timingsMs },
      runs: runs.map((r) => ({ wallSec: +r.wallSec.toFixed(2), xRealtime: +r.xRealtime.toFixed(1), childCpuSec: +r.childCpuSec.toFixed(1), otherCores: +r.otherCores.toFixed(2), timingsMs: r.result.timingsMs, loudness: r.result.loudness, size: r.result.size })),
      floors: floors && Object.fromEntries(Object.entries(floors).map(([k, v]) => [k, { sec: +v.sec.toFixed(2), otherCores: +v.otherCores.toFixed(2) }])),
      targetXRealtime: 50,
    };
    if (opt.json) console.log(JSON.stringify(summary, null, 2));
    else {
      console.log(
        `ingest: ${MINUTES}-minute ${opt.format} programme on ${machine.cores}× ${machine.cpu}, ${machine.node}, ${ffmpegVersion.replace(/ Copyright.*/, '')}, load ${loadBefore.join(' ')} → ${loadAfter.join(' ')}`,
      );
      console.log(`median of ${RUNS}: ${median.wallSec.toFixed(2)} s = ${median.xRealtime.toFixed(1)}× real time (target ≥ 50×)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
