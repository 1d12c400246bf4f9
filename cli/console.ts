import { readFileSync } from 'node:fs';
import { command, group, int, str, UsageError } from '../lib/cli.js';
import { isLoaError, LoaError } from '../protocol/errors.js';
import { AssetLibrary } from '../provisioning/library.js';
import { buildTarget, parseTargetSpec, setTarget, storedTargets } from '../provisioning/targets.js';
import { actor, DATA_OPTION, JSON_OPTION, openRegistry, untilSignal, withRegistry } from './common.js';
import { readConfigFile } from '../lib/config.js';
import { parseTrustedProxies } from '../lib/trust-proxy.js';

function readSecretFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new LoaError('LOA_E_CONFIG_INVALID', `cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
}

export const consoleCmd = command({
  summary: 'run the province console: web UI and HTTP API, device sync services, emergency dispatch',
  options: {
    ...DATA_OPTION,
    host: { type: 'string', placeholder: 'ADDR', description: 'HTTP listen address (put HTTPS in front of it)', default: '127.0.0.1' },
    port: { type: 'string', short: 'p', placeholder: 'PORT', description: 'HTTP port', default: '8080' },
    'assets-only': { type: 'boolean', description: 'only the MQTT services (chunk requests, device reports, target states): no web console' },
    broker: { type: 'string', placeholder: 'URL', description: 'broker to connect to', default: 'mqtt://127.0.0.1:1883' },
    user: { type: 'string', placeholder: 'NAME', description: 'console service account', default: 'console' },
    'password-file': { type: 'string', placeholder: 'FILE', description: 'its password (or $LOA_CONSOLE_PASSWORD)' },
    'dispatch-user': { type: 'string', placeholder: 'NAME', description: 'dispatch account the console sends emergencies with', default: 'dispatch' },
    'dispatch-password-file': { type: 'string', placeholder: 'FILE', description: 'its password (or $LOA_DISPATCH_PASSWORD); without one, emergencies cannot be sent' },
    ca: { type: 'string', placeholder: 'FILE', description: 'CA certificate for an mqtts:// broker' },
    tts: { type: 'string', placeholder: 'FILE', description: 'TTS engine config (JSON): {"engine":"espeak"} (default), {"engine":"command","command":[...]}, {"engine":"http","url":"..."}' },
    'cap-areas': { type: 'string', placeholder: 'FILE', description: 'CAP area mapping (JSON): {"geocode":[{"valueName","value","zone"}],"areaDesc":[{"match","zone"}]}' },
    'secure-cookies': { type: 'boolean', description: 'mark session cookies Secure (the console is served over HTTPS)' },
    'trust-proxy': { type: 'string', multiple: true, placeholder: 'ADDR|CIDR', description: 'a reverse proxy whose X-Forwarded-For is believed (repeatable or a comma list; or $LOA_TRUST_PROXY); default none: the client is the TCP peer' },
    'approve-exercises': { type: 'boolean', description: 'exercises too wait for an approver (actual emergencies always do)' },
    'beacon-sec': { type: 'string', placeholder: 'SEC', description: 'period of the signed time beacon to devices (default 60); devices also get the time on request whenever they connect' },
  },
  help: 'Serves the web console (Vietnamese first) and its API; answers devices\' chunk requests from the library (DIR/library), stores their\nreports in DIR/reports.sqlite, publishes each device\'s signed target, and sends approved emergencies. See docs/console.md.',
  run: async (inv) => {
    const pf = str(inv.values['password-file']);
    const password = pf ? readSecretFile(pf, 'password file') : inv.io.env.LOA_CONSOLE_PASSWORD;
    if (!password) throw new UsageError('the console account\'s password is needed: --password-file FILE or $LOA_CONSOLE_PASSWORD');
    const dpf = str(inv.values['dispatch-password-file']);
    const dispatchPassword = dpf ? readSecretFile(dpf, 'dispatch password file') : inv.io.env.LOA_DISPATCH_PASSWORD;
    const ca = str(inv.values.ca) ? readSecretFile(str(inv.values.ca)!, 'CA certificate') : null;
    const ttsConfig = str(inv.values.tts) ? readConfigFile(str(inv.values.tts)!) : { engine: 'espeak' };
    const capAreas = str(inv.values['cap-areas']) ? readConfigFile(str(inv.values['cap-areas'])!) : undefined;
    const trustFlag = inv.values['trust-proxy'] as string[] | undefined;
    const trustProxy = trustFlag?.length ? parseTrustedProxies(trustFlag) : parseTrustedProxies(inv.io.env.LOA_TRUST_PROXY ? [inv.io.env.LOA_TRUST_PROXY] : [], '$LOA_TRUST_PROXY');
    const port = int('port', inv.values.port, { min: 0, max: 65535 })!;
    const beaconSec = inv.values['beacon-sec'] === undefined ? undefined : int('beacon-sec', inv.values['beacon-sec'], { min: 1, max: 3600 });
    const [{ ConsoleServer }, { createLogger }, { consoleServices }] = await Promise.all([import('../provisioning/console/server.js'), import('../lib/log.js'), import('../provisioning/console/services.js')]);
    const log = createLogger({ name: 'loa-console' });
    const { tts, ingest } = await consoleServices(ttsConfig);
    const registry = openRegistry(inv);
    const server = new ConsoleServer({
      registry,
      log,
      broker: { url: str(inv.values.broker)!, ca, console: { username: str(inv.values.user)!, password }, dispatch: dispatchPassword ? { username: str(inv.values['dispatch-user'])!, password: dispatchPassword } : null },
      http: inv.values['assets-only'] ? null : { host: str(inv.values.host)!, port },
      tts,
      ingest,
      ...(capAreas ? { capAreas: capAreas as never } : {}),
      secureCookies: !!inv.values['secure-cookies'],
      trustProxy,
      ...(beaconSec ? { beaconMs: beaconSec * 1000 } : {}),
      ...(inv.values['approve-exercises'] ? { approvalModes: ['exercise'] as const } : {}),
    });
    const stopping = untilSignal();
    try {
      try {
        await server.start();
      } catch (e) {
        // Nothing is left running by a failed start (ConsoleServer.start): say what to change, exit non-zero.
        if (isLoaError(e, 'LOA_E_LISTEN')) throw new LoaError('LOA_E_LISTEN', `${e.message}; choose another with --port PORT${e.context.reason === 'EADDRNOTAVAIL' ? ' or --host ADDR' : ''}`, { cause: e, context: e.context });
        throw e;
      }
      if (server.address) inv.io.err(`Loa console: http://${server.address.address}:${server.address.port}/`);
      if (!dispatchPassword) log.warn('no dispatch account configured: emergencies cannot be sent from this console');
      await stopping;
      await server.stop();
    } finally {
      registry.close();
    }
    return 0;
  },
});

const libraryAdd = command({
  summary: 'add an audio file to the province library (loudness-normalised and encoded as Opus, as console uploads are)',
  args: [{ name: 'FILE', description: 'the audio file: mp3, wav, ogg, m4a/aac, flac' }],
  options: {
    ...DATA_OPTION,
    title: { type: 'string', placeholder: 'TEXT', description: 'title people read, e.g. "Bản tin sáng"' },
    'as-is': { type: 'boolean', description: 'store an Ogg, WAV or MP3 unchanged (a clip already prepared), without ingest' },
    ...JSON_OPTION,
  },
  run: async (inv) => {
    const title = str(inv.values.title);
    if (!title) throw new UsageError('--title is required');
    return withRegistry(inv, async (reg) => {
      const lib = new AssetLibrary(reg);
      const file = inv.positionals[0]!;
      const a = inv.values['as-is'] ? await lib.addFile(file, { title, actor: actor() }) : await lib.importAudio(file, { title, actor: actor() });
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
