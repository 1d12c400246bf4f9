import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

// Test-only code stays under test/ (STYLE.md, "Shape"): production modules and
// the benchmarks carry no fakes and import nothing from the tests, so what is
// shipped and what is measured is the product alone. That nothing shipped
// imports test/ is scripts/check-imports.js's to say (test/unit/structure.test.ts).

const root = join(import.meta.dirname, '..', '..', '..');
const SHIPPED = ['protocol', 'schedules', 'audio', 'device', 'broker', 'provisioning', 'cli', 'lib', 'bin', join('scripts', 'bench')];

function sources(dir: string): string[] {
  let out: string[] = [];
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out = out.concat(sources(p));
    else if (/\.(ts|js)$/.test(n) && !n.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const files = SHIPPED.flatMap((d) => sources(join(root, d)));

test('no shipped module defines a fake', () => {
  const bad = files.filter((f) => /\b(export\s+)?class\s+Fake[A-Z]\w*/.test(readFileSync(f, 'utf8'))).map((f) => relative(root, f));
  assert.equal(bad, []);
});

test.run();
