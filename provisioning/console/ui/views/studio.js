import { h, fill, field, statusLine, errorBox, confirmDialog } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, errorText, hasKey } from '/ui/common/i18n.js';
import { zonePicker } from './zone-picker.js';
import { openMic, MicError } from './studio-capture.js';
import { openLive } from './studio-link.js';
import { levelMeter } from './studio-meter.js';

// The studio (phát trực tiếp): an account with 'live' speaks through the
// browser's microphone to zones in its scope (docs/console.md, "Live").
// Going on air is confirmed first — every loudspeaker of those zones will
// sound at once — and only then is the microphone asked for and the socket
// opened. On air the page is unmistakable (ĐANG PHÁT TRỰC TIẾP, the time,
// the zones, the level) and one button ends it. Below, who is on air where,
// polled: a session from another console tab or `loa live` shows there too.

const POLL_MS = 3000;
const FRAME_MS = 20;
/** After "end", how long the console may take to say "ended" (it drains at most 5 s). */
const END_WAIT_MS = 10_000;

export function render(ctx) {
  /** 'idle' | 'testing' (the microphone on, nothing sent) | 'starting' | 'on-air' | 'ending'. */
  let mode = 'idle';
  let mic = null;
  let link = null;
  /** The session on air: what the presenter asked for, and when it started here. */
  let air = null;
  let tick = null;
  let endWait = null;
  let zones = [];
  /** The view was left: late answers change nothing. */
  let gone = false;

  const err = errorBox({ 'data-testid': 'studio-error' });
  const status = statusLine({ 'data-testid': 'studio-status' });
  const picker = zonePicker(ctx, { legend: t('studio.zones'), testid: 'studio-zones' });
  picker.zones.then(
    (zs) => (zones = zs),
    (e) => err.show(errorText(e)),
  );
  const title = h('input', { type: 'text', maxlength: '200', required: true, lang: 'vi', value: t('studio.titleDefault'), 'data-testid': 'studio-title' });
  const meter = levelMeter();
  const testButton = h('button', { type: 'button', 'data-testid': 'studio-test-mic', onclick: () => toggleTest() }, t('studio.testMic'));
  const meterSlot = h('div', { class: 'meter-slot' });
  const go = h('button', { type: 'submit', class: 'primary go-live', 'data-testid': 'studio-go' }, t('studio.go'));
  const summary = h('div', { class: 'card studio-summary', hidden: true, role: 'status', 'data-testid': 'studio-summary' });

  const form = h(
    'form',
    { class: 'card studio-form', 'data-testid': 'studio-form', onsubmit: (e) => (e.preventDefault(), goLive()) },
    picker.el,
    field(t('studio.titleLabel'), title, t('studio.titleHint')),
    h('div', { class: 'field' }, h('span', { class: 'label', id: 'studio-meter-label' }, t('studio.meter')), h('div', { class: 'meter-row' }, meterSlot, testButton)),
    h('p', { class: 'hint' }, t('studio.goHint')),
    h('div', { class: 'actions' }, go),
    status,
  );

  const airBadge = h('p', { class: 'onair-badge', 'data-testid': 'onair-badge' }, h('span', { class: 'onair-dot', 'aria-hidden': 'true' }), t('studio.onAir'));
  const airTitle = h('p', { class: 'onair-title', 'data-testid': 'onair-title' });
  const airZones = h('p', { 'data-testid': 'onair-zones' });
  const elapsed = h('strong', { class: 'onair-elapsed', 'data-testid': 'onair-elapsed' }, '0:00');
  const airSlot = h('div', { class: 'meter-slot' });
  const airStatus = statusLine({ 'data-testid': 'onair-status' });
  const endButton = h('button', { type: 'button', class: 'end-live', 'data-testid': 'studio-end', onclick: () => endAir() }, t('studio.end'));
  const panel = h(
    'section',
    { class: 'onair', hidden: true, 'aria-labelledby': 'onair-badge', 'data-testid': 'studio-onair' },
    airBadge,
    airTitle,
    airZones,
    h('p', { class: 'onair-time' }, t('studio.elapsed'), ' ', elapsed),
    h('div', { class: 'field' }, h('span', { class: 'label' }, t('studio.meter')), airSlot),
    h('div', { class: 'actions' }, endButton),
    airStatus,
  );
  airBadge.id = 'onair-badge';
  meterSlot.append(meter.el);

  // ---- The microphone -------------------------------------------------------

  function onFrame(pcm, peak) {
    meter.push(peak);
    link?.send(pcm);
  }

  function onLost() {
    if (mode === 'on-air') {
      air.micLost = true;
      return endAir();
    }
    closeMic();
    mode = 'idle';
    paint();
    err.show(t('studio.err.mic.lost'));
  }

  async function ensureMic() {
    mic ??= await openMic({ onFrame, onLost });
  }

  function closeMic() {
    mic?.stop();
    mic = null;
    meter.idle();
  }

  async function toggleTest() {
    err.clear();
    if (mode === 'testing') {
      closeMic();
      mode = 'idle';
      return paint();
    }
    if (mode !== 'idle') return;
    mode = 'starting';
    paint();
    try {
      await ensureMic();
      mode = 'testing';
      fill(status, t('studio.testing'));
    } catch (x) {
      mode = 'idle';
      err.show(micText(x));
    }
    paint();
  }

  // ---- Going on air and off ------------------------------------------------

  async function goLive() {
    if (mode !== 'idle' && mode !== 'testing') return;
    err.clear();
    fill(status);
    summary.hidden = true;
    const zs = picker.chosen();
    if (!zs.length) return err.show(t('studio.pickZone'));
    const what = title.value.normalize('NFC').trim();
    if (!what) return err.show(t('studio.titleEmpty'));
    const names = zs.map((p) => ctx.zoneName(zones, p)).join(', ');
    const ok = await confirmDialog({
      title: t('studio.confirm.title'),
      body: [t('studio.confirm.zones', { zones: names }), t('studio.confirm.what', { title: what }), t('studio.confirm.mic')],
      confirmLabel: t('studio.confirm.ok'),
      cancelLabel: t('common.cancel'),
      className: 'live',
      testid: 'confirm-live',
    });
    if (!ok) return fill(status, t('studio.notStarted'));
    mode = 'starting';
    paint();
    fill(status, t('studio.askingMic'));
    try {
      await ensureMic();
    } catch (x) {
      mode = 'idle';
      paint();
      fill(status);
      return err.show(micText(x));
    }
    fill(status, t('studio.connecting'));
    air = { title: what, zones: zs, names, since: 0, micLost: false };
    link = openLive({ zones: zs, title: what, csrf: ctx.me.csrf, onAir, onEnded, onError, onDropped });
  }

  function onAir(m) {
    mode = 'on-air';
    air.id = m.id;
    air.since = performance.now();
    fill(status);
    fill(airTitle, air.title);
    fill(airZones, t('studio.onAirZones', { zones: air.names }));
    fill(airStatus);
    endButton.disabled = false;
    airSlot.append(meter.el);
    tick = setInterval(() => fill(elapsed, fmt.duration(performance.now() - air.since)), 500);
    window.addEventListener('beforeunload', warnLeaving);
    paint();
    endButton.focus();
    poll();
  }

  function endAir() {
    if (mode !== 'on-air') return;
    mode = 'ending';
    endButton.disabled = true;
    fill(airStatus, t('studio.ending'));
    link.end();
    // The console answers "ended" once what was said has gone out; a connection that went quiet meanwhile is a drop.
    endWait = setTimeout(() => {
      link?.close();
      onDropped();
    }, END_WAIT_MS);
  }

  function onEnded(m) {
    const ms = air?.since ? performance.now() - air.since : 0;
    const mine = /^ended by /.test(m.endReason ?? '');
    const done = air;
    offAir();
    picker.clear();
    title.value = t('studio.titleDefault');
    fill(
      summary,
      h('h2', {}, t('studio.summary.title')),
      h('p', { 'data-testid': 'summary-line' }, t('studio.summary.line', { title: done.title, zones: done.names })),
      h(
        'p',
        { 'data-testid': 'summary-figures', 'data-frames': String(m.framesSent) },
        t('studio.summary.figures', { duration: fmt.duration(ms), frames: fmt.number(m.framesSent), audio: fmt.duration(m.framesSent * FRAME_MS) }),
      ),
      done.micLost ? h('p', { class: 'warn' }, t('studio.err.mic.lost')) : !mine && m.endReason ? h('p', { class: 'warn' }, t('studio.summary.serverEnded', { reason: m.endReason })) : null,
    );
    summary.hidden = false;
  }

  function onError(code, message) {
    const wasOn = mode === 'on-air' || mode === 'ending';
    const ms = air?.since ? performance.now() - air.since : 0;
    offAir();
    const text = code === 'CONNECT' ? t('studio.err.connect') : hasKey(`studio.err.${code}`) ? `${t(`studio.err.${code}`)} (${message})` : errorText({ code, message });
    err.show(wasOn ? `${text} ${t('studio.err.stoppedAfter', { duration: fmt.duration(ms) })}` : text);
  }

  function onDropped() {
    if (!air) return;
    const ms = air.since ? performance.now() - air.since : 0;
    offAir();
    err.show(t('studio.err.dropped', { duration: fmt.duration(ms) }));
  }

  /** Back to the form: the microphone closed, the socket gone. */
  function offAir() {
    if (gone) return;
    clearInterval(tick);
    clearTimeout(endWait);
    tick = endWait = null;
    window.removeEventListener('beforeunload', warnLeaving);
    link = null;
    air = null;
    meterSlot.append(meter.el);
    // The microphone closes with the session, even one opened for a test before: the browser's recording sign goes out.
    closeMic();
    mode = 'idle';
    fill(status);
    paint();
    poll();
  }

  function warnLeaving(e) {
    e.preventDefault();
    e.returnValue = '';
  }

  function micText(x) {
    return x instanceof MicError ? t(`studio.err.mic.${x.kind}`) : errorText(x);
  }

  function paint() {
    const onAirNow = mode === 'on-air' || mode === 'ending';
    form.hidden = onAirNow;
    panel.hidden = !onAirNow;
    el.dataset.mode = mode;
    go.disabled = mode === 'starting';
    testButton.disabled = mode === 'starting';
    fill(testButton, mode === 'testing' ? t('studio.stopTest') : t('studio.testMic'));
  }

  // ---- Who is on air now ---------------------------------------------------

  const sessionsEl = h('div', { 'data-testid': 'live-sessions' });
  const sessionsErr = errorBox();
  let pollTimer = null;
  async function poll() {
    if (gone) return;
    try {
      const { sessions } = await api.get('/api/live/sessions');
      sessionsErr.clear();
      // The console lists a session for a minute after it ended (with its endedAt): on air now are the others.
      drawSessions(sessions.filter((s) => !s.endedAt));
    } catch (e) {
      sessionsErr.show(errorText(e));
    }
  }
  function drawSessions(sessions) {
    if (!sessions.length) return fill(sessionsEl, h('p', { class: 'muted' }, t('studio.sessions.none')));
    fill(
      sessionsEl,
      h(
        'ul',
        { class: 'live-sessions' },
        sessions.map((s) =>
          h(
            'li',
            { 'data-testid': 'live-session', 'data-session': s.id },
            h('strong', {}, s.title),
            s.id === air?.id ? h('span', { class: 'badge' }, t('studio.sessions.yours')) : null,
            h('br'),
            t('studio.sessions.line', { who: s.by, zones: s.zones.map((z) => ctx.zoneName(zones, z)).join(', '), since: fmt.seconds(s.startedAt), source: t(`studio.source.${s.source}`) }),
            typeof s.receiving === 'number' ? h('br') : null,
            typeof s.receiving === 'number' ? h('span', { 'data-testid': 'live-receiving' }, t('studio.sessions.receiving', { n: s.receiving, of: s.clusters })) : null,
          ),
        ),
      ),
    );
  }

  const el = h(
    'div',
    { class: 'view studio' },
    h('h1', {}, t('nav.studio')),
    h('p', { class: 'muted' }, t('studio.intro')),
    summary,
    form,
    panel,
    err.el,
    h('section', {}, h('h2', {}, t('studio.sessions')), sessionsErr.el, sessionsEl),
  );
  paint();
  poll();
  pollTimer = setInterval(poll, POLL_MS);

  return {
    el,
    // Leaving the page ends what is on air: a microphone nobody sees is worse than a cut.
    stop() {
      gone = true;
      clearInterval(pollTimer);
      clearInterval(tick);
      clearTimeout(endWait);
      window.removeEventListener('beforeunload', warnLeaving);
      if (mode === 'on-air') link?.end();
      else link?.close();
      link = null;
      mic?.stop();
      mic = null;
    },
  };
}
