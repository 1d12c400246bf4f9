import { h } from '/ui/common/dom.js';
import { t } from '/ui/common/i18n.js';

// The three dispatch modes look different everywhere they appear — their own
// colour and their own word (THẬT, DIỄN TẬP, THỬ NGHIỆM) — so nobody takes a
// drill for the real thing or the other way round.

export const MODES = ['actual', 'exercise', 'test'];

export function modeBadge(mode, attrs = {}) {
  return h('span', { class: ['mode-badge', `mode-${mode}`], 'data-mode': mode, 'data-testid': 'mode-badge', ...attrs }, t(`mode.${mode}`));
}
