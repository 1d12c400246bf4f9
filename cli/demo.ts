import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { command, int, type Invocation } from '../lib/cli.js';
import { writeFileAtomic } from '../lib/fs-atomic.js';
import { defaultDataDir } from '../lib/paths.js';
import { LoaError } from '../protocol/errors.js';
import type { Registry } from '../provisioning/registry.js';
import { untilSignal } from './common.js';

// `loa demo` (what `npm start` runs): a sample province on this machine, all
// of it real — the broker, the province services, and three village agents
// that fetch a bulletin spoken by espeak-ng's Vietnamese voice. First run
// provisions it; later runs reuse it. Playback, the console UI and the local
// panel join the demo as they are built.

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
const BULLETIN = 'Xin chào bà con. Đây là bản tin thử nghiệm của đài truyền thanh xã, phát lúc sáu giờ ba mươi sáng mỗi ngày.';

interface Credentials {
  devices: Record<string, { zone: string; password: string; panelPassword: string; panelHash: string }>;
  accounts: Record<string, { role: string; password: string }>;
}

/** The bulletin as Opus in Ogg: espeak-ng's Vietnamese voice, or a tone where espeak-ng is missing. */
function makeBulletin(dir: string): string {
  const wav = join(dir, 'ban-tin.wav');
  const ogg = join(dir, 'ban-tin.ogg');
  try {
    execFileSync('espeak-ng', ['-v', 'vi', '-s', '150', '-w', wav, BULLETIN], { stdio: 'ignore' });
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', wav, '-ac', '1', '-c:a', 'libopus', '-b:a', '32k', ogg], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=660:duration=4', '-ac', '1', '-c:a', 'libopus', '-b:a', '32k', ogg], { stdio: 'ignore' });
    } catch (e) {
      throw new LoaError('LOA_E_AUDIO_INVALID', `the demo needs ffmpeg (and espeak-ng for speech): run "sudo bash scripts/setup-system.sh" (${(e as Error).message})`, { cause: e });
    }
  }
  return ogg;
}

async function provisionDemo(reg: Registry, dir: string): Promise<Credentials> {
  const { AssetLibrary } = await import('../provisioning/library.js');
  const { setTarget } = await import('../provisioning/targets.js');
  for (const [p, n] of ZONES) reg.addZone(p, n, 'demo');
  const creds: Credentials = { devices: {}, accounts: {} };
  for (const [id, zone] of DEVICES) {
    const r = await reg.addDevice({ zone, id, actor: 'demo' });
    creds.devices[id] = { zone, password: r.secret, panelPassword: r.panelPassword, panelHash: r.panelHash };
  }
  for (const [name, role] of [['console', 'console'], ['dispatch', 'dispatch']] as const) {
    const r = await reg.addAccount({ name, role, actor: 'demo' });
    creds.accounts[name] = { role, password: r.secret };
  }
  const lib = new AssetLibrary(reg);
  const asset = await lib.addFile(makeBulletin(dir), { title: 'Bản tin thử nghiệm', actor: 'demo' });
  for (const [id] of DEVICES) {
    setTarget(reg, lib, id, { assets: [], reserve: [], programmes: [{ id: 'ban-tin-sang', title: 'Bản tin sáng', level: 'normal', playlist: [asset.sha256], recurrence: { kind: 'daily', time: '06:30' }, resumable: true, zones: ['quang-ngai'] }], rules: [] }, 'demo');
  }
  writeFileAtomic(join(dir, 'demo-credentials.json'), JSON.stringify(creds, null, 2) + '\n', 0o600);
  return creds;
}

function hasSoundCard(): boolean {
  try {
    return !readFileSync('/proc/asound/cards', 'utf8').includes('no soundcards');
  } catch {
    return false;
  }
}

