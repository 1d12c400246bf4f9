import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectedCode } from '../helpers/errors.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandEngine, createTtsEngine, textToSpeech } from '../../audio/tts/engine.js';
import { parseWav } from '../../audio/tts/wav.js';
import type { ErrorCode } from '../../protocol/errors.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

// An external TTS command, played here by a shell script standing in for a
// neural voice: it records its argv, environment and stdin, and answers a
// 440 Hz WAV made by ffmpeg, 10 ms per byte of text (written to a pipe, so
// with placeholder sizes, as real programs do).

const dir = tempDir('loa-tts-cmd-');
const script = join(dir, 'fake-tts.sh');
writeFileSync(
  script,
  `#!/bin/sh
d=$(dirname "$0")
cat > "$d/stdin.txt"
printf '%s\\n' "$@" > "$d/argv.txt"
printf '%s|%s' "$LOA_TTS_VOICE" "$LOA_TTS_SPEED" > "$d/env.txt"
n=$(wc -c < "$d/stdin.txt")
exec ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "sine=frequency=440:duration=$(awk "BEGIN{print $n/100}")" -ac 1 -ar 16000 -f wav pipe:1
`,
);
const read = (f: string) => readFileSync(join(dir, f), 'utf8');
test.after(() => cleanupTempDirs());

async function rejects(p: Promise<unknown>, code: ErrorCode, words: RegExp, reason?: string): Promise<void> {
  const e = await rejectedCode(p, code);
  assert.match(e.message, words);
  if (reason) assert.is(e.context.reason, reason);
}

test('the text reaches the command on stdin, normalised; {voice} and {speed} fill its argv and environment', async () => {
  const engine = createTtsEngine({ engine: 'command', command: ['sh', script, '--voice', '{voice}', '--rate={speed}'], voice: 'vi-hn-female' });
  const wav = await textToSpeech('Họp lúc 7h30 ngày 26/11.', { engine, speed: 0.8 });
  const said = 'Họp lúc bảy giờ ba mươi phút ngày hai mươi sáu tháng mười một.';
  assert.is(read('stdin.txt'), said);
  assert.equal(read('argv.txt').trim().split('\n'), ['--voice', 'vi-hn-female', '--rate=0.8']);
  assert.is(read('env.txt'), 'vi-hn-female|0.8');
  const info = parseWav(wav);
  assert.is(info.sampleRate, 16000);
  assert.is(info.streamed, false);
  const want = Buffer.byteLength(said) * 10;
  assert.ok(Math.abs(info.durationMs - want) < 30, `${info.durationMs} ms, want ${want}`);
});

test('shell syntax in the text is only text', async () => {
  const marker = join(dir, 'pwned');
  const text = `Chú ý $(touch ${marker}); \`touch ${marker}\` | rm -rf ${dir}`;
  await textToSpeech(text, { engine: new CommandEngine({ command: ['sh', script] }), normalize: false });
  assert.is(read('stdin.txt'), text);
  assert.not.ok(existsSync(marker));
});

test('a failing command: its exit status and stderr are in the error', async () => {
  const engine = new CommandEngine({ command: ['sh', '-c', 'cat >/dev/null; echo "cannot load model /opt/piper/vi.onnx" >&2; exit 3'] });
  await rejects(textToSpeech('xin chào', { engine }), 'LOA_E_TTS_FAILED', /sh exited with status 3: cannot load model \/opt\/piper\/vi\.onnx/, 'exit');
  const killed = new CommandEngine({ command: ['sh', '-c', 'kill -9 $$'] });
  await rejects(killed.synthesize('xin chào'), 'LOA_E_TTS_FAILED', /was killed by SIGKILL/, 'exit');
});

test('a command that hangs is killed at its timeout', async () => {
  const t0 = Date.now();
  await rejects(new CommandEngine({ command: ['sleep', '30'], timeoutMs: 300 }).synthesize('xin chào'), 'LOA_E_TTS_FAILED', /did not finish within 300 ms/, 'timeout');
  assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
});

test('output that is too large, or not a WAV, is refused', async () => {
  const big = new CommandEngine({ command: ['sh', script], maxBytes: 10_000 });
  await rejects(big.synthesize('một đoạn văn bản khá dài để tạo ra âm thanh dài hơn giới hạn'), 'LOA_E_TTS_FAILED', /wrote more than 10000 bytes/, 'too-large');
  const text = new CommandEngine({ command: ['sh', '-c', 'cat >/dev/null; echo "hello"'] });
  await rejects(textToSpeech('xin chào', { engine: text }), 'LOA_E_TTS_FAILED', /TTS engine command returned 6 bytes that cannot be used: .*RIFF\/WAVE/, 'not-wav');
});

test('{voice} in the command with no voice anywhere is a config error, before anything runs', async () => {
  await rejects(new CommandEngine({ command: ['sh', script, '{voice}'] }).synthesize('xin chào'), 'LOA_E_CONFIG_INVALID', /uses \{voice\} but no voice/);
  await rejects(new CommandEngine({ command: ['sh', script] }).synthesize('x', { voice: '-o/etc/passwd' }), 'LOA_E_CONFIG_INVALID', /not a voice name/);
});

test.run();
