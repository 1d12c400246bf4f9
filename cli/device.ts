import { command, int, str, UsageError, type Invocation } from '../lib/cli.js';
import { buildConfig, envLayer, readConfigFile, type Layer } from '../lib/config.js';
import { DeviceConfig, DEVICE_ENV } from '../device/config.js';
import { DATA_OPTION, untilSignal } from './common.js';
import { defaultDataDir } from '../lib/paths.js';
import type { Agent } from '../device/agent.js';
import type { Panel } from '../device/panel/server.js';
import type { Logger } from '../lib/log.js';

export function deviceConfigFrom(inv: Invocation): DeviceConfig {
  const file = str(inv.values.config);
  if (!file) throw new UsageError('--config FILE is required: the bundle written by "loa provision device add"');
  const v = inv.values;
  const flags: Layer = {};
  if (typeof v.data === 'string') flags.data = v.data;
  const agent: Layer = {};
  if (v.heartbeat !== undefined) agent.heartbeatSec = int('heartbeat', v.heartbeat, { min: 5, max: 3600 });
  if (v['panel-port'] !== undefined) agent.panel = { port: int('panel-port', v['panel-port'], { min: 0, max: 65535 }) };
  if (v['panel-bind'] !== undefined) agent.panel = { ...(agent.panel as Layer | undefined), bind: v['panel-bind'] as string[] };
  if (v['no-panel']) agent.panel = { ...(agent.panel as Layer | undefined), enabled: false };
  if (Object.keys(agent).length) flags.agent = agent;
  if (v.broker !== undefined) flags.broker = { urls: v.broker as string[] };
  // The default data directory is the lowest layer: the file, LOA_DATA and --data all override it.
  return buildConfig(
    DeviceConfig,
    [{ data: defaultDataDir(inv.io.env) }, readConfigFile(file), envLayer(inv.io.env, DEVICE_ENV), flags],
    'device',
    `Fix these in ${file} (settings: docs/device.md), the LOA_DEVICE_* variables or the flags; a damaged bundle is replaced by running "loa provision device rotate ID --out FILE" at the province.`,
  );
}

/** The agent's local web panel, as configured (null when disabled). */
export async function startPanel(agent: Agent, config: DeviceConfig, log: Logger): Promise<Panel | null> {
  const p = config.agent.panel;
  if (!p.enabled) return null;
  const { Panel } = await import('../device/panel/server.js');
  const panel = new Panel({ agent, log, port: p.port, bind: p.bind, sessionIdleMs: p.sessionIdleMs, sessionMaxMs: p.sessionMaxMs, maxUploadBytes: p.maxUploadBytes });
  await panel.start();
  return panel;
}

export const device = command({
  summary: 'run the village agent from its bundle: sync with the province, keep assets, report',
  options: {
    config: { type: 'string', short: 'c', placeholder: 'FILE', description: 'the device bundle (JSON), optionally with an "agent" section of settings' },
    ...DATA_OPTION,
    broker: { type: 'string', multiple: true, placeholder: 'URL', description: 'override the bundle\'s broker URLs (repeatable)' },
    heartbeat: { type: 'string', placeholder: 'SEC', description: 'telemetry period in seconds (default 60)' },
    'panel-port': { type: 'string', placeholder: 'PORT', description: 'port of the local web panel (default 8080)' },
    'panel-bind': { type: 'string', multiple: true, placeholder: 'ADDR', description: 'where the panel listens: address, interface name or "lan" (repeatable; default lan). Never the WAN.' },
    'no-panel': { type: 'boolean', description: 'do not serve the local web panel' },
  },
  help: 'Environment: LOA_DATA, LOA_DEVICE_HEARTBEAT_SEC, LOA_DEVICE_KEEPALIVE_SEC, LOA_DEVICE_DISK_BUDGET, LOA_DEVICE_CHUNK_SIZE,\nLOA_DEVICE_WINDOW, LOA_DEVICE_PANEL_PORT, LOA_LOG_LEVEL. The local panel: docs/panel.md. Settings are listed in device/config.ts and docs/device.md. Stops cleanly on SIGINT/SIGTERM.',
  run: async (inv) => {
    const config = deviceConfigFrom(inv);
    const [{ Agent }, { createLogger }] = await Promise.all([import('../device/agent.js'), import('../lib/log.js')]);
    const log = createLogger({ name: 'loa-device' });
    const agent = new Agent({ config, log });
    // Listen for SIGTERM/SIGINT before starting, so a stop request during start-up still stops cleanly.
    const stopping = untilSignal();
    await agent.start();
    const panel = await startPanel(agent, config, log);
    const sig = await stopping;
    log.info({ signal: sig }, 'stopping');
    await panel?.stop();
    await agent.stop();
    return 0;
  },
});

export const doctor = command({
  summary: 'check a cluster: sound card, amplifier relay, clock, broker and credentials, disk; say what to fix',
  options: {
    config: { type: 'string', short: 'c', placeholder: 'FILE', description: 'the device bundle (JSON), as for "loa device"' },
    ...DATA_OPTION,
    broker: { type: 'string', multiple: true, placeholder: 'URL', description: 'check this broker URL instead of the bundle\'s' },
    lang: { type: 'string', placeholder: 'vi|en', description: 'language of the report (default vi)' },
    timeout: { type: 'string', placeholder: 'SEC', description: 'how long to wait for the broker (default 10)' },
  },
  help: 'Each check prints ok, warn or FAIL, and for a warn or a fail what to do. Exits 1 when a check fails. The broker is\nasked with the device\'s credentials under the client id "<id>:doctor", so a running agent keeps its session.',
  run: async (inv) => {
    const lang = str(inv.values.lang) ?? 'vi';
    if (lang !== 'vi' && lang !== 'en') throw new UsageError('--lang must be vi or en');
    const timeoutMs = (int('timeout', inv.values.timeout, { min: 1, max: 120 }) ?? 10) * 1000;
    const config = deviceConfigFrom(inv);
    const [{ runDoctor }, { doctorReport }] = await Promise.all([import('../device/doctor-probes.js'), import('../device/doctor.js')]);
    const { lines, exitCode } = doctorReport(await runDoctor(config, { timeoutMs }), lang);
    for (const l of lines) inv.io.out(l);
    return exitCode;
  },
});
