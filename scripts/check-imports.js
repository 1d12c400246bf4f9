#!/usr/bin/env node
// The structure check: no import circle between source files, no folder
// that imports a folder that imports it back, and each top-level folder
// imports only the layers below it (LAYERS).
//
//   node scripts/check-imports.js            prints the circles found, exit 1 if any
//   node scripts/check-imports.js --graph    also prints the folder graph
//
// It reads the TypeScript sources (not dist/), follows every relative
// `import … from`, `export … from`, `import type …` and `await import('…')`,
// and counts type-only imports too: a type a folder borrows is a dependency
// all the same. Tests (test/) may import anything and are left out as
// importers; production code importing test/ is reported on its own.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const sourceDirs = ['protocol', 'schedules', 'audio', 'device', 'broker', 'provisioning', 'cli', 'lib', 'scripts/bench'];

/**
 * Which top-level folders each may import (besides itself). The three
 * programs (broker, provisioning, device) never import one another; only the
 * composition roots in cli/ (and the benchmarks) join them.
 */
export const LAYERS = {
  protocol: [],
  schedules: ['protocol'],
  lib: ['protocol'],
  audio: ['lib', 'protocol'],
  broker: ['lib', 'protocol'],
  provisioning: ['audio', 'lib', 'protocol', 'schedules'],
  device: ['audio', 'lib', 'protocol', 'schedules'],
  cli: ['audio', 'broker', 'device', 'lib', 'protocol', 'provisioning', 'schedules'],
  scripts: ['audio', 'broker', 'device', 'lib', 'protocol', 'provisioning', 'schedules'],
};

function walk(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (n.endsWith('.ts') && !n.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const specifier = /(?:^|[\s;}])(?:import|export)\s[^'"`;]*?\sfrom\s*['"]([^'"]+)['"]|(?:^|[\s;(=])import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;

/** The relative imports of one file, resolved to source paths under root. */
export function importsOf(file) {
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out = new Set();
  for (const m of text.matchAll(specifier)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec || !spec.startsWith('.')) continue;
    const base = resolve(dirname(file), spec);
    const candidates = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, join(base, 'index.ts')];
    const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile());
    if (hit) out.add(hit);
  }
  return [...out];
}

/** Strongly connected components with more than one member (Tarjan). */
function circles(nodes, edges) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const found = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) found.push(comp.sort());
    }
  };
  for (const v of nodes) if (!idx.has(v)) visit(v);
  return found;
}

export function checkStructure() {
  const files = sourceDirs.flatMap((d) => walk(join(root, d)));
  const rel = (p) => relative(root, p).split(sep).join('/');
  const fileEdges = new Map();
  const folderEdges = new Map();
  const testImports = [];
  const layerBreaks = [];
  const top = (p) => p.split('/')[0];
  for (const f of files) {
    const deps = importsOf(f);
    fileEdges.set(rel(f), deps.map(rel));
    const from = rel(dirname(f)) || '.';
    for (const d of deps) {
      if (rel(d).startsWith('test/')) testImports.push(`${rel(f)} → ${rel(d)}`);
      else if (top(rel(d)) !== top(rel(f)) && !(LAYERS[top(rel(f))] ?? []).includes(top(rel(d)))) layerBreaks.push(`${rel(f)} → ${rel(d)}`);
      const to = rel(dirname(d)) || '.';
      if (to === from) continue;
      if (!folderEdges.has(from)) folderEdges.set(from, new Set());
      folderEdges.get(from).add(to);
    }
  }
  const fileCircles = circles([...fileEdges.keys()], fileEdges);
  const folderNodes = [...new Set([...folderEdges.keys(), ...[...folderEdges.values()].flatMap((s) => [...s])])];
  const folderCircles = circles(folderNodes, folderEdges);
  /** Which file imports make each folder circle, for the message. */
  const why = (comp) => {
    const inComp = new Set(comp);
    const lines = [];
    for (const [f, deps] of fileEdges) {
      const from = f.split('/').slice(0, -1).join('/');
      if (!inComp.has(from)) continue;
      for (const d of deps) {
        const to = d.split('/').slice(0, -1).join('/');
        if (to !== from && inComp.has(to)) lines.push(`    ${f} → ${d}`);
      }
    }
    return lines;
  };
  return { files: files.length, fileCircles, folderCircles, why, folderEdges, testImports, layerBreaks };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const r = checkStructure();
  if (process.argv.includes('--graph')) {
    for (const [from, tos] of [...r.folderEdges].sort()) console.log(`${from} → ${[...tos].sort().join(', ')}`);
  }
  for (const c of r.fileCircles) console.log(`import circle (${c.length} files): ${c.join(' ⇄ ')}`);
  for (const c of r.folderCircles) console.log(`folder circle: ${c.join(' ⇄ ')}\n${r.why(c).join('\n')}`);
  for (const t of r.testImports) console.log(`production code imports test code: ${t}`);
  for (const t of r.layerBreaks) console.log(`import across the layers (see LAYERS): ${t}`);
  const bad = r.fileCircles.length + r.folderCircles.length + r.testImports.length + r.layerBreaks.length;
  console.log(bad ? `check-imports: ${bad} problem(s) in ${r.files} files` : `check-imports: ${r.files} files, no import circle, no folder circle, layers kept`);
  process.exit(bad ? 1 : 0);
}
