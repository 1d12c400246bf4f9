import { h, fill, field, check, statusLine, errorBox } from '/ui/common/dom.js';
import * as api from '/ui/common/api.js';
import { t, fmt, errorText } from '/ui/common/i18n.js';

// Fleet: the zone tree within the account's scope, each cluster with what a
// province operator watches — online or not and since when, last heartbeat,
// target version applied or not, what plays, volume, amplifier, disk, clock —
// kept current by the live stream (/api/events), no reloads.

export function render(ctx) {
  const devices = new Map();
  let zones = [];
  // Zones the operator folded stay folded when the tree is redrawn.
  const folded = new Set();
  const offline = check(t('fleet.filter.offline'), { 'data-testid': 'filter-offline' });
  const hours = h('input', { type: 'number', min: '0', step: '1', value: '24', inputmode: 'numeric', class: 'narrow', 'data-testid': 'filter-offline-hours' });
  const notApplied = check(t('fleet.filter.notApplied'), { 'data-testid': 'filter-not-applied' });
  const filtered = () => offline.input.checked || notApplied.input.checked;
  const tree = h('div', { class: 'tree', 'data-testid': 'zone-tree' });
  const status = statusLine({ 'data-testid': 'fleet-status' });
  const err = errorBox();

  let seq = 0;
  async function load() {
    const mine = ++seq;
    err.clear();
    try {
      const q = api.qs({ offlineHours: offline.input.checked ? Math.max(0, Number(hours.value) || 0) : undefined, notApplied: notApplied.input.checked ? 1 : undefined });
      const [zs, r] = await Promise.all([ctx.zones(), api.get(`/api/devices${q}`)]);
      if (mine !== seq) return;
      zones = zs;
      devices.clear();
      for (const d of r.devices) devices.set(d.id, d);
      draw();
    } catch (e) {
      err.show(errorText(e));
    }
  }

  function draw() {
    const children = new Map();
    const paths = new Set(zones.map((z) => z.path));
    for (const z of zones) {
      const parent = z.parent && paths.has(z.parent) ? z.parent : null;
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(z);
    }
    const byZone = new Map();
    for (const d of devices.values()) {
      if (!byZone.has(d.zone)) byZone.set(d.zone, []);
      byZone.get(d.zone).push(d);
    }
    const subtree = (path) => [...devices.values()].filter((d) => d.zone === path || d.zone.startsWith(`${path}/`));
    const node = (z) => {
      const inside = subtree(z.path);
      if (filtered() && !inside.length) return null;
      const own = (byZone.get(z.path) ?? []).sort((a, b) => a.id.localeCompare(b.id));
      return h(
        'section',
        { class: 'zone', 'data-testid': `zone-${z.path}`, 'data-zone': z.path },
        h(
          'details',
          { open: !folded.has(z.path), ontoggle: (e) => (e.target.open ? folded.delete(z.path) : folded.add(z.path)) },
          h(
            'summary',
            {},
            h('span', { class: 'zone-name' }, z.name),
            ' ',
            h('code', {}, z.path),
            ' ',
            h('span', { class: 'muted' }, t('fleet.zoneCounts', { n: inside.length, on: inside.filter((d) => d.online).length })),
          ),
          own.length ? h('div', { class: 'devices' }, own.map(card)) : null,
          (children.get(z.path) ?? []).map(node),
        ),
      );
    };
    fill(tree, (children.get(null) ?? []).map(node));
    fill(status, filtered() ? t('fleet.shownFiltered', { n: devices.size }) : t('fleet.shown', { n: devices.size }));
  }

  // A device changed: with a filter on, the server decides who still matches; without, it is redrawn in place.
  let reload = null;
  const onDevice = (e) => {
    const d = e.detail;
    if (filtered()) {
      clearTimeout(reload);
      reload = setTimeout(load, 300);
      return;
    }
    const known = devices.has(d.id);
    devices.set(d.id, d);
    const old = tree.querySelector(`[data-device="${CSS.escape(d.id)}"]`);
    if (known && old) old.replaceWith(card(d));
    else draw();
  };
  ctx.live.addEventListener('device', onDevice);
  // "5 minutes ago" ages: redraw now and then.
  const tick = setInterval(draw, 30_000);

  offline.input.addEventListener('change', load);
  notApplied.input.addEventListener('change', load);
  hours.addEventListener('change', () => offline.input.checked && load());

  const el = h(
    'div',
    { class: 'view fleet' },
    h('h1', {}, t('nav.fleet')),
    h('form', { class: 'filters card', role: 'search', 'aria-label': t('fleet.filters'), onsubmit: (e) => (e.preventDefault(), load()) }, h('div', { class: 'row' }, offline.el, field(t('fleet.filter.hours'), hours)), notApplied.el),
    err.el,
    status,
    tree,
  );
  load();
  return {
    el,
    stop: () => {
      ctx.live.removeEventListener('device', onDevice);
      clearInterval(tick);
      clearTimeout(reload);
    },
  };
}

