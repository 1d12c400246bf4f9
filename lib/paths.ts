import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where a long-running command keeps its state unless `--data` says otherwise:
 * /var/lib/loa as root (a service), ~/.local/share/loa otherwise (XDG), and
 * $LOA_DATA over both.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LOA_DATA) return env.LOA_DATA;
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/var/lib/loa';
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'loa');
}

/**
 * The installed tree's root (where package.json is), from this compiled
 * module's place in dist/lib. Files that are not compiled — the UI, the
 * standard clips — are read from there.
 */
export const ROOT_DIR = join(import.meta.dirname, '..', '..');
