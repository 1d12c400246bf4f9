import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AssetLibrary } from '../../provisioning/library.js';
import { Registry } from '../../provisioning/registry.js';
import { isLoaError } from '../../protocol/errors.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';

// An ffmpeg killed under an ingest (the OOM killer, an operator's kill) —
// whichever process of a pass it is: the decoder's partner too, the meter it
// pipes into, the encoder, the verifier. The editor must learn at once that
// the upload was interrupted, not wait for a job that never ends, and the
// console must not keep processes or tens of MB in /tmp for it.

const files = tempDir('loa-ingest-killed-');
/** A 10-minute recording: pass 1 takes seconds, pass 2 several more, long enough to be cut in either. */
const LONG = join(files, 'hop-hoi-dong.wav');
execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=600:sample_rate=16000', '-ac', '1', LONG]);

const registry = Registry.init(tempDir('loa-prov-'), { brokerUrls: ['mqtt://127.0.0.1:1883'] }, { scryptLogN: 12 });
const library = new AssetLibrary(registry);

test.after(() => {
  registry.close();
  cleanupTempDirs();
});

/** The ffmpeg processes this test process runs, with their arguments (Linux /proc). */
function ffmpegChildren(): { pid: number; args: string[] }[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid || comm !== 'ffmpeg') return [];
      return [{ pid: Number(d), args: readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0') }];
    } catch {
      return [];
    }
  });
}

const input = (args: string[]) => args[args.indexOf('-i') + 1];
const format = (args: string[]) => args[args.indexOf('-f') + 1];
/** The processes of a pass, by what they read: the decoder reads the upload; the others read a pipe from Node. */
const ROLES = {
  'the meter of pass 1 (raw PCM from the decoder)': (a: string[]) => input(a) === 'pipe:0' && format(a) === 'f32le' && a.includes('null'),
  'the Opus encoder of pass 2': (a: string[]) => input(a) === 'pipe:0' && a.includes('libopus'),
  'the verifier of pass 2 (the encoded Ogg)': (a: string[]) => input(a) === 'pipe:0' && format(a) === 'ogg',
} as const;

/** Settles within `ms`, or says it is still waiting. */
function within<T>(p: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | 'still waiting'> {
  return Promise.race([
    p.then((value) => ({ value }), (error: unknown) => ({ error })),
    new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), ms).unref()),
  ]);
}

for (const [role, is] of Object.entries(ROLES)) {
  test(`${role} killed mid-ingest: the ingest fails at once as interrupted, no ffmpeg left running, no temporary folder left`, async () => {
    // The ingest's temporary folders land here: what it leaves is observable here and nowhere else.
    const TMP = tempDir('loa-tmp-');
    process.env.TMPDIR = TMP;
    let progress = 0;
    const ingest = library.importAudio(LONG, { title: 'Họp hội đồng nhân dân', actor: 'editor' }, { onProgress: (f) => (progress = f) });
    const victim = await waitFor(() => ffmpegChildren().find((c) => is(c.args)) ?? null, { timeoutMs: 30_000, intervalMs: 10, what: role });
    // Under way, well before its end: its pipes are full and flowing.
    const start = progress;
    await waitFor(() => progress > start + 0.02, { timeoutMs: 30_000, intervalMs: 10, what: 'the pass under way' });
    process.kill(victim.pid, 'SIGKILL');

    const r = await within(ingest, 5_000);
    assert.ok(r !== 'still waiting', `the ingest still waits 5 s after ${role} was killed; running: ${ffmpegChildren().map((c) => c.pid).join(' ')}`);
    assert.ok('error' in r, 'the ingest failed');
    const e = r.error;
    assert.ok(isLoaError(e), String(e));
    assert.is(e.code, 'LOA_E_INGEST_INTERRUPTED', e.message);
    assert.is(e.message, 'interrupted: ffmpeg was killed before the ingest finished (the file is not at fault); upload the file again');
    assert.equal(ffmpegChildren(), [], 'no ffmpeg left running');
    assert.equal(readdirSync(TMP), [], 'no temporary folder left');
    assert.equal(library.list(), [], 'nothing added to the library');
  });
}

/** An ffmpeg or ffprobe that says `says` on stderr, then is killed (SIGKILL) where its arguments match `when`; otherwise the real one. */
function killedAfter(tool: 'ffmpeg' | 'ffprobe', when: string, says: string): string {
  const script = join(files, `${tool}-killed.sh`);
  writeFileSync(script, `#!/bin/sh\ncase "$*" in *${when}*) echo "${says}" >&2; kill -9 $$;; esac\nexec ${tool} "$@"\n`);
  chmodSync(script, 0o755);
  return script;
}

// What a killed tool printed before it died is not a reason to blame the
// file: the failure carries the signal, whatever the last words were.
const KILLED_TOOLS = [
  { tool: 'ffmpeg', env: 'FFMPEG_PATH', when: 'pipe:1', says: '[mp3float @ 0x5581] [error] Header missing', what: 'the decoder, after it logged a decoding error' },
  { tool: 'ffprobe', env: 'FFPROBE_PATH', when: '-show_streams', says: '[error] Invalid data found when processing input', what: 'ffprobe' },
] as const;
for (const k of KILLED_TOOLS) {
  test(`${k.what} killed: interrupted, naming ${k.tool}, not "the file is damaged"`, async () => {
    const TMP = tempDir('loa-tmp-');
    process.env.TMPDIR = TMP;
    process.env[k.env] = killedAfter(k.tool, k.when, k.says);
    try {
      const e = await library.importAudio(LONG, { title: 'Họp hội đồng nhân dân', actor: 'editor' }).then(
        () => assert.unreachable('accepted'),
        (e: unknown) => e,
      );
      assert.ok(isLoaError(e), String(e));
      assert.is(e.code, 'LOA_E_INGEST_INTERRUPTED', e.message);
      assert.is(e.message, `interrupted: ${k.tool} was killed before the ingest finished (the file is not at fault); upload the file again`);
      assert.equal(readdirSync(TMP), [], 'no temporary folder left');
    } finally {
      delete process.env[k.env];
    }
  });
}

test.run();
