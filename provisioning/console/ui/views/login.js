import { h, field, errorBox } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, errorText } from '/ui/common/i18n.js';

// The login page. A refusal shows the server's reason (wrong password, or
// how long to wait after too many failures) in the page's language.

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
          err.show(errorText(x));
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
