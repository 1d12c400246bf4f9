import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { METER, parseEbur128, route } from '../../audio/ingest-loudness.js';

// Reading ebur128's summary, which pass 1 measures with (ffmpeg 5.1's wording).

const summary = (I: string, thresh: string, lra: string, peak: string) => `[Parsed_ebur128_1 @ 0x55f8] [info] Summary:

  Integrated loudness:
    I:         ${I} LUFS
    Threshold: ${thresh} LUFS

  Loudness range:
    LRA:         ${lra} LU
    Threshold: -36.7 LUFS
    LRA low:   -19.0 LUFS
    LRA high:  -15.2 LUFS

  True peak:
    Peak:       ${peak} dBFS
`;

test('a programme: I, its gate, LRA and true peak', () => {
  assert.equal(parseEbur128('[info] t: 0.1 M: -20\n' + summary('-16.1', '-26.7', '3.7', '2.8')), { I: -16.1, thresh: -26.7, LRA: 3.7, TP: 2.8 });
});

test('silence: ebur128 prints its absolute gate (-70) and a peak of -inf; it reads as no loudness at all', () => {
  const s = parseEbur128(summary('-70.0', '0.0', '0.0', '-inf'));
  assert.ok(s);
  assert.is(s.I, -Infinity);
  assert.is(s.TP, -Infinity);
});

test('no summary (ffmpeg stopped early): null', () => {
  assert.is(parseEbur128('[error] Conversion failed!\n'), null);
});

test('the measured values choose the route as loudnorm would have', () => {
  const target = { I: -16, TP: -1.5, LRA: 11 };
  assert.is(route({ I: -33.0, thresh: -43.0, LRA: 0, TP: -30.0 }, target).method, 'linear');
  assert.is(route({ I: -16.1, thresh: -26.7, LRA: 3.7, TP: 2.8 }, target).method, 'limited');
  assert.is(route({ I: -19.3, thresh: -31.3, LRA: 14.3, TP: 0.1 }, target).method, 'range-compressed');
});

test('the meter measures true peak and does not log every 100 ms', () => {
  assert.match(METER, /^ebur128=/);
  assert.match(METER, /peak=true/);
  assert.match(METER, /framelog=verbose/);
});

test.run();
