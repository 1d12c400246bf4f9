import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The broker and the province's provisioning are separate houses: the broker
// reads principals through broker/principals.ts, the contract-derived ACL
// lives in protocol/, and only the composition roots in cli/ join them.
// Checked on the TypeScript sources, static and dynamic imports alike.

const root = join(import.meta.dirname, '..', '..', '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(join(root, dir))) {
    const p = join(dir, n);
    if (statSync(join(root, p)).isDirectory()) out.push(...sources(p));
    else if (n.endsWith('.ts') && !n.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Top-level folders that a source file imports from, other than its own. */
function importedFolders(file: string): { spec: string; folder: string }[] {
  const text = readFileSync(join(root, file), 'utf8');
  const out: { spec: string; folder: string }[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)) {
    const target = relative(root, resolve(root, dirname(file), m[1]!));
    out.push({ spec: m[1]!, folder: target.split(/[\\/]/)[0]! });
  }
  return out;
}

const crossings = (from: string, to: string): string[] =>
  sources(from).flatMap((f) => importedFolders(f).filter((i) => i.folder === to).map((i) => `${f} imports ${i.spec}`));

test('broker/ imports nothing from provisioning/', () => {
  assert.equal(crossings('broker', 'provisioning'), []);
});

test('provisioning/ imports nothing from broker/', () => {
  assert.equal(crossings('provisioning', 'broker'), []);
});

test('protocol/ imports nothing from the folders built on it', () => {
  for (const to of ['broker', 'provisioning', 'device', 'cli', 'lib']) assert.equal(crossings('protocol', to), [], to);
});

test('the check sees an import when there is one (cli/ builds the broker from the registry)', () => {
  assert.ok(crossings('cli', 'broker').length > 0);
  assert.ok(crossings('cli', 'provisioning').length > 0);
});

test.run();
