import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { command, int, type Invocation } from '../lib/cli.js';
import { writeFileAtomic } from '../lib/fs-atomic.js';
import { BrokerConfig } from '../broker/config.js';
import { defaultDataDir } from '../lib/paths.js';
import { Registry } from '../provisioning/registry.js';
import { untilSignal } from './common.js';
import { LoaError } from '../protocol/errors.js';

// `loa demo` (what `npm start` runs): a sample province on this machine.
// Today it provisions the province (zones, three village clusters, console and
// dispatch accounts) on first run and serves it with the real broker; the
// village agents and the console join it as they are built.

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

interface Credentials {
  port: number;
  devices: Record<string, { zone: string; password: string; panelPassword: string }>;
  accounts: Record<string, { role: string; password: string }>;
}

async function provisionDemo(dir: string, port: number): Promise<Credentials> {
  const reg = Registry.init(dir, { brokerUrls: [`mqtt://127.0.0.1:${port}`] });
  try {
    for (const [p, n] of ZONES) reg.addZone(p, n, 'demo');
    const creds: Credentials = { port, devices: {}, accounts: {} };
    for (const [id, zone] of DEVICES) {
      const r = await reg.addDevice({ zone, id, actor: 'demo' });
      creds.devices[id] = { zone, password: r.secret, panelPassword: r.panelPassword };
    }
    for (const [name, role] of [['console', 'console'], ['dispatch', 'dispatch']] as const) {
      const r = await reg.addAccount({ name, role, actor: 'demo' });
      creds.accounts[name] = { role, password: r.secret };
    }
    writeFileAtomic(join(dir, 'demo-credentials.json'), JSON.stringify(creds, null, 2) + '\n', 0o600);
    return creds;
  } finally {
    reg.close();
  }
}

export const demo = command({
  summary: 'run a sample province on this machine (what `npm start` runs)',
  options: {
    data: { type: 'string', placeholder: 'DIR', description: 'state directory of the demo (default: <default data dir>/demo)' },
    host: { type: 'string', placeholder: 'ADDR', description: 'broker listen address', default: '127.0.0.1' },
    port: { type: 'string', short: 'p', placeholder: 'PORT', description: 'broker port', default: '1883' },
  },
  help: 'First run provisions the sample province and writes its credentials to DIR/demo-credentials.json (mode 0600).',
  run: async (inv: Invocation) => {
    const dir = typeof inv.values.data === 'string' ? inv.values.data : join(defaultDataDir(inv.io.env), 'demo');
    const port = int('port', inv.values.port, { min: 0, max: 65535 })!;
    const credFile = join(dir, 'demo-credentials.json');
    let creds: Credentials;
    if (!Registry.exists(dir)) {
      creds = await provisionDemo(dir, port);
      inv.io.out(`demo province provisioned in ${dir}`);
    } else {
      try {
        creds = JSON.parse(readFileSync(credFile, 'utf8')) as Credentials;
      } catch (e) {
        throw new LoaError('LOA_E_DATA_DIR', `${dir} holds a registry but no readable demo-credentials.json (${(e as Error).message}); remove ${dir} to start the demo afresh`, { cause: e });
      }
    }
    const [{ ProvinceBroker }, { createLogger }] = await Promise.all([import('../broker/server.js'), import('../lib/log.js')]);
    const log = createLogger({ name: 'loa-demo' });
    const registry = Registry.open(dir);
    const broker = new ProvinceBroker({ config: BrokerConfig.parse({ data: dir, host: inv.values.host, port }), registry, log });
    const addr = await broker.start();
    const d = creds.accounts.dispatch!;
    const dev = Object.entries(creds.devices)[1]!;
    inv.io.err(
      [
        '',
        `Loa demo: province broker on mqtt://${addr.tcp.address}:${addr.tcp.port} (credentials: ${credFile})`,
        `Watch village ${dev[0]} (${dev[1].zone}) the way its cluster would:`,
        `  mosquitto_sub -h ${addr.tcp.address} -p ${addr.tcp.port} -V mqttv311 -q 1 -v -i ${dev[0]} -u ${dev[0]} -P '${dev[1].password}' -t loa/v1/emergency/z/quang-ngai/dak-ha`,
        'Send it a message as provincial dispatch:',
        `  mosquitto_pub -h ${addr.tcp.address} -p ${addr.tcp.port} -V mqttv311 -q 1 -i dispatch -u dispatch -P '${d.password}' -t loa/v1/emergency/z/quang-ngai/dak-ha -m 'thử nghiệm'`,
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    await untilSignal();
    await broker.stop();
    registry.close();
    return 0;
  },
});
