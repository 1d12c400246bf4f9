import { h, fill } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt } from '/ui/common/i18n.js';
import { errorText } from './words.js';
import { nowPlayingCard } from './now-playing.js';
import { statusCard } from './status.js';
import { volumeCard } from './volume.js';
import { announceCard } from './announce.js';
import { planCard, logCard } from './lists.js';

// The signed-in page. /api/status every 2 s (what plays, link, volume…),
// the plan, the play log and the clips every 15 s and right after an
// action; slower while the tab is hidden, at once when it shows again.
// Times are relative to the cluster's clock, not the phone's.

const STATUS_MS = 2000;
const LISTS_MS = 15_000;
const HIDDEN_FACTOR = 5;

/** Runs `fn` now and then every `everyMs` after it ends; run() again while it runs queues one more run. */
function poller(fn, everyMs) {
  let timer = null;
  let busy = false;
  let again = false;
  let stopped = false;
  async function run() {
    if (stopped) return;
    if (busy) {
      again = true;
      return;
    }
    clearTimeout(timer);
    busy = true;
    try {
      await fn();
    } finally {
      busy = false;
      if (again && !stopped) {
        again = false;
        run();
      } else if (!stopped) timer = setTimeout(run, document.hidden ? everyMs * HIDDEN_FACTOR : everyMs);
    }
  }
  return {
    run,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

export function mainView({ me, langButton, logout }) {
  let offsetMs = 0;
  const ctx = {
    /** The cluster's clock (ms), from the last status. */
    now: () => Date.now() + offsetMs,
    /** Something changed (an action): refresh everything now. */
    changed: () => {
      statusPoll.run();
      listsPoll.run();
    },
    /**
     * Runs an API call; a CSRF refusal (the session was renewed in another
     * tab of this browser) fetches the current token and tries once more:
     * the server refused it before doing anything.
     */
    async call(fn) {
      try {
        return await fn();
      } catch (e) {
        if (e?.code !== 'LOA_E_CSRF') throw e;
        api.setCsrf((await api.get('/api/me')).csrf);
        return fn();
      }
    },
  };

  const cards = { playing: nowPlayingCard(ctx), status: statusCard(ctx), volume: volumeCard(ctx), announce: announceCard(ctx), plan: planCard(ctx), log: logCard(ctx) };
  const device = h('span', { class: 'device-name', 'data-testid': 'device-name' });
  const banner = h('p', { class: 'banner', role: 'alert', 'data-testid': 'connection', hidden: true });

  async function pollStatus() {
    try {
      const s = await api.get('/api/status');
      const now = Date.parse(s.now);
      if (Number.isFinite(now)) offsetMs = now - Date.now();
      banner.hidden = true;
      fill(device, s.device ? `${s.device.id} · ${s.device.zone}` : '');
      for (const c of Object.values(cards)) c.update?.(s);
    } catch (e) {
      if (e.status === 401) return; // the app goes back to the login page
      fill(banner, e.status === 0 ? t('conn.lost') : errorText(e));
      banner.hidden = false;
    }
  }
  const pollLists = () => Promise.allSettled([cards.plan.refresh(), cards.log.refresh(), cards.announce.refresh()]);
  const statusPoll = poller(pollStatus, STATUS_MS);
  const listsPoll = poller(pollLists, LISTS_MS);
  const onVisible = () => {
    if (!document.hidden) ctx.changed();
  };
  document.addEventListener('visibilitychange', onVisible);

  const header = h(
    'header',
    { class: 'top' },
    h('a', { class: 'skip', href: '#main', onclick: (e) => (e.preventDefault(), document.getElementById('main')?.focus()) }, t('a11y.skip')),
    h('div', { class: 'brand' }, h('strong', {}, 'Loa'), ' ', h('span', {}, t('app.title')), h('br'), device),
    h('div', { class: 'tools' }, langButton(), h('button', { type: 'button', 'data-testid': 'logout', onclick: logout }, t('auth.logout'))),
  );
  const el = h(
    'div',
    { class: 'panel' },
    header,
    banner,
    h(
      'main',
      { id: 'main', tabindex: '-1' },
      h('div', { class: 'col' }, cards.playing.el, cards.volume.el, cards.announce.el),
      h('div', { class: 'col' }, cards.status.el, cards.plan.el, cards.log.el),
    ),
    h('footer', { class: 'muted' }, me.expiresAt ? t('auth.until', { time: fmt.dateTime(me.expiresAt) }) : null),
  );
  statusPoll.run();
  listsPoll.run();
  return {
    el,
    stop() {
      statusPoll.stop();
      listsPoll.stop();
      document.removeEventListener('visibilitychange', onVisible);
      for (const c of Object.values(cards)) c.stop?.();
    },
  };
}
