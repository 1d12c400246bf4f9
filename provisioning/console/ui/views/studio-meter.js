import { h, fill } from '/ui/common/dom.js';
import { t, fmt } from '/ui/common/i18n.js';

// The microphone's level in dBFS (the peak of each 20 ms frame, falling back
// slowly as a meter's needle does), from -60 to 0: a bar filling from the
// left over a green–amber–red scale, the figure beside it, and a word when
// the voice is too faint to be heard or loud enough to distort.

const FLOOR_DB = -60;
/** Fall-back per frame: 30 dB a second. */
const FALL_DB = 0.6;
const PAINT_MS = 60;
const QUIET_DB = -45;
const CLIP_DB = -1;

export function levelMeter() {
  const cover = h('span', { class: 'meter-cover' });
  const bar = h('span', { class: 'meter-bar', role: 'meter', 'aria-valuemin': String(FLOOR_DB), 'aria-valuemax': '0', 'aria-valuenow': String(FLOOR_DB), 'aria-labelledby': 'studio-meter-label', 'data-testid': 'meter' }, cover);
  const figure = h('span', { class: 'meter-db', 'data-testid': 'meter-db' });
  const note = h('small', { class: 'meter-note', 'data-testid': 'meter-note' });
  const el = h('div', { class: 'meter', 'data-testid': 'level-meter' }, h('div', { class: 'meter-line' }, bar, figure), note);
  let db = -Infinity;
  let frames = 0;
  let paintedAt = 0;

  function paint() {
    const v = Math.max(FLOOR_DB, Math.min(0, db));
    // INVARIANT: the cover hides the part of the scale above the level; CSSOM, not a style attribute (the CSP allows no inline style).
    cover.style.width = `${(v / FLOOR_DB) * 100}%`;
    bar.setAttribute('aria-valuenow', v.toFixed(1));
    const text = db <= FLOOR_DB ? `< ${FLOOR_DB} dBFS` : `${fmt.number(v, 0)} dBFS`;
    bar.setAttribute('aria-valuetext', text);
    fill(figure, text);
    const state = db >= CLIP_DB ? 'loud' : db < QUIET_DB ? 'quiet' : 'ok';
    el.dataset.state = state;
    el.dataset.db = v.toFixed(1);
    el.dataset.frames = String(frames);
    fill(note, state === 'ok' ? '' : t(`studio.meter.${state}`));
  }

  function idle() {
    db = -Infinity;
    frames = 0;
    cover.style.width = '100%';
    bar.setAttribute('aria-valuenow', String(FLOOR_DB));
    bar.setAttribute('aria-valuetext', t('studio.meter.off'));
    fill(figure, t('studio.meter.off'));
    fill(note);
    el.dataset.state = 'off';
    el.dataset.db = '';
    el.dataset.frames = '0';
  }
  idle();

  return {
    el,
    /** One frame's peak (0–1). */
    push(peak) {
      const d = peak > 0 ? 20 * Math.log10(peak) : -Infinity;
      db = Math.max(d, db - FALL_DB);
      frames++;
      const now = performance.now();
      if (now - paintedAt < PAINT_MS) return;
      paintedAt = now;
      paint();
    },
    idle,
  };
}
