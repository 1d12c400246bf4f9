import { h, fill, langSwitch } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import * as i18n from '/ui/common/i18n.js';
import { initI18n, setLang, storedLang, t } from '/ui/common/i18n.js';
import vi from './lang/vi.js';
import { loginView } from './views/login.js';

// The province console in the browser: log in, then one view at a time
// (chosen by the address's #fragment, so the back button and bookmarks work),
// with a live event stream shared by the views. No framework: the page is
// used over slow provincial links and on phones.

const VIEWS = [
  { id: 'fleet', show: () => true, load: () => import('./views/fleet.js') },
  { id: 'library', show: () => true, load: () => import('./views/library.js') },
  { id: 'tts', show: (me) => me.can.edit, load: () => import('./views/tts.js') },
  { id: 'programmes', show: () => true, load: () => import('./views/programmes.js') },
  { id: 'dispatch', show: () => true, load: () => import('./views/dispatch.js') },
  { id: 'studio', show: (me) => me.can.live, load: () => import('./views/studio.js') },
  { id: 'reports', show: () => true, load: () => import('./views/reports.js') },
  { id: 'audit', show: (me) => me.can.admin, load: () => import('./views/audit.js') },
];

const root = document.getElementById('app');
const state = { me: null, live: null, liveOn: false, zones: null, stopView: null };

/** Shared by the views: the account, the live stream, the zone list. */
const ctx = {
  get me() {
    return state.me;
  },
  get live() {
    return state.live;
  },
  /** Zones within scope ({path, parent, name, inScope}), loaded once per session. */
  zones() {
    // A failed load is not kept: the next view asks again.
    state.zones ??= api.get('/api/zones').then(
      (r) => r.zones,
      (e) => {
        state.zones = null;
        throw e;
      },
    );
    return state.zones;
  },
  zoneName(zones, path) {
    const z = zones.find((x) => x.path === path);
    return z ? z.name : path;
  },
};

const langButton = () => langSwitch(i18n, () => render());

async function logout() {
  try {
    await api.post('/api/logout');
  } catch {
    // Already gone: the login page is where we go anyway.
  }
  endSession();
  render();
}

function endSession() {
  state.stopView?.();
  state.stopView = null;
  state.live?.close();
  Object.assign(state, { me: null, live: null, liveOn: false, zones: null });
  api.setCsrf(null);
}

async function startSession(me) {
  state.me = me;
  api.setCsrf(me.csrf);
  state.live = api.liveEvents();
  state.live.addEventListener('live', (e) => {
    state.liveOn = e.detail;
    const dot = document.querySelector('[data-testid="live"]');
    if (dot) paintLive(dot);
  });
  render();
}

function header(me, current) {
  const liveDot = paintLive(h('span', { class: 'live', 'data-testid': 'live', role: 'status' }));
  const scope = h('span', { 'data-testid': 'who-zone' }, me.account.zone ?? t('scope.all'));
  if (me.account.zone) ctx.zones().then((zs) => fill(scope, `${ctx.zoneName(zs, me.account.zone)} (${me.account.zone})`), () => {});
  return h(
    'header',
    { class: 'top' },
    h('a', { class: 'skip', href: '#main', onclick: (e) => (e.preventDefault(), document.getElementById('main')?.focus()) }, t('a11y.skip')),
    h('div', { class: 'brand' }, h('strong', {}, 'Loa'), ' ', h('span', {}, t('app.subtitle'))),
    h(
      'nav',
      { 'aria-label': t('nav.label') },
      h(
        'ul',
        {},
        VIEWS.filter((v) => v.show(me)).map((v) => h('li', {}, h('a', { href: `#${v.id}`, 'data-testid': `nav-${v.id}`, 'aria-current': v.id === current ? 'page' : undefined }, t(`nav.${v.id}`)))),
      ),
    ),
    h(
      'div',
      { class: 'who' },
      h('span', { 'data-testid': 'who' }, h('strong', {}, me.account.name), ` · ${t(`role.${me.account.role}`)} · `, scope),
      liveDot,
      langButton(),
      h('button', { type: 'button', 'data-testid': 'logout', onclick: logout }, t('auth.logout')),
    ),
  );
}

function paintLive(dot) {
  dot.dataset.live = String(state.liveOn);
  return fill(dot, t(state.liveOn ? 'live.on' : 'live.off'));
}

let renderSeq = 0;
async function render() {
  const seq = ++renderSeq;
  state.stopView?.();
  state.stopView = null;
  document.title = `Loa — ${t('app.subtitle')}`;
  if (!state.me) {
    fill(root, loginView({ langButton, onLogin: (me) => startSession(me) }));
    root.removeAttribute('aria-busy');
    return;
  }
  const allowed = VIEWS.filter((v) => v.show(state.me));
  const id = location.hash.slice(1);
  const view = allowed.find((v) => v.id === id) ?? allowed[0];
  const main = h('main', { id: 'main', tabindex: '-1', 'data-view': view.id });
  fill(root, header(state.me, view.id), main);
  document.title = `${t(`nav.${view.id}`)} — Loa`;
  try {
    const mod = await view.load();
    if (seq !== renderSeq) return;
    const v = mod.render(ctx);
    fill(main, v.el);
    state.stopView = v.stop ?? null;
  } catch (e) {
    if (seq !== renderSeq) return;
    fill(main, h('p', { class: 'error', role: 'alert' }, t('err.view'), ` (${e.message})`));
  }
  root.removeAttribute('aria-busy');
}

window.addEventListener('hashchange', () => render());

// A request refused with 401 mid-session (expired, logged out elsewhere) takes us back to the login page.
api.onUnauthenticated(() => {
  if (!state.me) return;
  endSession();
  render();
});

(async () => {
  initI18n({ vi, loadEn: () => import('./lang/en.js') });
  await setLang(storedLang());
  try {
    const me = await api.get('/api/me');
    await startSession(me);
  } catch {
    render();
  }
})();
