import { h } from '/ui/common/dom.js';

// Ticking zones to send something to (an emergency, a live voice): every
// zone within the account's scope, indented by depth, its name and its path.
// The zones come from ctx.zones() (loaded once per session).

/** { el: the fieldset, chosen(): ticked paths, clear(), zones: Promise of all zones (for names) }. */
export function zonePicker(ctx, { legend, testid }) {
  const el = h('fieldset', { class: 'checks zones', 'data-testid': testid }, h('legend', {}, legend));
  const zones = ctx.zones().then((zs) => {
    el.append(
      ...zs
        .filter((z) => z.inScope)
        .map((z) => {
          const depth = z.path.split('/').length - 1;
          const input = h('input', { type: 'checkbox', value: z.path, 'data-testid': `zone-${z.path}` });
          return h('label', { class: ['check', `depth-${Math.min(depth, 4)}`] }, input, ' ', `${z.name} `, h('code', {}, z.path));
        }),
    );
    return zs;
  });
  zones.catch(() => {}); // the view that shows the picker reports a failed load its own way
  return {
    el,
    zones,
    chosen: () => [...el.querySelectorAll('input:checked')].map((i) => i.value),
    clear: () => el.querySelectorAll('input[type="checkbox"]').forEach((i) => (i.checked = false)),
  };
}
