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
