import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bestEncoding, finalTarget, linearAccepted, meetsTarget, METER, nextAim, parseEbur128, parseLoudnorm, route } from '../../audio/ingest-loudness.js';

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

const T = { I: -16, TP: -1.5, LRA: 11 };
const stats = (I: number, TP: number) => ({ I, TP, LRA: 1.3, thresh: I - 10 });

test('a peak landing exactly on the ceiling is not claimed linear: loudnorm\'s own sum can come out a hair over', () => {
  // -4.00 + (-16 - -16.30) is -3.70 on paper; loudnorm took it as over -3.70 and ran dynamically.
  assert.not.ok(linearAccepted({ I: -16.3, TP: -4.0, LRA: 4.3, thresh: -26.3 }, { I: -16, TP: -3.7, LRA: 11 }));
  assert.ok(linearAccepted({ I: -16.3, TP: -4.1, LRA: 4.3, thresh: -26.3 }, { I: -16, TP: -3.7, LRA: 11 }));
  // A calibration whose peaks do not allow the full gain gets an I loudnorm still takes linearly.
  const c = { gainDb: 5, stats: { I: -17, TP: -2.0, LRA: 2, thresh: -27 } };
  assert.ok(linearAccepted(c.stats, finalTarget(c, T)));
});

test('loudnorm\'s report: the mode and the true peak it handed on', () => {
  const log = '[Parsed_loudnorm_3 @ 0x5] \n{\n\t"input_i" : "-16.34",\n\t"input_tp" : "-2.50",\n\t"input_lra" : "8.00",\n\t"input_thresh" : "-26.42",\n\t"output_i" : "-16.00",\n\t"output_tp" : "-2.16",\n\t"output_lra" : "8.00",\n\t"output_thresh" : "-26.08",\n\t"normalization_type" : "linear",\n\t"target_offset" : "0.00"\n}\n';
  assert.equal(parseLoudnorm(log), { I: -16.34, TP: -2.5, LRA: 8, thresh: -26.42, type: 'linear', outputTP: -2.16 });
});

test('the stored asset keeps the target: true peak at or under it, loudness within 0.5 LU', () => {
  assert.ok(meetsTarget(stats(-16.3, -1.5), T));
  assert.not.ok(meetsTarget(stats(-16.1, -0.5), T), 'Opus\' overshoot over the ceiling');
  assert.not.ok(meetsTarget(stats(-17.6, -3.0), T), 'broadband sound that lost loudness in the codec');
});

test('next aim: the ceiling goes under the target by the codec\'s overshoot and a margin, the loudness aim up by what it lost', () => {
  // Handed the encoder -2.2 dBTP, decoded -0.5: 1.7 dB of overshoot.
  assert.equal(nextAim(T, -2.2, stats(-16.3, -0.5), T), { I: -16, TP: -3.5, LRA: 11 });
  // Unknown hand-over peak: taken as the ceiling itself.
  assert.equal(nextAim(T, NaN, stats(-16.1, -0.5), T), { I: -16, TP: -2.8, LRA: 11 });
  // Always a margin under the last ceiling: a peak still over the target means a larger overshoot than the last aim allowed for.
  assert.equal(nextAim({ ...T, TP: -3.5 }, -3.6, stats(-16.2, -1.4), T).TP, -4);
  assert.equal(nextAim({ ...T, TP: -3.5 }, -2.0, stats(-16.2, -1.4), T).TP, -3.9, "a hand-over peak over the ceiling is read as the ceiling");
  // Loudness lost (pink noise at 32 kbit/s) is aimed for; the peaks were fine.
  assert.equal(nextAim(T, -1.6, stats(-17.6, -3.0), T), { I: -14.4, TP: -1.5, LRA: 11 });
  // Within what loudnorm accepts.
  assert.equal(nextAim({ ...T, TP: -8.5 }, -8.5, stats(-16, 0), T).TP, -9);
});

test('the encoding kept: the first on target, else the nearest in loudness under the ceiling, else the lowest peak', () => {
  const e = (I: number, TP: number, name: string) => ({ output: stats(I, TP), name });
  assert.is(bestEncoding([e(-16.1, -0.5, 'a'), e(-16.2, -2.0, 'b'), e(-16.0, -1.9, 'c')], T).name, 'b');
  assert.is(bestEncoding([e(-16.1, -0.5, 'a'), e(-17.2, -1.8, 'b'), e(-16.9, -1.6, 'c')], T).name, 'c');
  assert.is(bestEncoding([e(-16.1, -0.5, 'a'), e(-16.2, -0.9, 'b')], T).name, 'b');
  assert.throws(() => bestEncoding([], T));
});

test.run();
