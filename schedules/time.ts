// Wall-clock arithmetic for Asia/Ho_Chi_Minh. Vietnam has kept UTC+07:00
// without daylight saving since 1975, so local time is UTC plus a constant;
// no time zone database is needed and none can be out of date on a device.

export const TZ = 'Asia/Ho_Chi_Minh';
export const VN_OFFSET_MS = 7 * 3600_000;
export const DAY_MS = 86_400_000;

/** Local calendar date (YYYY-MM-DD) of an instant. */
export function localDate(epochMs: number): string {
  return new Date(epochMs + VN_OFFSET_MS).toISOString().slice(0, 10);
}

/** Minutes since local midnight of an instant. */
export function localMinutes(epochMs: number): number {
  const d = new Date(epochMs + VN_OFFSET_MS);
  return d.getUTCHours() * 60 + d.getUTCMinutes();
}

/** ISO weekday of a local date: 1 = Monday (Thứ Hai) … 7 = Sunday (Chủ Nhật). */
export function isoWeekday(date: string): number {
  const d = new Date(`${date}T00:00:00Z`).getUTCDay();
  return d === 0 ? 7 : d;
}

/** The instant of a local date and HH:MM. */
export function localToEpoch(date: string, time: string): number {
  return Date.parse(`${date}T${time}:00Z`) - VN_OFFSET_MS;
}

export function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

/** Local wall-clock time of an instant, HH:MM or HH:MM:SS, for reasons people read. */
export function localClock(epochMs: number): string {
  const t = new Date(epochMs + VN_OFFSET_MS).toISOString();
  return t.slice(17, 19) === '00' ? t.slice(11, 16) : t.slice(11, 19);
}