function card(d) {
  const tel = d.telemetry;
  const applied = d.state?.appliedVersion ?? tel?.appliedVersion ?? null;
  const target = d.targetVersion;
  const version =
    target === null
      ? h('span', { class: 'muted' }, t('fleet.version.none'))
      : applied === target
        ? h('span', { class: 'ok' }, t('fleet.version.applied', { v: target }))
        : h('span', { class: 'warn' }, t('fleet.version.pending', { a: applied ?? '—', v: target }), d.state?.sync === 'syncing' ? ` · ${t('fleet.sync.syncing', { n: d.state.missingAssets })}` : '', d.state?.sync === 'blocked' ? ` · ${t('fleet.sync.blocked')}` : '');
  const onlineWord = d.revoked ? t('fleet.revoked') : d.online ? t('fleet.online') : t('fleet.offline');
  const rows = [
    [t('fleet.since'), d.since ? `${fmt.dateTime(d.since)} (${fmt.ago(d.since)})` : t('fleet.never')],
    [t('fleet.lastSeen'), d.lastSeen ? `${fmt.dateTime(d.lastSeen)} (${fmt.ago(d.lastSeen)})` : '—'],
    [t('fleet.version'), version, 'version'],
  ];
  if (d.state?.lastError) rows.push([t('fleet.lastError'), `${d.state.lastError.code}: ${d.state.lastError.message}`]);
  if (tel) {
    const p = tel.playing;
    rows.push(
      [t('fleet.playing'), p ? `${p.title ?? t(`source.${p.source}`)} · ${t(`level.${p.level}`)} · ${t('fleet.playingSince', { at: fmt.time(p.since) })}` : t('fleet.silent'), 'playing'],
      [t('fleet.volume'), `${tel.volume}%`],
      [t('fleet.amplifier'), h('span', { class: tel.amplifier === 'fault' ? 'bad' : '' }, t(`amp.${tel.amplifier}`))],
      [t('fleet.disk'), h('span', { class: tel.disk.full ? 'bad' : '' }, t('fleet.diskText', { free: fmt.bytes(tel.disk.freeBytes), used: fmt.bytes(tel.disk.usedBytes), budget: fmt.bytes(tel.disk.budgetBytes) }), tel.disk.full ? ` · ${t('fleet.diskFull')}` : ''), 'device-disk'],
      [t('fleet.clock'), h('span', { class: tel.clock.trusted ? '' : 'warn' }, `${t(tel.clock.trusted ? 'clock.trusted' : 'clock.untrusted')} (${t(`clock.${tel.clock.source}`)})`)],
    );
    // The device's own store, when it is not well: a full disk holding records in memory, a store rebuilt after damage.
    if (tel.store && tel.store.state !== 'ok') rows.push([t('fleet.store'), h('span', { class: tel.store.state === 'rebuilt' ? 'warn' : 'bad', 'data-testid': 'device-store', title: tel.store.detail ?? '' }, t(`fleet.store.${tel.store.state}`, { n: fmt.number(tel.store.held), at: tel.store.since ? fmt.time(tel.store.since) : '—' }))]);
    if (tel.cpuTempC !== null) rows.push([t('fleet.cpu'), `${fmt.number(tel.cpuTempC, 0)} °C`]);
  } else rows.push([t('fleet.telemetry'), t('fleet.noTelemetry')]);
  return h(
    'article',
    {
      class: ['device', d.online ? 'is-online' : 'is-offline'],
      'data-testid': `device-${d.id}`,
      'data-device': d.id,
      'data-online': String(d.online),
      'data-applied': applied ?? '',
      'data-target': target ?? '',
      'aria-label': `${d.id}: ${onlineWord}`,
    },
    h('header', {}, h('strong', { class: 'device-id' }, d.id), ' ', h('span', { class: ['badge', d.revoked ? 'badge-revoked' : d.online ? 'badge-online' : 'badge-offline'], 'data-testid': 'online' }, onlineWord)),
    h('dl', {}, rows.map(([k, v, id]) => [h('dt', {}, k), h('dd', id ? { 'data-testid': id } : {}, v)])),
  );
}
