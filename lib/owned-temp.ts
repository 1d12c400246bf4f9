import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Temporary folders that name the process that owns them, so that what a
// killed process leaves behind (an upload of tens of MB, a half-written
// ingest) can be removed later by another one, without touching the folders
// of a process still running — another console, a village panel, a
// `loa library add` on the same machine.
//
// The owner is `<pid>.<start>`: the pid, and where Linux tells it
// (/proc/<pid>/stat, field 22) when that process started, so that a pid used
// again after a restart (a container's console is often pid 1) is not taken
// for the same process.

/** The kinds of temporary folder Loa makes, by their name's prefix. */
export type TempKind = 'loa-upload' | 'loa-ingest' | 'loa-tts';
export const TEMP_KINDS: readonly TempKind[] = ['loa-upload', 'loa-ingest', 'loa-tts'];

/** When process `pid` started (clock ticks since boot), or null where /proc does not say. */
function startTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start && /^\d+$/.test(start) ? start : null;
  } catch {
    return null;
  }
}

let own: string | null = null;

/** This process as an owner: `<pid>.<start>`, or `<pid>` alone where the start is unknown. */
export function ownerTag(): string {
  if (own === null) {
    const start = startTicks(process.pid);
    own = start ? `${process.pid}.${start}` : String(process.pid);
  }
  return own;
}

/** Whether the process an owner tag names is still running (any user's: EPERM means it exists). */
export function ownerAlive(tag: string): boolean {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(tag);
  if (!m) return true; // not ours to judge
  const pid = Number(m[1]);
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = startTicks(pid);
  return !m[2] || start === null || start === m[2];
}

/** A new private folder `<tmp>/<kind>-<owner>-XXXXXX`. */
export function ownedTempDir(kind: TempKind): string {
  return mkdtempSync(join(tmpdir(), `${kind}-${ownerTag()}-`));
}

const OWNED = /^(loa-upload|loa-ingest|loa-tts)-(\d+(?:\.\d+)?)-[A-Za-z0-9]{6}$/;

/**
 * Removes the temporary folders whose owner is no longer running; returns
 * their paths. Folders of running processes, and folders that name no owner
 * (made by older versions), are left alone.
 */
export function sweepOrphanTempDirs(dir = tmpdir()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = OWNED.exec(name);
    if (!m || ownerAlive(m[2]!)) continue;
    try {
      rmSync(join(dir, name), { recursive: true, force: true });
      removed.push(join(dir, name));
    } catch {
      // Another user's folder (/tmp is shared): theirs to remove.
    }
  }
  return removed;
}
