import { addDays, localDate, localToEpoch, VN_OFFSET_MS } from '../schedules/time.js';

// What `loa demo` says about time, as plain functions of the current time.
// The demo prints Vietnam time (Asia/Ho_Chi_Minh), which on a machine in UTC
// or Europe reads hours away from its own clock: each time comes with how
// long until it, in both languages.

/** "sau 45 giây (in 45 s)", "sau 3 phút 5 giây (in 3 min 5 s)", "sau 13 giờ 2 phút (in 13 h 2 min)". */
export function untilText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s === 0) return 'ngay bây giờ (now)';
  if (s < 60) return `sau ${s} giây (in ${s} s)`;
  if (s < 3600) {
    const [m, r] = [Math.floor(s / 60), s % 60];
    return r ? `sau ${m} phút ${r} giây (in ${m} min ${r} s)` : `sau ${m} phút (in ${m} min)`;
  }
  const [h, m] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60)];
  return m ? `sau ${h} giờ ${m} phút (in ${h} h ${m} min)` : `sau ${h} giờ (in ${h} h)`;
}

/** The next instant after `now` when Vietnam's clock reads `time` (HH:MM). */
export function nextDaily(now: number, time: string): number {
  const today = localToEpoch(localDate(now), time);
  return today > now ? today : localToEpoch(addDays(localDate(now), 1), time);
}

/** A directory name for one run's recordings, from its Vietnam start time: 2026-12-03_17-31-05. */
export function runStamp(now: number): string {
  return new Date(now + VN_OFFSET_MS).toISOString().slice(0, 19).replace('T', '_').replaceAll(':', '-');
}
