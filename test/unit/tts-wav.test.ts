import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseWav, sealWav } from '../../audio/tts/wav.js';
import { isLoaError } from '../../protocol/errors.js';

// The WAV checks textToSpeech applies to whatever an engine returns.

/** A 16-bit mono WAV of `frames` samples; `dataSize` overrides the data chunk's size field (a pipe writer's placeholder). */
function wav(frames: number, opts: { rate?: number; dataSize?: number; riffSize?: number; extra?: Buffer } = {}): Buffer {
  const rate = opts.rate ?? 22050;
  const extra = opts.extra ?? Buffer.alloc(0);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(opts.riffSize ?? 36 + extra.length + frames * 2, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  const fmt = h.subarray(0, 36);
  const data = Buffer.alloc(8 + frames * 2);
  data.write('data', 0, 'latin1');
  data.writeUInt32LE(opts.dataSize ?? frames * 2, 4);
  for (let i = 0; i < frames; i++) data.writeInt16LE(Math.round(8000 * Math.sin(i / 5)), 8 + i * 2);
  return Buffer.concat([fmt, extra, data]);
}

function refused(buf: Buffer, words: RegExp) {
  try {
    parseWav(buf);
  } catch (e) {
    assert.ok(isLoaError(e, 'LOA_E_AUDIO_INVALID'), String(e));
    assert.match((e as Error).message, words);
    return;
  }
  assert.unreachable('should be refused');
}

test('a well-formed WAV: format, duration, and sealWav returns it unchanged', () => {
  const b = wav(22050);
  const info = parseWav(b);
  assert.equal({ format: info.format, channels: info.channels, sampleRate: info.sampleRate, bitsPerSample: info.bitsPerSample, streamed: info.streamed }, { format: 1, channels: 1, sampleRate: 22050, bitsPerSample: 16, streamed: false });
  assert.is(info.durationMs, 1000);
  assert.is(sealWav(b), b);
});

test('a streamed WAV (espeak-ng --stdout writes 0x7ffff000-ish sizes) runs to the end; sealWav writes the real sizes', () => {
  const b = wav(11025, { dataSize: 0x7ffff000, riffSize: 0x7ffff024 });
  const info = parseWav(b);
  assert.ok(info.streamed);
  assert.is(info.durationMs, 500);
  const sealed = sealWav(b);
  assert.is(sealed.readUInt32LE(4), sealed.length - 8);
  assert.is(sealed.readUInt32LE(40), 11025 * 2);
  assert.ok(sealed.subarray(44).equals(b.subarray(44)), 'the samples are untouched');
  assert.is(parseWav(sealed).streamed, false);
  // A half frame at the end of a stream is dropped.
  const odd = Buffer.concat([b, Buffer.from([1])]);
  assert.is(sealWav(odd).length, sealed.length);
});

test('chunks before data (LIST) are skipped', () => {
  const list = Buffer.alloc(8 + 6);
  list.write('LIST', 0, 'latin1');
  list.writeUInt32LE(6, 4);
  const info = parseWav(wav(100, { extra: list }));
  assert.is(info.dataOffset, 36 + 14 + 8);
  assert.is(info.dataBytes, 200);
});

test('what is refused', () => {
  refused(Buffer.from('ID3\x04 an mp3'), /RIFF\/WAVE/);
  refused(Buffer.alloc(0), /RIFF\/WAVE/);
  const noFmt = Buffer.concat([Buffer.from('RIFF\x04\x00\x00\x00WAVE', 'latin1'), Buffer.from('data\x00\x00\x00\x00', 'latin1')]);
  refused(noFmt, /data chunk before the fmt chunk/);
  const mulaw = wav(10);
  mulaw.writeUInt16LE(7, 20);
  refused(mulaw, /sample format 7/);
  refused(wav(10).subarray(0, 36), /no data chunk/);
});

test.run();
