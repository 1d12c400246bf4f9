import { readFileSync } from 'node:fs';
import { command, group, str, UsageError, type Invocation } from '../lib/cli.js';
import { LoaError } from '../protocol/errors.js';
import { AssetLibrary } from '../provisioning/library.js';
import { buildTarget, parseTargetSpec, setTarget, storedTargets } from '../provisioning/targets.js';
import { actor, DATA_OPTION, JSON_OPTION, openRegistry, untilSignal, withRegistry } from './common.js';
import { readConfigFile } from '../lib/config.js';

function readSecretFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new LoaError('LOA_E_CONFIG_INVALID', `cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
}

export const consoleCmd = command({
  summary: 'run the province console services: chunk requests, play-log intake, target states',
  options: {
    ...DATA_OPTION,
    'assets-only': { type: 'boolean', description: 'only the MQTT services (today the console has nothing else; the web UI comes later)' },
    broker: { type: 'string', placeholder: 'URL', description: 'broker to connect to', default: 'mqtt://127.0.0.1:1883' },
    user: { type: 'string', placeholder: 'NAME', description: 'console account name', default: 'console' },
    'password-file': { type: 'string', placeholder: 'FILE', description: 'the console account\'s password (or $LOA_CONSOLE_PASSWORD)' },
    ca: { type: 'string', placeholder: 'FILE', description: 'CA certificate for an mqtts:// broker' },
  },
  help: 'Answers devices\' chunk requests from the library (DIR/library), stores their log batches in DIR/reports.sqlite and acknowledges\nthem, and publishes each device\'s signed target (retained) whenever `loa target set` gives it a new version.',
  run: async (inv) => {
    const pf = str(inv.values['password-file']);
    const password = pf ? readSecretFile(pf, 'password file') : inv.io.env.LOA_CONSOLE_PASSWORD;
    if (!password) throw new UsageError('the console account\'s password is needed: --password-file FILE or $LOA_CONSOLE_PASSWORD');
    const ca = str(inv.values.ca) ? readSecretFile(str(inv.values.ca)!, 'CA certificate') : null;
    const [{ ProvinceServices }, { Reports }, { createLogger }] = await Promise.all([import('../provisioning/province-services.js'), import('../provisioning/reports.js'), import('../lib/log.js')]);
    const log = createLogger({ name: 'loa-console' });
    const registry = openRegistry(inv);
    const reports = new Reports(registry.dir);
    const services = new ProvinceServices({ registry, library: new AssetLibrary(registry), reports, broker: { url: str(inv.values.broker)!, username: str(inv.values.user)!, password, ca }, log });
    const stopping = untilSignal();
    try {
      await services.start();
      await stopping;
      await services.stop();
    } finally {
      reports.close();
      registry.close();
    }
    return 0;
  },
});

const libraryAdd = command({
  summary: 'add an audio file (Ogg, WAV or MP3) to the province library',
  args: [{ name: 'FILE', description: 'the audio file' }],
  options: { ...DATA_OPTION, title: { type: 'string', placeholder: 'TEXT', description: 'title people read, e.g. "Bản tin sáng"' }, ...JSON_OPTION },
  run: async (inv) => {
    const title = str(inv.values.title);
    if (!title) throw new UsageError('--title is required');
    return withRegistry(inv, async (reg) => {
      const a = await new AssetLibrary(reg).addFile(inv.positionals[0]!, { title, actor: actor() });
      inv.io.out(inv.values.json ? JSON.stringify(a, null, 2) : `${a.sha256}  ${a.mime}  ${(a.durationMs / 1000).toFixed(1)} s  ${a.size} bytes  "${a.title}"`);
      return 0;
    });
  },
});

const libraryList = command({
  summary: 'list the library',
  options: { ...DATA_OPTION, ...JSON_OPTION },
  run: (inv) => {
    return withRegistry(inv, async (reg) => {
      const all = new AssetLibrary(reg).list();
      inv.io.out(inv.values.json ? JSON.stringify(all, null, 2) : all.map((a) => `${a.sha256}  ${a.mime}  ${(a.durationMs / 1000).toFixed(1)} s  "${a.title}"`).join('\n') || '(empty)');
      return 0;
    });
  },
});

const targetSet = command({
  summary: 'give a device a new target: assets, programmes and rule profiles (JSON spec)',
  args: [{ name: 'DEVICE', description: 'device id' }],
  options: { ...DATA_OPTION, spec: { type: 'string', placeholder: 'FILE', description: 'JSON: { "assets": [sha256…], "reserve": [sha256…], "programmes": […], "rules": […] }' } },
  help: 'The running console publishes the new version within a second. Field shapes: docs/protocol.md (target payload).',
  run: (inv) => {
    const spec = str(inv.values.spec);
    if (!spec) throw new UsageError('--spec FILE is required');
    const parsed = parseTargetSpec(readConfigFile(spec));
    return withRegistry(inv, async (reg) => {
      const v = setTarget(reg, new AssetLibrary(reg), inv.positionals[0]!, parsed, actor());
      inv.io.out(`target of ${inv.positionals[0]} is now version ${v}`);
      return 0;
    });
  },
});

const targetShow = command({
  summary: 'print the target state a device is given (unsigned)',
  args: [{ name: 'DEVICE', description: 'device id' }],
  options: { ...DATA_OPTION },
  run: (inv) => {
    return withRegistry(inv, async (reg) => {
      const t = storedTargets(reg).find((x) => x.device === inv.positionals[0]);
      if (!t) throw new LoaError('LOA_E_DEVICE_NOT_FOUND', `no target set for "${inv.positionals[0]}"`);
      inv.io.out(JSON.stringify(buildTarget(reg, new AssetLibrary(reg), t, new Date().toISOString()), null, 2));
      return 0;
    });
  },
});

export const library = group('the province audio library', { add: libraryAdd, list: libraryList });
export const target = group('device target states', { set: targetSet, show: targetShow });
