import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initialState, step, type ArbiterEvent, type ArbiterState, type Effect, type PlayRequest } from '../../device/arbiter.js';

const T0 = Date.parse('2026-11-26T23:00:00.000Z'); // 06:00 in Vietnam
const min = 60_000;

function req(id: string, level: PlayRequest['level'], o: Partial<PlayRequest> = {}): PlayRequest {
  return {
    id,
    level,
    source: level === 'emergency' ? 'emergency' : level === 'live' ? 'live' : 'programme',
    segments: [{ kind: 'asset', sha256: id.padEnd(64, '0').slice(0, 64), durationMs: 20 * min }],
    volume: 70,
    resumable: false,
    notAfter: null,
    endBy: null,
    requiresTrustedClock: level === 'normal' || level === 'priority',
    ...o,
  };
}

/** Runs events in order and returns the final state and every effect. */
function run(events: ArbiterEvent[], clockTrusted = true): { state: ArbiterState; effects: Effect[] } {
  let state = initialState(clockTrusted);
  const effects: Effect[] = [];
  for (const e of events) {
    const r = step(state, e);
    state = r.state;
    effects.push(...r.effects);
  }
  return { state, effects };
}

const plays = (fx: Effect[]) => fx.filter((e): e is Extract<Effect, { type: 'play' }> => e.type === 'play').map((e) => `${e.req.id}@${e.fromMs / 1000}s`);
const logs = (fx: Effect[]) => fx.filter((e): e is Extract<Effect, { type: 'log' }> => e.type === 'log').map((e) => e.data);

test('a higher level preempts at once; a resumable programme resumes where it was cut', () => {
  const bulletin = req('bulletin', 'normal', { resumable: true, notAfter: T0 + 90 * min });
  const alert = req('alert', 'emergency', { segments: [{ kind: 'tone', tone: 'alert', durationMs: 3000 }, { kind: 'asset', sha256: 'a'.repeat(64), durationMs: 57_000 }] });
  const { effects, state } = run([
    { type: 'request', req: bulletin, at: T0 },
    { type: 'request', req: alert, at: T0 + 5 * min },
    { type: 'ended', id: 'alert', at: T0 + 6 * min },
    { type: 'ended', id: 'bulletin', at: T0 + 21 * min },
  ]);
  assert.equal(plays(effects), ['bulletin@0s', 'alert@0s', 'bulletin@300s']);
  const l = logs(effects);
  assert.equal(l.map((x) => `${x.outcome}:${x.level}`), ['played:emergency', 'played:normal']);
  assert.is(l[1]!.start, new Date(T0).toISOString(), 'the resumed bulletin is logged once, from its first start');
  assert.is(l[1]!.end, new Date(T0 + 21 * min).toISOString());
  assert.is(l[1]!.playedMs, 20 * min, 'its airtime is its 20 minutes, not the 21 from first start to end');
  assert.is(l[0]!.playedMs, min);
  assert.is(state.playing, null);
});

test('a play cut by a restart comes back from its offset and is logged once, from its first start, with what it played', () => {
  const bulletin = req('bulletin', 'normal', { resumable: true, notAfter: T0 + 90 * min });
  const { effects } = run([
    // The agent restarted 3 min into the bulletin (the store said so); it goes on from there.
    { type: 'request', req: bulletin, at: T0 + 4 * min, resume: { offsetMs: 3 * min, firstStartedAt: T0 } },
    { type: 'ended', id: 'bulletin', at: T0 + 21 * min },
  ]);
  assert.equal(plays(effects), ['bulletin@180s']);
  const [l] = logs(effects);
  assert.equal([l!.outcome, l!.start, l!.playedMs], ['played', new Date(T0).toISOString(), 20 * min]);
  // Past its window by then: reported interrupted, with what it had played.
  const late = run([{ type: 'request', req: { ...bulletin, notAfter: T0 + 2 * min }, at: T0 + 4 * min, resume: { offsetMs: 90_000, firstStartedAt: T0 } }]);
  assert.equal(plays(late.effects), []);
  assert.equal(logs(late.effects).map((x) => [x.outcome, x.playedMs]), [['interrupted', 90_000]]);
  // Behind a higher level that plays now: it waits among the suspended, then resumes.
  const behind = run([
    { type: 'request', req: req('alert', 'emergency', { segments: [{ kind: 'tone', tone: 'alert', durationMs: 3000 }] }), at: T0 + 4 * min },
    { type: 'request', req: bulletin, at: T0 + 4 * min + 100, resume: { offsetMs: 3 * min, firstStartedAt: T0 } },
    { type: 'ended', id: 'alert', at: T0 + 4 * min + 3000 },
  ]);
  assert.equal(plays(behind.effects), ['alert@0s', 'bulletin@180s']);
});

test('a clock step moves what the arbiter holds with it: offsets stay what was played', () => {
  const bulletin = req('bulletin', 'normal', { resumable: true, notAfter: null });
  const { effects } = run([
    { type: 'request', req: bulletin, at: T0 },
    // The province's time answer sets the agent's clock back 3 h, 2 minutes into the play.
    { type: 'clock', trusted: true, at: T0 + 2 * min - 3 * 60 * min, shiftMs: -3 * 60 * min },
    { type: 'ended', id: 'bulletin', at: T0 + 20 * min - 3 * 60 * min },
  ]);
  const [l] = logs(effects);
  assert.is(l!.start, new Date(T0 - 3 * 60 * min).toISOString());
  assert.is(Date.parse(l!.end!) - Date.parse(l!.start), 20 * min);
  assert.is(l!.playedMs, 20 * min);
});

