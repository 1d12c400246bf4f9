import { userInfo } from 'node:os';
import { defaultDataDir } from '../lib/paths.js';
import type { Invocation, OptionSpec } from '../lib/cli.js';
import { Registry } from '../provisioning/registry.js';

export const DATA_OPTION: Record<string, OptionSpec> = {
  data: { type: 'string', placeholder: 'DIR', description: 'state directory (default: $LOA_DATA, /var/lib/loa as root, ~/.local/share/loa otherwise)' },
};

export const JSON_OPTION: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print machine-readable JSON instead of text' },
};

export function dataDir(inv: Invocation): string {
  return typeof inv.values.data === 'string' ? inv.values.data : defaultDataDir(inv.io.env);
}

export function openRegistry(inv: Invocation): Registry {
  const logN = inv.io.env.LOA_SCRYPT_LOGN ? Number(inv.io.env.LOA_SCRYPT_LOGN) : undefined;
  return Registry.open(dataDir(inv), logN ? { scryptLogN: logN } : {});
}

/** Opens the registry for one command and closes it whatever happens. */
export async function withRegistry<T>(inv: Invocation, fn: (reg: Registry) => T | Promise<T>): Promise<T> {
  const reg = openRegistry(inv);
  try {
    return await fn(reg);
  } finally {
    reg.close();
  }
}

/** Who did it, for the audit log: the technician's login on this machine. */
export function actor(): string {
  try {
    return `technician:${userInfo().username}`;
  } catch {
    return 'technician';
  }
}

/** Resolves when the process is asked to stop (SIGINT, SIGTERM). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * SIGINT and SIGTERM ask the program to stop: `first` resolves with the
 * first. Unlike untilSignal, the signals stay handled until release(), so
 * a repeat cannot kill the process halfway through its stop: Ctrl-C in a
 * terminal reaches both npm and node, and npm forwards its copy to node
 * too. A repeat more than a second later is someone asking again: `force`.
 */
export function stopSignals(force: (sig: NodeJS.Signals) => void): { first: Promise<NodeJS.Signals>; release(): void } {
  let firstAt = 0;
  let resolve!: (sig: NodeJS.Signals) => void;
  const first = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const on = (sig: NodeJS.Signals) => {
    const now = performance.now();
    if (!firstAt) {
      firstAt = now;
      resolve(sig);
    } else if (now - firstAt > 1000) force(sig);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    first,
    release: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}
