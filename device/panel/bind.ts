import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { isIP } from 'node:net';

// Where the panel listens: on the commune LAN, never on the WAN. Each entry of
// `agent.panel.bind` is an address literal, an interface name, or `lan`:
// loopback plus the private addresses of interfaces that are not cellular
// modems. Pure over the interface table, so the choice is a unit test.

/** Interfaces of cellular modems and point-to-point links: the WAN side of a cluster. */
const MODEM = /^(ppp|wwan|usb|rmnet|wwp|cdc)/;

export function isPrivateAddress(address: string): boolean {
  if (isIP(address) === 4) {
    const [a, b] = address.split('.').map(Number) as [number, number];
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
  }
  const x = address.toLowerCase();
  return x === '::1' || /^f[cd]/.test(x) || /^fe[89ab]/.test(x);
}

export interface BindChoice {
  addresses: string[];
  /** Entries that named nothing on this machine (logged; never replaced by 0.0.0.0). */
  missing: string[];
}

export function resolveBind(entries: readonly string[], ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): BindChoice {
  const out = new Set<string>();
  const missing: string[] = [];
  const usable = (i: NetworkInterfaceInfo) => i.family === 'IPv4' || (i.family === 'IPv6' && !i.address.toLowerCase().startsWith('fe80'));
  for (const e of entries) {
    if (e === 'lan') {
      out.add('127.0.0.1');
      for (const [name, list] of Object.entries(ifaces)) {
        if (MODEM.test(name)) continue;
        for (const i of list ?? []) if (!i.internal && usable(i) && isPrivateAddress(i.address)) out.add(i.address);
      }
    } else if (isIP(e)) {
      if (e === '0.0.0.0' || e === '::') {
        missing.push(e);
        continue;
      }
      out.add(e);
    } else {
      const list = (ifaces[e] ?? []).filter(usable);
      if (!list.length) missing.push(e);
      for (const i of list) out.add(i.address);
    }
  }
  return { addresses: [...out], missing };
}
