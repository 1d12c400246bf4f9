import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { LOA_BIN } from '../helpers/processes.js';
import { readWav } from '../helpers/audio.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';

// The whole system in one command, as a newcomer runs it: `loa demo
// --emergency` headless. Every village must sound the exercise alert and,
// on the next minute, the TTS bulletin — heard in its WAV "loudspeaker" (this run's).
// Slow (the bulletin starts on a whole minute, up to 80 s away).
test.after(cleanupTempDirs);

const VILLAGES = ['dak-ha-thon-1', 'dak-ha-thon-3', 'son-tay-lang-ra'];

/** Seconds of the WAV with sound in it, in 100 ms windows. */
function audibleSeconds(file: string): number {
  const w = readWav(file);
  const win = w.sampleRate / 10;
  let audible = 0;
  for (let i = 0; i + win <= w.samples.length; i += win) {
    let sum = 0;
    for (let j = i; j < i + win; j++) sum += w.samples[j]! * w.samples[j]!;
    if (Math.sqrt(sum / win) > 300) audible++;
  }
  return audible / 10;
}

test('loa demo --emergency: each village plays the exercise alert and the bulletin into its WAV, and the roll-up reaches finished', async () => {
  const dir = tempDir('loa-demo-');
  const child = spawn(process.execPath, [LOA_BIN, 'demo', '--port', '0', '--http-port', '0', '--panel-port', '0', '--data', dir, '--emergency'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const played = (village: string, what: RegExp) => out.split('\n').some((l) => l.startsWith(`  ${village}: `) && what.test(l));
  try {
    await waitFor(() => /Ctrl-C/.test(out), { timeoutMs: 60_000, what: `demo start:\n${out}` });
    assert.match(out, /province console\): http:\/\/127\.0\.0\.1:\d+\//);
    assert.match(out, /phe-duyet +\S{20,} +lãnh đạo phê duyệt/);
    await waitFor(() => /exercise roll-up\) — quang-ngai\/dak-ha: đã phát xong 2 · quang-ngai\/son-tay: đã phát xong 1/.test(out), { timeoutMs: 90_000, what: `roll-up finished:\n${out}` });
    await waitFor(() => VILLAGES.every((v) => played(v, /"Bản tin tiêm phòng gia súc" đã phát \(played\)/)), { timeoutMs: 150_000, what: `bulletin played everywhere:\n${out}` });
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
  assert.is(child.exitCode, 0, out);
  // Each run records into a directory of its own, printed when it stops.
  const recordings = /^Bản ghi của lần chạy này \(this run's recordings\): (.+)$/m.exec(out)?.[1];
  assert.ok(recordings, out);
  for (const v of VILLAGES) {
    assert.ok(played(v, /khẩn cấp \(emergency\) đã phát \(played\)/), `${v} played the exercise`);
    const seconds = (re: RegExp) => Number(out.split('\n').find((l) => l.startsWith(`  ${v}: `) && re.test(l))!.match(/played\) ([\d.]+) s/)![1]);
    const expected = seconds(/khẩn cấp/) + seconds(/Bản tin tiêm phòng/);
    const heard = audibleSeconds(join(recordings, `${v}.wav`));
    // Speech has pauses, so not every 100 ms of the bulletin is loud; nothing else plays, so no more than both.
    assert.ok(heard >= expected * 0.6 && heard <= expected + 1, `${v}: ${heard} s audible of ${expected} s played`);
  }
  // Son Tay's rule profile caps it lower than Dak Ha: the most restrictive rule wins.
  assert.ok(played('son-tay-lang-ra', /Bản tin.*âm lượng 60%/), out);
  assert.ok(played('dak-ha-thon-1', /Bản tin.*âm lượng 70%/), out);
});

test.run();
