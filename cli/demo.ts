import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { command, int, str, type Invocation } from '../lib/cli.js';
import { writeFileAtomic } from '../lib/fs-atomic.js';
import { defaultDataDir } from '../lib/paths.js';
import { LoaError } from '../protocol/errors.js';
import type { LogRecord } from '../protocol/payloads.js';
import type { Registry } from '../provisioning/registry.js';
import type { TtsService } from '../provisioning/console/context.js';
import { localClock, localDate, localMinutes } from '../schedules/time.js';
import { startPanel } from './device.js';
import type { Panel } from '../device/panel/server.js';
import { stopSignals } from './common.js';
import { nextDaily, runStamp, untilText } from './demo-text.js';

// `loa demo` (what `npm start` runs): a sample province on this machine, all
// of it real — the broker, the province console (web UI, API, device
// services, dispatch), and three village agents in two communes, each with its
// own SQLite file, playing into a WAV file (or the sound card). First run
// provisions it and makes a bulletin with the Vietnamese TTS; every run
// schedules that bulletin a minute ahead so it is heard, and `--emergency`
// fires an exercise alert and prints its acknowledgement roll-up. Each run
// records into its own directory, so a run never overwrites the last one's.

const ZONES: [string, string][] = [
  ['quang-ngai', 'Quảng Ngãi'],
  ['quang-ngai/dak-ha', 'Xã Đắk Hà'],
  ['quang-ngai/dak-ha/thon-1', 'Thôn 1'],
  ['quang-ngai/dak-ha/thon-3', 'Thôn 3'],
  ['quang-ngai/son-tay', 'Xã Sơn Tây'],
  ['quang-ngai/son-tay/lang-ra', 'Làng Ra'],
];
const DEVICES: [string, string][] = [
  ['dak-ha-thon-1', 'quang-ngai/dak-ha/thon-1'],
  ['dak-ha-thon-3', 'quang-ngai/dak-ha/thon-3'],
  ['son-tay-lang-ra', 'quang-ngai/son-tay/lang-ra'],
];
/** Service accounts (the console's and dispatch's MQTT identities) and people to log in as. */
const ACCOUNTS: [name: string, role: string, zone: string | undefined, who: string][] = [
  ['console', 'console', undefined, ''],
  ['dispatch', 'dispatch', undefined, 'điều phối khẩn cấp của tỉnh (dispatcher)'],
  ['admin', 'admin', undefined, 'quản trị tỉnh (admin)'],
  ['bien-tap-dak-ha', 'editor', 'quang-ngai/dak-ha', 'biên tập viên xã Đắk Hà (commune editor)'],
  ['phe-duyet', 'approver', undefined, 'lãnh đạo phê duyệt (approver)'],
];
const BULLETIN_TEXT =
  'Xin chào bà con. Đài truyền thanh xã thông báo: ngày 15/12/2026, UBND xã tổ chức tiêm phòng cho gia súc tại nhà văn hoá thôn 3, từ 7h30 đến 11h. Mọi thắc mắc xin gọi 0905 123 456.';
const BULLETIN_TITLE = 'Bản tin tiêm phòng gia súc';
/** The bulletin plays this long after the demo starts, at the earliest (programmes start on the minute). */
const LEAD_MS = 20_000;
/** The bulletin's daily time (programme ban-tin-sang). */
const DAILY_AT = '06:30';

interface Credentials {
  devices: Record<string, { zone: string; password: string; panelPassword: string; panelHash: string }>;
  accounts: Record<string, { role: string; password: string }>;
  bulletin: string;
}

