import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planRecovery, RESTART_REASON } from '../../device/recovery-plays.js';
import type { PlayRequest } from '../../device/arbiter.js';
import type { InflightRow } from '../../device/store.js';

// What a restart makes of the arbiter's state the store kept: pure, so every
// case is a line (the processes around it: test/faults/crash-play).

const T = '2026-11-26T23:00:00.000Z';
const req = (id: string, o: Partial<PlayRequest> = {}): PlayRequest => ({ id, level: 'normal', source: 'programme', programme: id.split('@')[0]!, title: 'Tin', segments: [{ kind: 'asset', sha256: 'a'.repeat(64), durationMs: 25_000 }], volume: 60, resumable: false, notAfter: null, endBy: null, requiresTrustedClock: true, ...o });
const row = (r: PlayRequest, o: Partial<InflightRow> = {}): InflightRow => ({ id: r.id, request: JSON.stringify(r), phase: 'playing', firstStartedAt: T, offsetMs: 7000, progressAt: '2026-11-26T23:00:07.000Z', interruptedBy: null, ...o });

test('a cut play that may not resume is reported interrupted, to the last instant it was known to play, with what it played', () => {
  const p = planRecovery([row(req('tin@1'))], '2026-11-26T23:05:00.000Z');
  assert.equal(p.report, [{ outcome: 'interrupted', level: 'normal', source: 'programme', start: T, end: '2026-11-26T23:00:07.000Z', volume: 60, rule: 'restart', reason: RESTART_REASON, playedMs: 7000, programme: 'tin', title: 'Tin' }]);
  assert.equal(p.requeue, []);
});

test('a resumable one goes back with its offset, first start and cut instant; a waiting one goes back as it was; emergencies are the desk\'s', () => {
  const resumable = req('sang@1', { resumable: true });
  const waiting = req('trua@2');
  const alert = req('e1', { level: 'emergency', source: 'emergency', emergency: '0b6f5d8e-3c1a-4b7e-9a52-6f1d2c3b4a5e', requiresTrustedClock: false });
  const p = planRecovery([row(resumable), row(waiting, { phase: 'waiting', firstStartedAt: null, offsetMs: 0, progressAt: null }), row(alert), { ...row(req('x')), request: '{broken' }], T);
  assert.equal(p.report, []);
  assert.equal(
    p.requeue.map((r) => [r.req.id, r.resume]),
    [
      ['sang@1', { offsetMs: 7000, firstStartedAt: Date.parse(T), cutAt: Date.parse('2026-11-26T23:00:07.000Z') }],
      ['trua@2', null],
    ],
  );
  assert.equal(p.emergencies.map((r) => r.id), ['e1']);
});

test('a live session is never resumed after a restart: the cut one is reported interrupted, one that had not started refused', () => {
  const live = (id: string) => req(id, { level: 'live', source: 'live', title: 'Họp dân', segments: [{ kind: 'live', session: id, durationMs: null }], resumable: true, requiresTrustedClock: false });
  const p = planRecovery([row(live('5b9d6a60-0000-4000-8000-000000000001')), row(live('5b9d6a60-0000-4000-8000-000000000002'), { phase: 'waiting', firstStartedAt: null, offsetMs: 0, progressAt: null })], '2026-11-26T23:05:00.000Z');
  assert.equal(p.requeue, [], 'nothing goes back to the arbiter: the province re-sends the open of a session still on air');
  assert.equal(
    p.report.map((d) => [d.outcome, d.source, d.rule, d.title]),
    [
      ['interrupted', 'live', 'restart', 'Họp dân'],
      ['refused', 'live', 'restart', 'Họp dân'],
    ],
  );
  assert.is(p.report[0]!.playedMs, 7000);
});

test.run();
