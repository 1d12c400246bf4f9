// `loa doctor`'s verdicts: plain readings of the machine in, one line per
// check out, with what to fix in Vietnamese and English. The readings are
// taken by device/doctor-probes.ts; nothing here touches the machine.

export type CheckStatus = 'ok' | 'warn' | 'fail';
export type CheckId = 'audio' | 'relay' | 'clock' | 'broker' | 'disk';
export type Lang = 'vi' | 'en';
type Words = Record<Lang, string>;

export interface Check {
  id: CheckId;
  status: CheckStatus;
  detail: Words;
  /** What to do about a warn or a fail. */
  fix?: Words;
}

export const CHECK_NAMES: Record<CheckId, Words> = {
  audio: { vi: 'Âm thanh (ALSA)', en: 'Audio output (ALSA)' },
  relay: { vi: 'Rơ-le ampli (GPIO)', en: 'Amplifier relay (GPIO)' },
  clock: { vi: 'Đồng hồ', en: 'Clock' },
  broker: { vi: 'Máy chủ MQTT tỉnh', en: 'Province broker' },
  disk: { vi: 'Ổ đĩa', en: 'Disk' },
};

const w = (vi: string, en: string): Words => ({ vi, en });

export type AudioReading =
  | { output: 'wav' | 'null'; file?: string }
  | { output: 'alsa'; device: string; cards: string[] | null; opened: { ok: true } | { ok: false; error: string } };

export function judgeAudio(r: AudioReading): Check {
  if (r.output !== 'alsa') {
    return { id: 'audio', status: 'warn', detail: r.output === 'wav' ? w(`agent phát vào tệp ${r.file ?? 'WAV'}, không ra loa`, `the agent plays into the file ${r.file ?? '(WAV)'}, not a speaker`) : w('agent không phát ra đâu cả (audio.output = null)', 'the agent plays into nothing (audio.output = null)'), fix: w('đặt agent.audio.output = "alsa" trong tệp cấu hình của cụm loa', 'set agent.audio.output to "alsa" in the device config') };
  }
  if (r.cards !== null && r.cards.length === 0) return { id: 'audio', status: 'fail', detail: w('không thấy card âm thanh nào (aplay -l)', 'no sound card found (aplay -l)'), fix: w('cắm card USB hoặc bật âm thanh tích hợp (dtparam=audio=on trong /boot/firmware/config.txt), rồi khởi động lại', 'plug in the USB sound card or enable the on-board audio (dtparam=audio=on in /boot/firmware/config.txt), then reboot') };
  if (!r.opened.ok) return { id: 'audio', status: 'fail', detail: w(`không mở được thiết bị "${r.device}": ${r.opened.error}`, `cannot open the device "${r.device}": ${r.opened.error}`), fix: w(`kiểm tra agent.audio.device (xem "aplay -L"); người chạy agent phải ở nhóm audio (sudo usermod -aG audio loa)`, 'check agent.audio.device (see "aplay -L"); the agent\'s user must be in the audio group (sudo usermod -aG audio loa)') };
  return { id: 'audio', status: 'ok', detail: w(`thiết bị "${r.device}" mở được${r.cards ? `; card: ${r.cards.join(', ')}` : ''}`, `device "${r.device}" opens${r.cards ? `; cards: ${r.cards.join(', ')}` : ''}`) };
}

export interface RelayReading {
  driver: 'auto' | 'sysfs' | 'gpioset' | 'noop';
  pin: number | null;
  sysfs: boolean;
  gpioset: boolean;
  chip: string;
  chipPresent: boolean;
}

export function judgeRelay(r: RelayReading): Check {
  if (r.driver === 'noop' || r.pin === null) return { id: 'relay', status: 'warn', detail: w('chưa cấu hình rơ-le: ampli không được bật tắt', 'no relay configured: the amplifier is not switched'), fix: w('nếu ampli nối qua rơ-le, đặt agent.relay.pin (số BCM) trong tệp cấu hình', 'if the amplifier is switched by a relay, set agent.relay.pin (BCM number) in the device config') };
  const gpioset = r.gpioset && r.chipPresent;
  const usable = r.driver === 'sysfs' ? r.sysfs : r.driver === 'gpioset' ? gpioset : r.sysfs || gpioset;
  if (!usable) {
    return { id: 'relay', status: 'fail', detail: w(`không điều khiển được chân GPIO ${r.pin} (driver ${r.driver}): ${r.sysfs ? '' : '/sys/class/gpio không ghi được; '}${r.gpioset ? '' : 'không có lệnh gpioset; '}${r.chipPresent ? '' : `không có /dev/${r.chip}`}`, `cannot drive GPIO ${r.pin} (driver ${r.driver}): ${r.sysfs ? '' : '/sys/class/gpio not writable; '}${r.gpioset ? '' : 'no gpioset command; '}${r.chipPresent ? '' : `no /dev/${r.chip}`}`), fix: w('cài gpiod (sudo apt install gpiod) và cho người chạy agent vào nhóm gpio (sudo usermod -aG gpio loa)', 'install gpiod (sudo apt install gpiod) and add the agent\'s user to the gpio group (sudo usermod -aG gpio loa)') };
  }
  return { id: 'relay', status: 'ok', detail: w(`chân GPIO ${r.pin} qua ${r.sysfs && r.driver !== 'gpioset' ? 'sysfs' : 'gpioset'}`, `GPIO ${r.pin} through ${r.sysfs && r.driver !== 'gpioset' ? 'sysfs' : 'gpioset'}`) };
}

export interface ClockReading {
  /** timedatectl / chrony / the timesyncd flag: null when none of them answers. */
  synchronised: { by: string; ok: boolean } | null;
  now: number;
  /** The agent's stored time floor: a time known to have passed. */
  floor: number | null;
}

