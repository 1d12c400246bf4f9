import { h, fill, langSwitch } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import * as i18n from '/ui/common/i18n.js';
import { initI18n, setLang, storedLang, t } from '/ui/common/i18n.js';
import vi from './lang/vi.js';
import { loginView } from './login.js';
import { mainView } from './main.js';

// The village cluster's local panel (docs/panel.md) for the commune radio
// operator: a phone or an old laptop on the commune LAN, usually with no
// internet. Log in with the cluster's password, then one page: what plays
// (and Stop), status, volume, a local announcement, today's plan and the
// play log, kept fresh by polling the agent. No framework, no CDN.

const root = document.getElementById('app');
const state = { me: null, view: null };

const langButton = () => langSwitch(i18n, () => show());

function show(notice) {
  state.view?.stop?.();
  document.title = `Loa — ${t('app.title')}`;
  state.view = state.me ? mainView({ me: state.me, langButton, logout }) : loginView({ langButton, onLogin: startSession, notice });
  fill(root, state.view.el);
  root.removeAttribute('aria-busy');
}

function startSession(me) {
  state.me = me;
  api.setCsrf(me.csrf);
  show();
}

function endSession(notice) {
  state.me = null;
  api.setCsrf(null);
  show(notice);
}

async function logout() {
  try {
    await api.post('/api/logout');
  } catch {
    // Already gone: the login page is where we go anyway.
  }
  endSession();
}

// Any request refused with 401 mid-session (idle or too old, the password
// rotated by the province, logged out in another tab) goes back to the login page.
api.onUnauthenticated(() => {
  if (state.me) endSession(t('auth.expired'));
});

(async () => {
  initI18n({ vi, loadEn: () => import('./lang/en.js'), storeKey: 'loa.panel.lang' });
  await setLang(storedLang());
  try {
    startSession(await api.get('/api/me'));
  } catch {
    show();
  }
})();