export const demo = command({
  summary: 'run a sample province on this machine: broker, province services and three village agents (what `npm start` runs)',
  options: {
    data: { type: 'string', placeholder: 'DIR', description: 'state directory of the demo (default: <default data dir>/demo)' },
    host: { type: 'string', placeholder: 'ADDR', description: 'broker listen address', default: '127.0.0.1' },
    port: { type: 'string', short: 'p', placeholder: 'PORT', description: 'broker port', default: '1883' },
  },
  help: 'First run provisions the sample province and writes its credentials to DIR/demo-credentials.json (mode 0600).\nDelete DIR to start afresh.',
  run: async (inv: Invocation) => {
    const dir = typeof inv.values.data === 'string' ? inv.values.data : join(defaultDataDir(inv.io.env), 'demo');
    const port = int('port', inv.values.port, { min: 0, max: 65535 })!;
    const [{ Registry }, { ProvinceBroker }, { BrokerConfig }, { ProvinceServices }, { AssetLibrary }, { Reports }, { Agent }, { DeviceConfig }, { BUNDLE_FORMAT }, { createLogger }] = await Promise.all([
      import('../provisioning/registry.js'),
      import('../broker/server.js'),
      import('../broker/config.js'),
      import('../provisioning/province-services.js'),
      import('../provisioning/library.js'),
      import('../provisioning/reports.js'),
      import('../device/agent.js'),
      import('../device/config.js'),
      import('../protocol/bundle.js'),
      import('../lib/log.js'),
    ]);
    const log = createLogger({ name: 'loa-demo', level: (inv.io.env.LOA_LOG_LEVEL as 'info' | undefined) ?? 'warn' });
    const fresh = !Registry.exists(dir);
    const registry = fresh ? Registry.init(dir, { brokerUrls: [`mqtt://127.0.0.1:${port}`] }) : Registry.open(dir);
    let creds: Credentials;
    try {
      creds = fresh ? await provisionDemo(registry, dir) : (JSON.parse(readFileSync(join(dir, 'demo-credentials.json'), 'utf8')) as Credentials);
    } catch (e) {
      registry.close();
      throw fresh ? e : new LoaError('LOA_E_DATA_DIR', `${dir} holds a registry but no usable demo-credentials.json (${(e as Error).message}); remove ${dir} to start the demo afresh`, { cause: e });
    }
    if (fresh) inv.io.out(`demo province provisioned in ${dir}`);

    const broker = new ProvinceBroker({ config: BrokerConfig.parse({ data: dir, host: inv.values.host, port }), registry, log });
    const addr = await broker.start();
    const url = `mqtt://127.0.0.1:${addr.tcp.port}`;
    const reports = new Reports(dir);
    const services = new ProvinceServices({ registry, library: new AssetLibrary(registry), reports, broker: { url, username: 'console', password: creds.accounts.console!.password }, log });
    await services.start();
    const soundCard = hasSoundCard();
    const agents = DEVICES.map(([id, zone]) => {
      const d = creds.devices[id]!;
      const config = DeviceConfig.parse({
        format: BUNDLE_FORMAT,
        issuedAt: new Date().toISOString(),
        device: { id, zone },
        broker: { urls: [url], username: id, password: d.password, ca: null },
        keys: { console: registry.publicKeys('console'), dispatch: registry.publicKeys('dispatch') },
        panel: { passwordHash: d.panelHash },
        data: join(dir, 'villages', id),
        // The sound card when there is one; otherwise each village's horn is a WAV file paced in real time.
        agent: { audio: soundCard ? { output: 'alsa' } : { output: 'wav', wavFile: join(dir, 'villages', id, 'loa.wav') } },
      });
      const agent = new Agent({ config, log });
      agent.on('applied', (v) => inv.io.err(`  ${id} (${zone}): target ${v} applied, ${agent.store.assets().length} asset(s) on disk`));
      return agent;
    });
    const c = creds.accounts.console!;
    inv.io.err(
      [
        '',
        `Loa demo: province broker on mqtt://${addr.tcp.address}:${addr.tcp.port}, province services, ${agents.length} village agents (state in ${dir})`,
        soundCard ? 'The villages play through this machine\'s sound card.' : `No sound card here: each village plays into ${join(dir, 'villages', '<id>', 'loa.wav')} in real time.`,
        'Watch what the villages report (state, telemetry, online status) as the province console does:',
        `  mosquitto_sub -h ${addr.tcp.address} -p ${addr.tcp.port} -V mqttv311 -v -i console:watch -u console -P '${c.password}' -t 'loa/v1/d/+/state' -t 'loa/v1/d/+/telemetry' -t 'loa/v1/d/+/status'`,
        `Give a village a new target from another terminal: loa library add FILE --title … --data ${dir}, then loa target set ID --spec FILE --data ${dir}.`,
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    const stopping = untilSignal();
    for (const a of agents) await a.start();
    await stopping;
    for (const a of agents) await a.stop();
    await services.stop();
    await broker.stop();
    reports.close();
    registry.close();
    return 0;
  },
});