async function provisionDemo(reg: Registry, dir: string, tts: TtsService): Promise<Credentials> {
  const [{ AssetLibrary }, { saveProgramme, saveRuleProfile }, { speakToLibrary }] = await Promise.all([import('../provisioning/library.js'), import('../provisioning/planning.js'), import('../provisioning/console/media.js')]);
  for (const [p, n] of ZONES) reg.addZone(p, n, 'demo');
  const creds: Credentials = { devices: {}, accounts: {}, bulletin: '' };
  for (const [id, zone] of DEVICES) {
    const r = await reg.addDevice({ zone, id, actor: 'demo' });
    creds.devices[id] = { zone, password: r.secret, panelPassword: r.panelPassword, panelHash: r.panelHash };
  }
  for (const [name, role, zone] of ACCOUNTS) {
    const r = await reg.addAccount({ name, role, zone, actor: 'demo' });
    creds.accounts[name] = { role, password: r.secret };
  }
  const lib = new AssetLibrary(reg);
  let asset;
  try {
    asset = await speakToLibrary({ library: lib, tts }, { text: BULLETIN_TEXT, title: BULLETIN_TITLE }, 'demo');
  } catch (e) {
    throw new LoaError('LOA_E_AUDIO_INVALID', `the demo speaks its bulletin with espeak-ng and ffmpeg: run "sudo bash scripts/setup-system.sh" (${(e as Error).message})`, { cause: e });
  }
  creds.bulletin = asset.sha256;
  // Loudspeakers may sound all day in the demo so it can be heard whenever it runs; real provinces keep
  // them to the morning and evening slots (docs/operations.md). Sơn Tây, beside a clinic, caps lower.
  saveRuleProfile(reg, 'quang-ngai', { windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '00:00', volumeCap: 80 }], defaultVolume: 70 }, 'demo');
  saveRuleProfile(reg, 'quang-ngai/son-tay', { windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '00:00', volumeCap: 60 }] }, 'demo');
  saveProgramme(reg, lib, 'quang-ngai', { id: 'ban-tin-sang', title: 'Bản tin sáng', level: 'normal', playlist: [asset.sha256], recurrence: { kind: 'daily', time: DAILY_AT }, resumable: true, zones: ['quang-ngai'] }, 'demo');
  writeFileAtomic(join(dir, 'demo-credentials.json'), JSON.stringify(creds, null, 2) + '\n', 0o600);
  return creds;
}

/** Schedules the bulletin once, on the first whole minute at least LEAD_MS from now (Asia/Ho_Chi_Minh), and republishes. */
async function scheduleBulletinSoon(reg: Registry, creds: Credentials, now = Date.now()): Promise<number> {
  const [{ AssetLibrary }, { saveProgramme, publishZones }] = await Promise.all([import('../provisioning/library.js'), import('../provisioning/planning.js')]);
  const lib = new AssetLibrary(reg);
  const minuteMs = 60_000;
  const at = Math.ceil((now + LEAD_MS) / minuteMs) * minuteMs;
  const time = `${String(Math.floor(localMinutes(at) / 60)).padStart(2, '0')}:${String(localMinutes(at) % 60).padStart(2, '0')}`;
  saveProgramme(reg, lib, 'quang-ngai', { id: 'ban-tin-demo', title: BULLETIN_TITLE, level: 'normal', playlist: [creds.bulletin], recurrence: { kind: 'once', date: localDate(at), time }, resumable: true, zones: ['quang-ngai'] }, 'demo');
  publishZones(reg, lib, null, 'demo');
  return at;
}

const STATUS_VI: Record<string, string> = { received: 'đã nhận', playing: 'đang phát', finished: 'đã phát xong', cancelled: 'đã huỷ', rejected: 'từ chối', silent: 'chưa phản hồi' };

function describeRecord(r: LogRecord): string | null {
  if (r.kind === 'play') {
    const d = r.data;
    const what = d.source === 'emergency' ? 'khẩn cấp (emergency)' : `"${d.title ?? d.programme ?? d.source}"`;
    const outcome = { played: 'đã phát (played)', refused: 'từ chối (refused)', interrupted: 'bị ngắt (interrupted)', failed: 'lỗi (failed)' }[d.outcome];
    const secs = d.end ? ` ${((Date.parse(d.end) - Date.parse(d.start)) / 1000).toFixed(1)} s` : '';
    return `${what} ${outcome}${secs}${d.volume !== undefined ? `, âm lượng ${d.volume}%` : ''}${d.rule ? ` [${d.rule}${d.reason ? `: ${d.reason}` : ''}]` : ''}`;
  }
  return null;
}

