import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..', '..');
const check = (cwdRoot: string) => spawnSync(process.execPath, [join(cwdRoot, 'scripts', 'check-imports.js')], { encoding: 'utf8' });

test('the source has no import circle, no folder circle, and production code imports no test code (scripts/check-imports.js)', () => {
  const r = check(root);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /no import circle, no folder circle, layers kept/);
});

test('the check finds a circle hidden behind await import(), a folder circle made by a type import, and one program importing another', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loa-structure-'));
  try {
    mkdirSync(join(dir, 'scripts'));
    cpSync(join(root, 'scripts', 'check-imports.js'), join(dir, 'scripts', 'check-imports.js'));
    mkdirSync(join(dir, 'broker'));
    mkdirSync(join(dir, 'provisioning'));
    writeFileSync(join(dir, 'broker', 'a.ts'), "export const a = async () => (await import('./b.js')).b;\n");
    writeFileSync(join(dir, 'broker', 'b.ts'), "import { a } from './a.js';\nexport const b = a;\n");
    writeFileSync(join(dir, 'broker', 'c.ts'), "import type { R } from '../provisioning/r.js';\nexport type C = R;\n");
    writeFileSync(join(dir, 'provisioning', 'r.ts'), "import { a } from '../broker/a.js';\nexport type R = typeof a;\n");
    const r = check(dir);
    assert.is(r.status, 1, r.stdout);
    assert.match(r.stdout, /import circle \(2 files\): broker\/a\.ts ⇄ broker\/b\.ts/);
    assert.match(r.stdout, /folder circle: broker ⇄ provisioning/);
    assert.match(r.stdout, /broker\/c\.ts → provisioning\/r\.ts/);
    assert.match(r.stdout, /import across the layers \(see LAYERS\): broker\/c\.ts → provisioning\/r\.ts/);
    assert.match(r.stdout, /import across the layers \(see LAYERS\): provisioning\/r\.ts → broker\/a\.ts/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
