import { spawn, type ChildProcess } from 'node:child_process';
import { LOA_BIN } from './processes.js';

// `loa console` as its own process, as a province runs it: started with the
// real binary, stopped with a signal (SIGTERM, or SIGKILL for a crash).

export interface SpawnedConsole {
  child: ChildProcess;
  pid: number;
  /** `http://127.0.0.1:PORT/` */
  url: string;
  output: () => string;
  /** Sends `signal` and resolves when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs `loa console ARGS` and resolves once it prints its address. */
export function spawnConsole(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<SpawnedConsole> {
  const child = spawn(process.execPath, [LOA_BIN, 'console', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop('SIGKILL');
      reject(new Error(`loa console did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d;
      const m = /Loa console: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({ child, pid: child.pid!, url: m[1]!, output: () => out, stop });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`loa console exited with ${child.exitCode ?? child.signalCode} before listening:\n${out}`));
    });
  });
}