test('a non-resumable item cut by a higher level is logged as interrupted, by what', () => {
  const { effects } = run([
    { type: 'request', req: req('news', 'normal'), at: T0 },
    { type: 'request', req: req('notice', 'priority', { segments: [{ kind: 'asset', sha256: 'b'.repeat(64), durationMs: min }] }), at: T0 + min },
    { type: 'ended', id: 'notice', at: T0 + 2 * min },
  ]);
  assert.equal(plays(effects), ['news@0s', 'notice@0s']);
  const l = logs(effects);
  assert.equal(l.map((x) => `${x.outcome}:${x.level}:${x.interruptedBy ?? ''}`), ['interrupted:normal:priority', 'played:priority:']);
});

test('a resumable item whose window closed while it waited is logged as interrupted, not resumed', () => {
  const bulletin = req('bulletin', 'normal', { resumable: true, notAfter: T0 + 10 * min });
  const { effects } = run([
    { type: 'request', req: bulletin, at: T0 },
    { type: 'request', req: req('live', 'live', { segments: [{ kind: 'stream', url: 'http://x', durationMs: null }], requiresTrustedClock: false }), at: T0 + 2 * min },
    { type: 'cancel', id: 'live', at: T0 + 15 * min, reason: 'live relay stopped' },
  ]);
  assert.equal(plays(effects), ['bulletin@0s', 'live@0s']);
  assert.ok(effects.some((e) => e.type === 'stop' && e.id === 'live'), 'nothing follows: the output stops');
  const l = logs(effects);
  assert.equal(l.map((x) => `${x.outcome}:${x.source}`), ['interrupted:live', 'interrupted:programme']);
  assert.match(l[1]!.reason!, /window closed/);
});

test('same level: first come, first served; the later one starts when the first ends, if its window is open', () => {
  const a = req('a', 'normal', { segments: [{ kind: 'asset', sha256: 'a'.repeat(64), durationMs: 5 * min }] });
  const b = req('b', 'normal', { notAfter: T0 + 10 * min });
  const c = req('c', 'normal', { notAfter: T0 + 3 * min });
  const { effects } = run([
    { type: 'request', req: a, at: T0 },
    { type: 'request', req: b, at: T0 + min },
    { type: 'request', req: c, at: T0 + 2 * min },
    { type: 'ended', id: 'a', at: T0 + 5 * min },
  ]);
  assert.equal(plays(effects), ['a@0s', 'b@0s']);
  const refused = logs(effects).find((x) => x.outcome === 'refused')!;
  assert.is(refused.rule, 'overlap', 'the same rule name the day plan uses');
  assert.is(refused.programme, undefined);
  // Emergencies queue behind each other too, rather than cutting one another.
  const e = run([
    { type: 'request', req: req('e1', 'emergency'), at: T0 },
    { type: 'request', req: req('e2', 'emergency'), at: T0 + 1000 },
  ]);
  assert.equal(plays(e.effects), ['e1@0s']);
  assert.is(e.state.waiting.length, 1);
});

test('with the clock untrusted, programmes are refused and emergencies, live and local announcements still play', () => {
  const { effects } = run(
    [
      { type: 'request', req: req('bulletin', 'normal'), at: T0 },
      { type: 'request', req: req('notice', 'priority'), at: T0 },
      { type: 'request', req: req('local', 'priority', { source: 'local', requiresTrustedClock: false }), at: T0 },
      { type: 'request', req: req('alert', 'emergency'), at: T0 + 1000 },
    ],
    false,
  );
  assert.equal(plays(effects), ['local@0s', 'alert@0s']);
  const refused = logs(effects).filter((x) => x.outcome === 'refused');
  assert.equal(refused.map((x) => x.rule), ['clock-untrusted', 'clock-untrusted']);
  const after = run([{ type: 'clock', trusted: true, at: T0 }, { type: 'request', req: req('bulletin', 'normal'), at: T0 }], false);
  assert.equal(plays(after.effects), ['bulletin@0s']);
});

test('a cancel stops the emergency at once and what it cut resumes; a failure is logged and the next item plays', () => {
  const { effects } = run([
    { type: 'request', req: req('bulletin', 'normal', { resumable: true }), at: T0 },
    { type: 'request', req: req('alert', 'emergency'), at: T0 + min },
    { type: 'cancel', id: 'alert', at: T0 + min + 5000, reason: 'cancelled by dispatch' },
    { type: 'failed', id: 'bulletin', at: T0 + 2 * min, error: 'ffmpeg: invalid data' },
  ]);
  assert.equal(plays(effects), ['bulletin@0s', 'alert@0s', 'bulletin@60s']);
  const l = logs(effects);
  assert.equal(l.map((x) => x.outcome), ['interrupted', 'failed']);
  assert.match(l[0]!.reason!, /cancelled by dispatch/);
  assert.match(l[1]!.reason!, /ffmpeg/);
});

test('a request whose window has already closed is refused, not played late', () => {
  const { effects } = run([{ type: 'request', req: req('late', 'normal', { notAfter: T0 - 1 }), at: T0 }]);
  assert.equal(plays(effects), []);
  assert.is(logs(effects)[0]!.rule, 'window-closed');
});

test('an item that reaches its endBy (quiet hours begin) is stopped and logged as played, shortened by the rule', () => {
  const { effects } = run([
    { type: 'request', req: req('evening', 'normal', { endBy: T0 + 10 * min }), at: T0 },
    { type: 'tick', at: T0 + 5 * min },
    { type: 'tick', at: T0 + 10 * min },
  ]);
  assert.ok(effects.some((e) => e.type === 'stop' && e.id === 'evening'));
  const l = logs(effects);
  assert.is(l.length, 1);
  assert.equal({ outcome: l[0]!.outcome, rule: l[0]!.rule, end: l[0]!.end }, { outcome: 'played', rule: 'quiet-hours', end: new Date(T0 + 10 * min).toISOString() });
});

test.run();
