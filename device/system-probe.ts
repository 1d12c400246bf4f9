import { existsSync, readFileSync, statfsSync } from 'node:fs';

// Readings from the board and the OS. Each returns null where this machine
// does not report it (a laptop has no thermal zone 0, a container no NTP state).

export function cpuTemperatureC(path = '/sys/class/thermal/thermal_zone0/temp'): number | null {
  try {
    const milli = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(milli) ? Math.round(milli / 100) / 10 : null;
  } catch {
    return null;
  }
}

export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * Whether the system clock is synchronised by NTP: systemd-timesyncd creates
 * this file when it has synchronised (Raspberry Pi OS, Debian).
 */
export function ntpSynchronised(flag = '/run/systemd/timesync/synchronized'): boolean {
  return existsSync(flag);
}

/**
 * This boot's id (Linux: /proc/sys/kernel/random/boot_id): monotonic instants
 * stored by the agent can be compared after a restart only within one boot.
 * Elsewhere a random id per process, so nothing is compared across restarts.
 */
export function bootId(path = '/proc/sys/kernel/random/boot_id'): string {
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (id) return id;
  } catch {
    // not Linux
  }
  return `process-${process.pid}-${Date.now()}`;
}