/** A new directory for this run's recordings under `root`, named for its start time (-2, -3 … if one run started in the same second). */
function claimRunDir(root: string, now: number): string {
  mkdirSync(root, { recursive: true });
  for (let n = 1; ; n++) {
    const d = join(root, runStamp(now) + (n > 1 ? `-${n}` : ''));
    try {
      mkdirSync(d);
      return d;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

export const demo = command({
  summary: 'run a sample province on this machine: broker, province console and three village agents (what `npm start` runs)',
  options: {
    data: { type: 'string', placeholder: 'DIR', description: 'state directory of the demo (default: <default data dir>/demo)' },
    host: { type: 'string', placeholder: 'ADDR', description: 'listen address of the broker and the console', default: '127.0.0.1' },
    port: { type: 'string', short: 'p', placeholder: 'PORT', description: 'broker port', default: '1883' },
    'http-port': { type: 'string', placeholder: 'PORT', description: 'console web port', default: '8080' },
    'panel-port': { type: 'string', placeholder: 'PORT', description: 'local panel port of the first village; the others follow (0: any free port)', default: '8081' },
    'sound-card': { type: 'boolean', description: 'play the villages through this machine\'s sound card instead of WAV files' },
    emergency: { type: 'boolean', description: 'also fire an exercise emergency once the villages are synced, and print its ack roll-up' },
  },
  help: 'First run provisions the sample province and writes its credentials to DIR/demo-credentials.json (mode 0600).\nEach run records each village into DIR/recordings/<start time>/<id>.wav (or plays through the sound card with --sound-card); earlier runs stay there. Delete DIR to start afresh.\nSIGINT (Ctrl-C) or SIGTERM stops it all.',
  run: async (inv: Invocation) => {
    const dir = str(inv.values.data) ?? join(defaultDataDir(inv.io.env), 'demo');
    const host = str(inv.values.host)!;
    const port = int('port', inv.values.port, { min: 0, max: 65535 })!;
    const httpPort = int('http-port', inv.values['http-port'], { min: 0, max: 65535 })!;
    const panelPort = int('panel-port', inv.values['panel-port'], { min: 0, max: 65533 })!;
    const [{ Registry }, { ProvinceBroker }, { BrokerConfig }, { ConsoleServer }, { consoleServices }, { Agent }, { DeviceConfig }, { BUNDLE_FORMAT }, { createLogger }] = await Promise.all([
      import('../provisioning/registry.js'),
      import('../broker/server.js'),
      import('../broker/config.js'),
      import('../provisioning/console/server.js'),
      import('../provisioning/console/services.js'),
      import('../device/agent.js'),
      import('../device/config.js'),
      import('../protocol/bundle.js'),
      import('../lib/log.js'),
    ]);
    const log = createLogger({ name: 'loa-demo', level: (inv.io.env.LOA_LOG_LEVEL as 'info' | undefined) ?? 'error' });
    const { tts } = await consoleServices({ engine: 'espeak' });
    const fresh = !Registry.exists(dir);
    const registry = fresh ? Registry.init(dir, { brokerUrls: [`mqtt://127.0.0.1:${port}`] }) : Registry.open(dir);
    let creds: Credentials;
    let bulletinAt: number;
    try {
      creds = fresh ? await provisionDemo(registry, dir, tts) : (JSON.parse(readFileSync(join(dir, 'demo-credentials.json'), 'utf8')) as Credentials);
      if (!creds.bulletin) throw new Error('it predates the console (no bulletin)');
      bulletinAt = await scheduleBulletinSoon(registry, creds);
    } catch (e) {
      registry.close();
      throw fresh ? e : new LoaError('LOA_E_DATA_DIR', `${dir} holds a registry but no usable demo-credentials.json (${(e as Error).message}); remove ${dir} to start the demo afresh`, { cause: e });
    }
    if (fresh) inv.io.out(`Đã tạo tỉnh mẫu trong ${dir} (demo province provisioned)`);

    // From here on a signal stops what has started. Taken before anything listens, so a Ctrl-C while the
    // agents start waits for them and then stops them all, rather than killing the process halfway.
    const signals = stopSignals((sig) => {
      inv.io.err(`Buộc dừng (forced stop: ${sig} again)`);
      process.exit(130);
    });
    const broker = new ProvinceBroker({ config: BrokerConfig.parse({ data: dir, host, port }), principals: registry, log });
    let addr;
    try {
      addr = await broker.start();
    } catch (e) {
      registry.close();
      // Debian's mosquitto package starts a broker on 127.0.0.1:1883, the demo's own port.
      if (e instanceof LoaError && e.code === 'LOA_E_LISTEN') throw new LoaError('LOA_E_LISTEN', `${e.message} (another MQTT broker there? Debian's mosquitto service holds 1883: "systemctl stop mosquitto", or pick another port with --port)`, { cause: e });
      throw e;
    }
    const url = `mqtt://127.0.0.1:${addr.tcp.port}`;
    const server = new ConsoleServer({
      registry,
      log,
      broker: { url, console: { username: 'console', password: creds.accounts.console!.password }, dispatch: { username: 'dispatch', password: creds.accounts.dispatch!.password } },
      http: { host, port: httpPort },
      tts,
    });
    try {
      await server.start();
    } catch (e) {
      await broker.stop();
      registry.close();
      throw e;
    }
    const soundCard = !!inv.values['sound-card'];
    // Each run records into a directory of its own: a run never overwrites the last one's recordings.
    const recordings = soundCard ? null : claimRunDir(join(dir, 'recordings'), Date.now());
    const applied = new Set<string>();
    let allApplied: () => void;
    const synced = new Promise<void>((r) => (allApplied = r));
    const agents = DEVICES.map(([id, zone], i) => {
      const d = creds.devices[id]!;
      const config = DeviceConfig.parse({
        format: BUNDLE_FORMAT,
        issuedAt: new Date().toISOString(),
        device: { id, zone },
        broker: { urls: [url], username: id, password: d.password, ca: null },
        keys: { console: registry.publicKeys('console'), dispatch: registry.publicKeys('dispatch') },
        panel: { passwordHash: d.panelHash },
        data: join(dir, 'villages', id),
        // Each village's horn is a WAV file paced in real time, or the sound card on request.
        agent: {
          audio: recordings ? { output: 'wav', wavFile: join(recordings, `${id}.wav`) } : { output: 'alsa' },
          panel: { port: panelPort === 0 ? 0 : panelPort + i, bind: [host] },
        },
      });
      const agent = new Agent({ config, log });
      agent.on('applied', (v) => {
        inv.io.err(`  ${id}: bản kế hoạch ${v} đã áp dụng (target ${v} applied), ${agent.store.assets().length} tệp âm thanh`);
        applied.add(id);
        if (applied.size === DEVICES.length) allApplied();
      });
      agent.on('record', (r) => {
        const line = describeRecord(r);
        if (line) inv.io.err(`  ${id}: ${line}`);
      });
      return { agent, config };
    }).map(({ agent, config }) => Object.assign(agent, { demoConfig: config }));
    const a = server.address!;
    const consoleUrl = `http://${a.address}:${a.port}/`;
    const now = Date.now();
    const daily = nextDaily(now, DAILY_AT);
    inv.io.err(
      [
        '',
        `Loa demo — tỉnh mẫu Quảng Ngãi, dữ liệu tại (state in) ${dir}`,
        `  Bảng điều khiển tỉnh (province console): ${consoleUrl}`,
        '  Tài khoản (accounts):',
        ...ACCOUNTS.filter(([, , , who]) => who).map(([name, , , who]) => `    ${name.padEnd(16)} ${creds.accounts[name]!.password}   ${who}`),
        `  Máy chủ MQTT (broker): mqtt://${addr.tcp.address}:${addr.tcp.port}, ${agents.length} cụm loa ở hai xã (village agents in two communes)`,
        recordings
          ? `  Mỗi thôn phát vào tệp (each village plays into) ${join(recordings, '<id>.wav')}; các lần chạy trước vẫn giữ trong (earlier runs are kept in) ${join(dir, 'recordings')}`
          : '  Các thôn phát qua loa của máy này (sound card).',
        `  Bản tin "${BULLETIN_TITLE}" phát lúc ${localClock(bulletinAt).slice(0, 5)} giờ Việt Nam, ${untilText(bulletinAt - now)}`,
        `    và hằng ngày lúc ${DAILY_AT} (and every day at ${DAILY_AT}): lần tới ${untilText(daily - now)}`,
      ].join('\n'),
    );
    const panels: Panel[] = [];
    for (const ag of agents) await ag.start();
    inv.io.err('  Bảng điều khiển tại thôn (local panel of each cluster, for the commune operator):');
    for (const ag of agents) {
      const p = await startPanel(ag, ag.demoConfig, log);
      if (p) panels.push(p);
      inv.io.err(`    ${ag.config.device.id.padEnd(16)} ${p?.urls[0] ?? '—'}   mật khẩu (password) ${creds.devices[ag.config.device.id]!.panelPassword}`);
    }
    inv.io.err('Nhấn Ctrl-C để dừng (press Ctrl-C to stop).\n');
    if (inv.values.emergency) void fireExercise();
    const sig = await signals.first;
    inv.io.err(`\nĐang dừng (stopping on ${sig})…`);
    for (const p of panels) await p.stop();
    for (const ag of agents) await ag.stop();
    await server.stop();
    await broker.stop();
    registry.close();
    signals.release();
    inv.io.err(`Đã dừng: ${agents.length} cụm loa, bảng điều khiển và máy chủ MQTT đã tắt (stopped: village agents, console and broker).`);
    if (recordings) inv.io.err(`Bản ghi của lần chạy này (this run's recordings): ${recordings}`);
    return 0;

    async function fireExercise(): Promise<void> {
      const timeout = new Promise<'timeout'>((r) => setTimeout(r, 60_000, 'timeout').unref());
      if ((await Promise.race([synced, timeout])) === 'timeout') {
        inv.io.err('  diễn tập không gửi: các thôn chưa đồng bộ sau 60 s (exercise not sent: villages not synced)');
        return;
      }
      try {
        const d = await server.dispatcher.compose(
          { name: 'dispatch', role: 'dispatch', zone: null },
          { mode: 'exercise', level: 3, zones: ['quang-ngai/dak-ha', 'quang-ngai/son-tay'], devices: [], content: { kind: 'standard', clip: 'siren' }, repeat: 1, expiresMinutes: 10, title: 'Diễn tập ứng phó lũ quét' },
        );
        inv.io.err(`  ĐÃ GỬI DIỄN TẬP (exercise sent) ${d.id}: còi báo động, 2 xã`);
        let last = '';
        const print = (id: string) => {
          if (id !== d.id) return;
          const r = server.dispatcher.rollup(d.id);
          const line = r.zones.map((z) => `${z.zone}: ${Object.entries(z.counts).filter(([, n]) => n).map(([k, n]) => `${STATUS_VI[k] ?? k} ${n}`).join(', ')}`).join(' · ');
          if (line !== last) inv.io.err(`  diễn tập (exercise roll-up) — ${(last = line)}`);
        };
        server.dispatcher.on('changed', print);
        print(d.id);
      } catch (e) {
        inv.io.err(`  diễn tập không gửi được (exercise failed): ${(e as Error).message}`);
      }
    }
  },
});
