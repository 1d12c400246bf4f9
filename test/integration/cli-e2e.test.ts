import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { LOA_BIN, runLoa, spawnBroker, type SpawnedBroker } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir, waitFor } from '../helpers/tmp.js';
import { DeviceState } from '../../protocol/payloads.js';
import { connect, endAll, subscribe } from '../helpers/mqtt.js';
import { topics } from '../../protocol/topics.js';

// A technician's day, every step through the real `loa` binary: provision a
// province, start the broker and the province services, add a bulletin made
// with ffmpeg to the library, give a village its target, and run that
// village's agent from the bundle until it reports the target applied.

let broker: SpawnedBroker | null = null;
const children: ChildProcess[] = [];

test.after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await broker?.stop();
  cleanupTempDirs();
});

test('provision → broker → console services → library → target → agent, all from the command line', async () => {
  const dir = tempDir('loa-e2e-');
  const data = join(dir, 'province');
  const env = { LOA_DATA: data, LOA_SCRYPT_LOGN: '12' };
  const ok = async (...args: string[]) => {
    const r = await runLoa(args, env);
    assert.is(r.code, 0, `loa ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  // The broker takes a free port below, so the agent is pointed at it with --broker.
  await ok('provision', 'init', '--broker', 'mqtt://127.0.0.1:1883');
  await ok('provision', 'zone', 'add', 'qn', '--name', 'Quảng Ngãi');
  await ok('provision', 'zone', 'add', 'qn/dak-ha', '--name', 'Xã Đắk Hà');
  await ok('provision', 'zone', 'add', 'qn/dak-ha/thon-3', '--name', 'Thôn 3');
  const consolePw = /password \(shown once\): (\S+)/.exec(await ok('provision', 'user', 'add', 'console', '--role', 'console'))![1]!;
  const bundleFile = join(dir, 'thon-3.json');
  const panelPassword = /local panel password \(shown once\): (\S+)/.exec(await ok('provision', 'device', 'add', '--zone', 'qn/dak-ha/thon-3', '--id', 'thon-3-a', '--out', bundleFile))![1]!;

  broker = await spawnBroker(['--data', data]);
  const pwFile = join(dir, 'console.pw');
  writeFileSync(pwFile, consolePw + '\n', { mode: 0o600 });
  const cons = spawn(process.execPath, [LOA_BIN, 'console', '--assets-only', '--data', data, '--broker', broker.url, '--password-file', pwFile], { env: { ...process.env, LOA_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(cons);
  let consOut = '';
  cons.stdout!.on('data', (d) => (consOut += d));
  await waitFor(() => consOut.includes('connected to the broker'), { timeoutMs: 10_000, what: 'console services' });

  // A real audio file: 3 s of tone, Opus in Ogg, made by Debian's ffmpeg.
  const ogg = join(dir, 'ban-tin.ogg');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-ac', '1', '-c:a', 'libopus', '-b:a', '32k', ogg]);
  const added = await ok('library', 'add', ogg, '--title', 'Bản tin sáng', '--json');
  const asset = JSON.parse(added) as { sha256: string; durationMs: number; mime: string; loudness: { I: number } };
  assert.is(asset.mime, 'audio/ogg');
  assert.ok(asset.durationMs > 2900 && asset.durationMs < 3200, `${asset.durationMs} ms`);
  // Ingested: a new, loudness-normalised file, not the bytes given.
  assert.is.not(asset.sha256, createHash('sha256').update(readFileSync(ogg)).digest('hex'));
  assert.ok(Math.abs(asset.loudness.I - -16) <= 1, `loudness ${asset.loudness.I}`);
  const asIs = JSON.parse(await ok('library', 'add', ogg, '--title', 'Nguyên bản', '--as-is', '--json')) as { sha256: string; loudness: null };
  assert.is(asIs.sha256, createHash('sha256').update(readFileSync(ogg)).digest('hex'));
  assert.is(asIs.loudness, null);
  const bad = await runLoa(['library', 'add', bundleFile, '--title', 'không phải âm thanh'], env);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /LOA_E_AUDIO_INVALID/);

  const spec = join(dir, 'spec.json');
  writeFileSync(spec, JSON.stringify({ assets: [asset.sha256], programmes: [{ id: 'ban-tin-sang', title: 'Bản tin sáng', level: 'normal', playlist: [asset.sha256], recurrence: { kind: 'daily', time: '06:30' }, resumable: true, zones: ['qn/dak-ha'] }] }));
  assert.match(await ok('target', 'set', 'thon-3-a', '--spec', spec), /version 1/);
  const shown = JSON.parse(await ok('target', 'show', 'thon-3-a')) as { version: number; programmes: { title: string }[] };
  assert.is(shown.programmes[0]!.title, 'Bản tin sáng');

  const watcher = await connect(broker.url, { clientId: 'console:e2e', username: 'console', password: consolePw });
  const states: DeviceState[] = [];
  watcher.on('message', (_t, m) => states.push(DeviceState.parse(JSON.parse(m.toString()))));
  await subscribe(watcher, [topics.state('thon-3-a')]);

  const agentData = join(dir, 'agent');
  const agent = spawn(process.execPath, [LOA_BIN, 'device', '--config', bundleFile, '--data', agentData, '--broker', broker.url, '--panel-port', '0', '--panel-bind', '127.0.0.1'], { env: { ...process.env, LOA_LOG_LEVEL: 'info', LOA_DEVICE_AUDIO_OUTPUT: 'null' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(agent);
  let agentOut = '';
  agent.stdout!.on('data', (d) => (agentOut += d));
  agent.stderr!.on('data', (d) => (agentOut += d));
  await waitFor(() => states.some((s) => s.appliedVersion === 1), { timeoutMs: 20_000, what: 'the agent reports target 1 applied' });
  // Its local panel listens where it was told, and lets the operator in with the printed password.
  const panelUrl = await waitFor(() => /"urls":\["(http:\/\/127\.0\.0\.1:\d+\/)"\]/.exec(agentOut)?.[1], { what: `the panel's address in the agent's log:\n${agentOut}` });
  const login = await fetch(new URL('/api/login', panelUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: panelPassword }) });
  assert.is(login.status, 200, await login.text());
  assert.is(createHash('sha256').update(readFileSync(join(agentData, 'assets', asset.sha256))).digest('hex'), asset.sha256);
  await endAll(watcher);
  agent.kill('SIGTERM');
  await new Promise((r) => agent.once('exit', r));
  assert.is(agent.exitCode, 0, 'the agent stops cleanly on SIGTERM');
});

test.run();
