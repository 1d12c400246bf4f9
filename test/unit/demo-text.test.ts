import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nextDaily, runStamp, untilText } from '../../cli/demo-text.js';

// `loa demo` prints Vietnam time; beside each time, how far away it is.

test('how long until, in Vietnamese then English, to the second under a minute', () => {
  assert.is(untilText(45_000), 'sau 45 giây (in 45 s)');
  assert.is(untilText(44_600), 'sau 45 giây (in 45 s)');
  assert.is(untilText(65_000), 'sau 1 phút 5 giây (in 1 min 5 s)');
  assert.is(untilText(120_000), 'sau 2 phút (in 2 min)');
  assert.is(untilText((13 * 60 + 2) * 60_000 + 30_000), 'sau 13 giờ 2 phút (in 13 h 2 min)');
  assert.is(untilText(3 * 3600_000), 'sau 3 giờ (in 3 h)');
  assert.is(untilText(-2000), 'ngay bây giờ (now)');
});

test('the next 06:30 in Vietnam, from a machine whose own clock reads UTC', () => {
  // 23:00 UTC is 06:00 the next morning in Vietnam: 06:30 is half an hour away, not 7 h 30.
  assert.is(nextDaily(Date.parse('2026-12-03T23:00:00Z'), '06:30'), Date.parse('2026-12-03T23:30:00Z'));
  // 00:00 UTC is 07:00 in Vietnam: 06:30 has passed, next is tomorrow's.
  assert.is(nextDaily(Date.parse('2026-12-04T00:00:00Z'), '06:30'), Date.parse('2026-12-04T23:30:00Z'));
  // Exactly at it: the next one, a day on.
  assert.is(nextDaily(Date.parse('2026-12-03T23:30:00Z'), '06:30'), Date.parse('2026-12-04T23:30:00Z'));
});

test('a run\'s recordings are named for its start in Vietnam time', () => {
  assert.is(runStamp(Date.parse('2026-12-03T17:31:05.400Z')), '2026-12-04_00-31-05');
});

test.run();
