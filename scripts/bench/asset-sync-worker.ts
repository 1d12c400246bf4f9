// One process of the asset-sync benchmark: runs several real agents (mode
// "mqtt") or plain HTTP downloads (mode "http") and reports on stdout as
// JSON lines. Started by scripts/bench/asset-sync.ts, not by hand.
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { Agent } from '../../device/agent.js';
import { DeviceConfig } from '../../device/config.js';
import { silentLogger } from '../../lib/log.js';

type Job = { mode: 'mqtt'; configs: string[] } | { mode: 'http'; url: string; count: number; dir: string; sha256: string };

const job = JSON.parse(process.argv[2]!) as Job;
const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

async function waitLine(expected: string): Promise<void> {
  let buf = '';
  for await (const d of process.stdin) {
    buf += String(d);
    if (buf.includes(expected)) return;
  }
}

async function mqtt(configs: string[]): Promise<void> {
  const agents = configs.map((f) => new Agent({ config: DeviceConfig.parse(JSON.parse(readFileSync(f, 'utf8'))), log: silentLogger() }));
  await Promise.all(agents.map((a) => a.start()));
  while (!agents.every((a) => a.link.connected)) await new Promise((r) => setTimeout(r, 20));
  say({ ready: agents.length });
  let done = 0;
  let firstTarget = Infinity;
  let lastApplied = 0;
  for (const a of agents) a.sync.once('changed', () => (firstTarget = Math.min(firstTarget, Date.now())));
  await Promise.all(
    agents.map(
      (a) =>
        new Promise<void>((resolve) =>
          a.once('applied', () => {
            done++;
            lastApplied = Math.max(lastApplied, Date.now());
            resolve();
          }),
        ),
    ),
  );
  say({ done, firstTarget, lastApplied, requests: agents.reduce((n, a) => n + a.sync.requestsSent, 0), corrupt: agents.reduce((n, a) => n + a.sync.corruptChunks, 0) });
  await waitLine('stop');
  await Promise.all(agents.map((a) => a.stop()));
}

function download(url: string, file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const h = createHash('sha256');
      const out = createWriteStream(file);
      res.on('data', (d: Buffer) => h.update(d));
      res.pipe(out);
      out.on('finish', () => resolve(h.digest('hex')));
      out.on('error', reject);
    }).on('error', reject);
  });
}

async function http(url: string, count: number, dir: string, sha256: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  say({ ready: count });
  await waitLine('go');
  const t0 = Date.now();
  const shas = await Promise.all(Array.from({ length: count }, (_, i) => download(url, join(dir, `f${i}`))));
  const bad = shas.filter((s) => s !== sha256).length;
  say({ done: count - bad, bad, ms: Date.now() - t0 });
}

if (job.mode === 'mqtt') await mqtt(job.configs);
else await http(job.url, job.count, job.dir, job.sha256);
process.exit(0);
