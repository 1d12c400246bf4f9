import { execFile } from 'node:child_process';
import { constants, existsSync, statfsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import mqtt from 'mqtt';
import type { DeviceConfig } from './config.js';
import { judgeAudio, judgeBroker, judgeClock, judgeDisk, judgeRelay, type AudioReading, type BrokerReading, type Check, type ClockReading } from './doctor.js';

// The readings `loa doctor` takes on a cluster. Each runs what could hang or
// abort (aplay, timedatectl, chronyc) in a child process with a timeout, so
// a broken sound card or a stuck tool fails one check, never the doctor.

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (e, out, err) => resolve({ ok: !e, out: String(out ?? ''), err: String(err ?? '') || (e ? e.message : '') }));
  });
}

export async function probeAudio(c: DeviceConfig): Promise<AudioReading> {
  const a = c.agent.audio;
  if (a.output !== 'alsa') return a.output === 'wav' ? { output: 'wav', file: a.wavFile ?? join(c.data, 'output.wav') } : { output: 'null' };
  const list = await run('aplay', ['-l'], 5000);
  const cards = list.ok || /no soundcards found/i.test(list.err) ? [...list.out.matchAll(/^card \d+: [^[]*\[([^\]]+)\]/gm)].map((m) => m[1]!) : null;
  // A tenth of a second of silence through the configured device: it opens, or says why not.
  const play = await run('aplay', ['-q', '-D', a.device, '-d', '1', '-f', 'S16_LE', '-r', '48000', '-c', '1', '-s', '4800', '/dev/zero'], 5000);
  const error = play.err.trim().split('\n').pop() ?? 'aplay failed';
  return { output: 'alsa', device: a.device, cards, opened: play.ok ? { ok: true } : { ok: false, error: error || 'aplay failed' } };
}

export async function probeRelay(c: DeviceConfig) {
  const r = c.agent.relay;
  const sysfs = await access('/sys/class/gpio/export', constants.W_OK).then(
    () => true,
    () => false,
  );
  const gpioset = (await run(r.gpiosetPath, ['--version'], 3000)).ok;
  return { driver: r.driver, pin: r.pin, sysfs, gpioset, chip: r.gpioChip, chipPresent: existsSync(join('/dev', r.gpioChip)) };
}

/** The agent's stored time floor (read-only; the agent may be running). */
async function timeFloor(c: DeviceConfig): Promise<number | null> {
  const file = join(c.data, 'device.sqlite');
  if (!existsSync(file)) return null;
  try {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 2000 });
    try {
      const row = db.prepare("SELECT value FROM settings WHERE key = 'time_floor'").get() as { value: string } | undefined;
      const at = row ? (JSON.parse(row.value) as { at?: unknown }).at : null;
      return typeof at === 'number' ? at : null;
    } finally {
      db.close();
    }
  } catch {
    return null;
  }
}

export async function probeClock(c: DeviceConfig, now: () => number): Promise<ClockReading> {
  let synchronised: ClockReading['synchronised'] = null;
  const td = await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], 5000);
  if (td.ok && /^(yes|no)$/m.test(td.out.trim())) synchronised = { by: 'timedatectl', ok: td.out.trim() === 'yes' };
  if (!synchronised?.ok) {
    const ch = await run('chronyc', ['tracking'], 5000);
    if (ch.ok) synchronised = { by: 'chrony', ok: /Leap status\s*:\s*Normal/.test(ch.out) };
  }
  if (!synchronised?.ok && c.agent.clock.ntpFlag && existsSync(c.agent.clock.ntpFlag)) synchronised = { by: c.agent.clock.ntpFlag, ok: true };
  return { synchronised, now: now(), floor: await timeFloor(c) };
}

/**
 * Connects with the device's credentials under the client id `<id>:doctor`:
 * the agent's own session (clean=false, its client id) is never taken over
 * or wiped. Loa's broker checks the password before the client id, so a
 * refusal with code 2 means the credentials were accepted.
 */
export async function probeBroker(c: DeviceConfig, timeoutMs: number): Promise<BrokerReading> {
  const url = c.broker.urls[0]!;
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { clientId: `${c.device.id}:doctor`, username: c.broker.username, password: c.broker.password, clean: true, reconnectPeriod: 0, connectTimeout: timeoutMs, protocolVersion: 4, ...(c.broker.ca ? { ca: c.broker.ca } : {}) });
    let done = false;
    const finish = (r: BrokerReading) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.removeAllListeners();
      client.on('error', () => {});
      client.end(true);
      resolve(r);
    };
    const timer = setTimeout(() => finish({ url, outcome: 'unreachable', error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    client.once('connect', () => finish({ url, outcome: 'accepted' }));
    client.on('error', (e: Error & { code?: unknown }) => {
      if (typeof e.code === 'number') finish({ url, outcome: 'refused', returnCode: e.code });
      else finish({ url, outcome: 'unreachable', error: e.message });
    });
    client.once('close', () => finish({ url, outcome: 'unreachable', error: 'connection closed before CONNACK' }));
  });
}

export function probeDisk(c: DeviceConfig) {
  // The data directory, or the nearest folder above it that exists (before the first start).
  let dir = c.data;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  const s = statfsSync(dir);
  return { dir: c.data, freeBytes: s.bavail * s.bsize, reserveBytes: c.agent.storeReserveBytes, budgetBytes: c.agent.diskBudgetBytes };
}

/** Every check of `loa doctor`, in the order a technician would fix them. */
export async function runDoctor(c: DeviceConfig, opts: { timeoutMs: number; now?: () => number }): Promise<Check[]> {
  const [audio, relay, clock, broker] = await Promise.all([probeAudio(c), probeRelay(c), probeClock(c, opts.now ?? Date.now), probeBroker(c, opts.timeoutMs)]);
  return [judgeAudio(audio), judgeRelay(relay), judgeClock(clock), judgeBroker(broker), judgeDisk(probeDisk(c))];
}
