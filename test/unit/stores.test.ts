import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

// Each province store owns its tables: only its module runs SQL on them, and
// only the store modules run SQL at all. The registry's connection is private
// (Registry#db), handed to a store's module by registry.openStore(); the
// reports' file (Reports#db) is its own store.

const root = join(import.meta.dirname, '..', '..', '..');

/** Table → the one module whose SQL may name it. */
const OWNER: Record<string, string> = {
  zones: 'provisioning/registry.ts',
  devices: 'provisioning/registry.ts',
  accounts: 'provisioning/registry.ts',
  signing_keys: 'provisioning/registry.ts',
  settings: 'provisioning/registry.ts',
  audit: 'provisioning/registry.ts',
  library: 'provisioning/library.ts',
  targets: 'provisioning/targets.ts',
  programmes: 'provisioning/planning.ts',
  rule_profiles: 'provisioning/planning.ts',
  sessions: 'provisioning/console/sessions.ts',
  dispatches: 'provisioning/console/dispatch.ts',
  jobs: 'provisioning/console/jobs.ts',
  device_log: 'provisioning/reports.ts',
  device_installs: 'provisioning/reports.ts',
  device_status: 'provisioning/reports.ts',
  device_presence: 'provisioning/reports.ts',
};
const STORES = new Set(Object.values(OWNER));

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (n.endsWith('.ts') && !n.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const sources = ['provisioning', 'cli'].flatMap((d) => walk(join(root, d))).map((f) => ({ file: relative(root, f).split(sep).join('/'), text: readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '') }));

test('only the province stores run SQL (prepare, exec, transaction, pragma on a database handle)', () => {
  const found = sources.filter((s) => /(?:\.(?:prepare|transaction|pragma)|\bdb\.exec)\s*\(/.test(s.text)).map((s) => s.file);
  assert.equal(found.filter((f) => !STORES.has(f)), []);
});

test("each table's SQL lies in its own store's module", () => {
  const strays: string[] = [];
  for (const s of sources) {
    for (const m of s.text.matchAll(/\b(?:FROM|INTO|UPDATE|JOIN)\s+([a-z_]+)\b/g)) {
      const owner = OWNER[m[1]!];
      if (owner === undefined) strays.push(`${s.file}: unknown table ${m[1]}`);
      else if (owner !== s.file) strays.push(`${s.file}: ${m[0]} (owned by ${owner})`);
    }
  }
  assert.equal(strays, []);
});

test.run();
