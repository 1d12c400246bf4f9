import { h, field, errorBox } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, hasKey } from '/ui/common/i18n.js';

// The login page. A refusal says why (wrong name or password, or how long to
// wait after too many failures) in the page's language only: the server's
// own English words are not appended, and a login form says nothing about
// sessions (none exists yet).

/** A login refusal in the page's language, without the server's message. */
export function loginErrorText(e) {
  if (e?.code === 'LOA_E_UNAUTHENTICATED') return t('auth.wrong');
  if (e?.code === 'LOA_E_LOGIN_THROTTLED') return e.retryAfter ? t('auth.throttled', { wait: fmt.wait(e.retryAfter) }) : t('auth.throttledLater');
  return hasKey(`err.${e?.code}`) ? t(`err.${e.code}`, { s: e.retryAfter ?? '?' }) : t('err.generic');
}

export function loginView({ langButton, onLogin }) {
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true, 'data-testid': 'login-name' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
  const err = errorBox({ 'data-testid': 'login-error' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'login-submit' }, t('auth.login'));
  const form = h(
    'form',
    {
      class: 'login card',
      onsubmit: async (e) => {
        e.preventDefault();
        err.clear();
        submit.disabled = true;
        try {
          await api.post('/api/login', { name: name.value.trim(), password: password.value });
          // /api/me carries the permissions and the approval rule the views need.
          onLogin(await api.get('/api/me'));
        } catch (x) {
          err.show(loginErrorText(x));
          password.select();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('h1', {}, t('auth.title')),
    h('p', { class: 'muted' }, t('auth.intro')),
    field(t('auth.name'), name),
    field(t('auth.password'), password),
    err.el,
    h('div', { class: 'actions' }, submit),
  );
  queueMicrotask(() => name.focus());
  return h('div', { class: 'login-page' }, h('div', { class: 'login-lang' }, langButton()), h('main', { id: 'main' }, form));
}
