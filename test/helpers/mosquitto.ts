import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { waitFor } from './tmp.js';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Mosquitto {
  port: number;
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Debian's mosquitto on a loopback port with a password file (hashed by
 * mosquitto_passwd) and an ACL file. As root, mosquitto drops to the
 * `mosquitto` user, which cannot read a 0700 temp dir: keep root then.
 */
export async function startMosquitto(dir: string, users: Record<string, string>, acl: string): Promise<Mosquitto> {
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, Object.entries(users).map(([u, p]) => `${u}:${p}`).join('\n') + '\n', { mode: 0o600 });
  execFileSync('mosquitto_passwd', ['-U', passwd]);
  writeFileSync(join(dir, 'acl'), acl);
  const port = await freePort();
  writeFileSync(join(dir, 'mosquitto.conf'), [`listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${passwd}`, `acl_file ${join(dir, 'acl')}`, 'persistence false', ...(process.getuid?.() === 0 ? ['user root'] : []), 'log_dest stdout', 'log_type error', 'log_type warning', 'log_type notice', ''].join('\n'));
  const child = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = netConnect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        }).on('error', () => resolve(false));
      }),
    { timeoutMs: 5000, what: `mosquitto on ${port}: ${out}` },
  );
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