export function judgeClock(r: ClockReading): Check {
  if (r.floor !== null && r.now < r.floor - 60_000) {
    const behind = Math.round((r.floor - r.now) / 60_000);
    return { id: 'clock', status: 'fail', detail: w(`đồng hồ chậm hơn thời điểm agent đã ghi nhận ${behind} phút`, `the clock is ${behind} min behind a time the agent has already seen`), fix: w('bật đồng bộ giờ (sudo timedatectl set-ntp true) hoặc lắp pin RTC; agent sẽ hỏi giờ tỉnh khi có kết nối', 'turn on time sync (sudo timedatectl set-ntp true) or fit an RTC battery; the agent asks the province for the time once connected') };
  }
  if (r.synchronised?.ok) return { id: 'clock', status: 'ok', detail: w(`đã đồng bộ (${r.synchronised.by})`, `synchronised (${r.synchronised.by})`) };
  return { id: 'clock', status: 'warn', detail: r.synchronised ? w(`chưa đồng bộ (${r.synchronised.by})`, `not synchronised (${r.synchronised.by})`) : w('không biết đồng hồ có đồng bộ không (không có timedatectl, chrony)', 'cannot tell whether the clock is synchronised (no timedatectl, no chrony)'), fix: w('bật NTP (sudo timedatectl set-ntp true); không có mạng thì agent lấy giờ từ tỉnh qua MQTT', 'turn on NTP (sudo timedatectl set-ntp true); without internet the agent takes the time from the province over MQTT') };
}

export type BrokerReading = { url: string } & ({ outcome: 'accepted' } | { outcome: 'refused'; returnCode: number } | { outcome: 'unreachable'; error: string });

export function judgeBroker(r: BrokerReading): Check {
  // Return code 2 (identifier rejected) comes after the password was checked: the doctor's own client id is not the agent's.
  if (r.outcome === 'accepted' || (r.outcome === 'refused' && r.returnCode === 2)) return { id: 'broker', status: 'ok', detail: w(`${r.url}: kết nối được, tài khoản của cụm loa được chấp nhận`, `${r.url}: reachable, the device's credentials accepted`) };
  if (r.outcome === 'refused') {
    return { id: 'broker', status: 'fail', detail: w(`${r.url}: từ chối tài khoản của cụm loa (mã ${r.returnCode})`, `${r.url}: refused the device's credentials (return code ${r.returnCode})`), fix: w('mật khẩu trong gói cấu hình đã cũ hoặc cụm loa đã bị thu hồi: ở tỉnh chạy "loa provision device rotate ID --out FILE" và chép gói mới vào máy này', 'the bundle\'s password is stale or the device was revoked: at the province run "loa provision device rotate ID --out FILE" and copy the new bundle here') };
  }
  return { id: 'broker', status: 'fail', detail: w(`${r.url}: không kết nối được (${r.error})`, `${r.url}: unreachable (${r.error})`), fix: w('kiểm tra mạng 3G/4G và địa chỉ máy chủ trong gói cấu hình (broker.urls); tường lửa tỉnh phải mở cổng MQTT', 'check the 3G/4G link and the broker address in the bundle (broker.urls); the province firewall must let the MQTT port through') };
}

export interface DiskReading {
  dir: string;
  freeBytes: number;
  reserveBytes: number;
  budgetBytes: number;
}

const gb = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GB`;

export function judgeDisk(r: DiskReading): Check {
  const free = gb(r.freeBytes);
  if (r.freeBytes < r.reserveBytes) return { id: 'disk', status: 'fail', detail: w(`${r.dir}: còn trống ${free}, ít hơn phần dự phòng của kho (${gb(r.reserveBytes)})`, `${r.dir}: ${free} free, less than the store's reserve (${gb(r.reserveBytes)})`), fix: w('giải phóng chỗ trống (journalctl --vacuum-size=100M, xoá tệp cũ) hoặc dùng thẻ nhớ lớn hơn', 'free some space (journalctl --vacuum-size=100M, old files) or use a larger card') };
  if (r.freeBytes < r.reserveBytes + r.budgetBytes) return { id: 'disk', status: 'warn', detail: w(`${r.dir}: còn trống ${free}, chưa đủ cho cả hạn mức âm thanh (${gb(r.budgetBytes)})`, `${r.dir}: ${free} free, not enough for the whole audio budget (${gb(r.budgetBytes)})`), fix: w('giải phóng chỗ trống hoặc giảm agent.diskBudgetBytes', 'free some space or lower agent.diskBudgetBytes') };
  return { id: 'disk', status: 'ok', detail: w(`${r.dir}: còn trống ${free}`, `${r.dir}: ${free} free`) };
}

/** The report as lines, in one language; the worst status decides the exit code. */
export function doctorReport(checks: readonly Check[], lang: Lang): { lines: string[]; exitCode: number } {
  const tag: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${tag[c.status]}  ${CHECK_NAMES[c.id][lang]}: ${c.detail[lang]}`);
    if (c.fix && c.status !== 'ok') lines.push(`      ${lang === 'vi' ? 'Cách sửa' : 'Fix'}: ${c.fix[lang]}`);
  }
  const fails = checks.filter((c) => c.status === 'fail').length;
  lines.push(fails ? (lang === 'vi' ? `${fails} mục lỗi cần sửa.` : `${fails} check(s) failed.`) : lang === 'vi' ? 'Không có lỗi.' : 'No failures.');
  return { lines: lines.map((l) => l.normalize('NFC')), exitCode: fails ? 1 : 0 };
}
