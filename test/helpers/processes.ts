import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOA_BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'loa.js');

export interface SpawnedBroker {
  child: ChildProcess;
  port: number;
  url: string;
  output: () => string;
  /** SIGTERM (clean) or SIGKILL (crash); resolves when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A running `loa` process: its output so far, its exit, and a way to stop it. */
export interface LoaProcess {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
  /** SIGTERM (a clean stop, SIGKILL after 15 s) or SIGKILL (a crash); resolves with the exit code when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `loa ARGS` as a process (log level info), collecting its output. */
export function spawnLoa(args: string[], env: NodeJS.ProcessEnv = {}): LoaProcess {
  const child = spawn(process.execPath, [LOA_BIN, ...args], { env: { ...process.env, LOA_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    out: () => out,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Runs the real `loa broker` CLI and waits for its "broker listening" log line. */
export function spawnBroker(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<SpawnedBroker> {
  const proc = spawnLoa(['broker', '--port', '0', ...args], env);
  const { child, exited, stop } = proc;
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop('SIGKILL');
      reject(new Error(`broker did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = () => {
      const m = /"tcp":"127\.0\.0\.1:(\d+)"[^\n]*"msg":"broker listening"/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      const port = Number(m[1]);
      resolve({ child, port, url: `mqtt://127.0.0.1:${port}`, output: () => out, stop });
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before listening:\n${out}`));
    });
  });
}

/** Runs `loa ARGS` to completion and returns its exit code and output. */
export function runLoa(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LOA_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * What the kernel says of a process, for a timed-out wait's message: its state
 * (R running, S sleeping, T stopped, Z zombie) and the CPU it has used. A hung
 * agent and a busy one read differently here, which a log tail cannot tell.
 */
export function processState(pid: number | undefined): string {
  if (!pid) return 'process: none';
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tick = 100; // USER_HZ on Linux
    return `process ${pid}: state ${f[0]}, cpu ${((Number(f[11]) + Number(f[12])) / tick).toFixed(1)} s`;
  } catch {
    return `process ${pid}: gone`;
  }
}
