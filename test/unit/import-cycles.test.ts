import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// No module imports itself back, however far round (STYLE.md "No import
// cycles"): static, type-only and dynamic `import()` alike, since an import
// hidden behind `await import()` is still a circle (the console's routes
// imported their helpers back from app.ts that way, nine files round).

const ROOT = join(import.meta.dirname, '..', '..', '..');
const SKIP = new Set(['node_modules', 'dist', '.git']);

function sources(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    if (SKIP.has(n) || n.startsWith('.')) continue;
    const p = join(dir, n);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Each source file's relative imports, resolved to files. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of sources(ROOT)) {
    const src = readFileSync(f, 'utf8');
    const deps = [...src.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)]
      .map((m) => resolve(dirname(f), (m[1] ?? m[2])!.replace(/\.js$/, '.ts')))
      .filter((t) => existsSync(t));
    g.set(resolve(f), deps);
  }
  return g;
}

/** Strongly connected components of more than one file (Tarjan). */
function circles(g: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(relative(ROOT, w));
      } while (w !== v);
      if (c.length > 1) out.push(c.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

test('no source file imports itself back', () => {
  const g = graph();
  assert.ok(g.size > 100, `read ${g.size} files`);
  assert.equal(circles(g), []);
});

test('the scan finds a circle when there is one', () => {
  assert.equal(circles(new Map([[`${ROOT}/a.ts`, [`${ROOT}/b.ts`]], [`${ROOT}/b.ts`, [`${ROOT}/a.ts`]]])), [['a.ts', 'b.ts']]);
});

test.run();
