import { t, fmt, hasKey, today, errorText as commonErrorText } from '/ui/common/i18n.js';

// The panel's words for the API's values: levels, sources, refusal rules,
// ingest reasons and error codes, in the page's language. A value the page
// does not know is shown as the server sent it (a new rule is still readable).

const word = (prefix, v, fallback = v) => (v && hasKey(`${prefix}.${v}`) ? t(`${prefix}.${v}`) : (fallback ?? '—'));

export const levelText = (l) => word('level', l);
export const sourceText = (s) => word('source', s);
export const outcomeText = (o) => word('outcome', o);

/** A refusal or shortening rule in words; an unknown rule shows the server's rule and reason as they are. */
export function ruleText(rule, reason) {
  if (rule && hasKey(`rule.${rule}`)) return t(`rule.${rule}`);
  const raw = [rule, reason].filter(Boolean).join(': ');
  return raw || t('rule.unknown');
}

// Codes some drafts of the panel used (GitHub issue 6) for what docs/panel.md
// names otherwise; both are understood.
const ALIASES = {
  LOA_E_PANEL_LOGIN: 'LOA_E_UNAUTHENTICATED',
  LOA_E_PANEL_LOCKED: 'LOA_E_LOGIN_THROTTLED',
  LOA_E_PANEL_FORBIDDEN: 'LOA_E_FORBIDDEN',
  LOA_E_PANEL_REASON_REQUIRED: 'LOA_E_REASON_REQUIRED',
  LOA_E_PANEL_REFUSED: 'LOA_E_ANNOUNCE_REFUSED',
  LOA_E_UPLOAD_TOO_LARGE: 'LOA_E_PAYLOAD_TOO_LARGE',
};

export function errorCode(e) {
  const code = e?.code ?? 'LOA_E_INTERNAL';
  if (ALIASES[code]) return ALIASES[code];
  return code.startsWith('LOA_E_INGEST_') ? 'LOA_E_AUDIO_INVALID' : code;
}

/** A server error in the page's language, the server's own message after it (for the technician). */
export function errorText(e) {
  const code = errorCode(e);
  const d = e?.detail ?? {};
  let base;
  if (code === 'LOA_E_LOGIN_THROTTLED') base = e?.retryAfter ? t('auth.locked', { wait: fmt.wait(e.retryAfter) }) : t('auth.lockedLater');
  else if (code === 'LOA_E_ANNOUNCE_REFUSED') base = t('err.refused', { rule: ruleText(d.rule, null) });
  else if (code === 'LOA_E_AUDIO_INVALID') base = t('err.audio', { reason: word('audio', d.reason, d.reason ?? t('rule.unknown')) });
  else return commonErrorText({ code, message: e?.message, retryAfter: e?.retryAfter });
  return e?.message && e.message !== base ? `${base} (${e.message})` : base;
}

const sameDay = (a, b) => today(new Date(a).getTime()) === today(new Date(b).getTime());

/** Hour and minute, with the date when it is not the same day as `now` (ms) in Việt Nam. */
export function clock(iso, now) {
  if (!iso) return '—';
  return sameDay(iso, now) ? fmt.time(iso) : fmt.dateTime(iso);
}

/**
 * An instant and how long ago, relative to the cluster's own clock (`now`,
 * ms, from its status: the phone's clock may be wrong): "14:05 (3 phút trước)".
 */
export function when(iso, now) {
  if (!iso) return '—';
  return `${clock(iso, now)} (${fmt.ago(iso, now)})`;
}
