import { h, field } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, hasKey } from '/ui/common/i18n.js';
import { errorCode } from './words.js';
import { messageLine } from './parts.js';

// The login page: the cluster's one password. A wrong password says so, in
// the page's language only (not the server's English words after it);
// after too many (docs/panel.md, *Logging in*) the wait the server asks for
// in Retry-After is shown in words and counted down, and the button waits too.

export function loginView({ langButton, onLogin, notice }) {
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
  const msg = messageLine('login-error');
  if (notice) msg.info(notice);
  const submit = h('button', { type: 'submit', class: 'primary big', 'data-testid': 'login-submit' }, t('auth.login'));
  let lock = null;

  function lockFor(seconds) {
    clearInterval(lock);
    const until = Date.now() + seconds * 1000;
    submit.disabled = true;
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left > 0) return msg.fail(t('auth.locked', { wait: fmt.wait(left) }));
      clearInterval(lock);
      lock = null;
      submit.disabled = false;
      msg.info(t('auth.unlocked'));
    };
    tick();
    lock = setInterval(tick, 1000);
  }

  const form = h(
    'form',
    {
      class: 'login card',
      onsubmit: async (e) => {
        e.preventDefault();
        if (submit.disabled) return;
        msg.clear();
        submit.disabled = true;
        let locked = false;
        try {
          onLogin(await api.post('/api/login', { password: password.value }));
        } catch (x) {
          const code = errorCode(x);
          if (code === 'LOA_E_LOGIN_THROTTLED' && x.retryAfter) {
            locked = true;
            lockFor(x.retryAfter);
          } else msg.fail(code === 'LOA_E_UNAUTHENTICATED' ? t('auth.wrong') : code === 'LOA_E_LOGIN_THROTTLED' ? t('auth.lockedLater') : hasKey(`err.${code}`) ? t(`err.${code}`) : t('err.generic'));
          password.select();
        } finally {
          if (!locked) submit.disabled = false;
        }
      },
    },
    h('h1', {}, t('auth.title')),
    h('p', { class: 'muted' }, t('auth.intro')),
    field(t('auth.password'), password),
    msg.el,
    h('div', { class: 'actions' }, submit),
  );
  queueMicrotask(() => password.focus());
  const el = h('div', { class: 'login-page' }, h('div', { class: 'login-lang' }, langButton()), h('main', { id: 'main' }, h('p', { class: 'brand' }, h('strong', {}, 'Loa'), ' · ', t('app.title')), form));
  return { el, stop: () => clearInterval(lock) };
}
