import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandEngine, EspeakEngine, HttpEngine, createTtsEngine, textToSpeech, type TtsEngine } from '../../audio/tts/engine.js';
import { espeakWpm } from '../../audio/tts/espeak-engine.js';
import { isLoaError } from '../../protocol/errors.js';

// Building engines from config (no I/O), and what textToSpeech does around
// an engine: normalise first, refuse what is not a WAV.

function problemsOf(config: unknown): string[] {
  try {
    createTtsEngine(config as never);
  } catch (e) {
    assert.ok(isLoaError(e, 'LOA_E_CONFIG_INVALID'), String(e));
    return (e as unknown as { context: { problems: string[] } }).context.problems;
  }
  return [];
}

test('each engine from its config', () => {
  assert.instance(createTtsEngine({ engine: 'espeak' }), EspeakEngine);
  assert.instance(createTtsEngine({ engine: 'command', command: ['piper', '--output_file', '-'], timeoutMs: 5000 }), CommandEngine);
  assert.instance(createTtsEngine({ engine: 'http', url: 'http://127.0.0.1:5002/tts', voice: 'vi-female', speed: 0.9 }), HttpEngine);
});

test('every problem is reported at once, in words that say how to fix it', () => {
  const p = problemsOf({ engine: 'http', url: 'ftp://x', speed: 3, voice: '--model=/etc/passwd', timeoutMs: -1, colour: 'red' });
  assert.is(p.length, 5, p.join('\n'));
  assert.ok(p.some((s) => /tts\.colour is not a setting/.test(s)));
  assert.ok(p.some((s) => /http:\/\/ or https:\/\//.test(s)));
  assert.ok(p.some((s) => /0\.5 to 2/.test(s)));
  assert.ok(p.some((s) => /not a voice name/.test(s)));
  assert.ok(p.some((s) => /timeoutMs/.test(s)));
  assert.match(problemsOf({ engine: 'command' })[0]!, /array of strings/);
  assert.match(problemsOf({ engine: 'command', command: [] })[0]!, /array of strings/);
  assert.match(problemsOf({ engine: 'festival' })[0]!, /"espeak", "command" or "http"/);
  assert.equal(problemsOf(null), ['tts config must be an object']);
});

test('speed is a factor: espeak-ng maps 1 to 150 words per minute, within its 80–450', () => {
  assert.is(espeakWpm(1), 150);
  assert.is(espeakWpm(0.8), 120);
  assert.is(espeakWpm(2), 300);
  assert.is(espeakWpm(0.5), 80);
});

/** An engine that records what it was asked and answers with fixed bytes. */
function fake(answer: Buffer): TtsEngine & { asked: { text: string; opts: unknown }[] } {
  const asked: { text: string; opts: unknown }[] = [];
  return { name: 'fake', asked, synthesize: async (text, opts) => (asked.push({ text, opts }), answer) };
}

const tinyWav = (() => {
  const b = Buffer.alloc(44 + 200);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(b.length - 8, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(16000, 24);
  b.writeUInt32LE(32000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(200, 40);
  return b;
})();

test('textToSpeech normalises before the engine speaks, and passes voice and speed on', async () => {
  const e = fake(tinyWav);
  const out = await textToSpeech('UBND xã họp lúc 7h30.', { engine: e, voice: 'vi', speed: 0.9 });
  assert.ok(out.equals(tinyWav));
  assert.equal(e.asked, [{ text: 'Ủy ban nhân dân xã họp lúc bảy giờ ba mươi phút.', opts: { voice: 'vi', speed: 0.9 } }]);
  await textToSpeech('7h30', { engine: e, normalize: false });
  assert.is(e.asked[1]!.text, '7h30');
});

test('textToSpeech refuses empty text, non-WAV answers and a WAV without samples, naming the engine', async () => {
  const cases: [TtsEngine, string, RegExp][] = [
    [fake(tinyWav), '   ', /nothing to say/],
    [fake(Buffer.from('ID3 not a wav at all')), 'xin chào', /TTS engine fake returned 20 bytes .*RIFF\/WAVE/],
    [fake(tinyWav.subarray(0, 44)), 'xin chào', /TTS engine fake .*holds no samples/],
  ];
  for (const [engine, text, words] of cases) {
    try {
      await textToSpeech(text, { engine });
      assert.unreachable(`${text} should fail`);
    } catch (e) {
      assert.ok(isLoaError(e, 'LOA_E_TTS_FAILED'), String(e));
      assert.match((e as Error).message, words);
    }
  }
});

test.run();
