#!/usr/bin/env node
// Runs every compiled uvu test file in its own Node process, a few at a time.
// One process per file keeps brokers, ports and SQLite files of one suite
// from leaking into another, and lets the suites use both cores.
//
//   node scripts/run-tests.js                 unit, contracts, integration, browser (headless Chromium), faults (quick cases)
//   node scripts/run-tests.js --slow          also the long suites: test/slow and test/faults/*.slow.test.js
//   node scripts/run-tests.js --only slow     only the long suites
//   node scripts/run-tests.js --only faults   only test/faults, quick cases (with --slow: the long ones too)
//   node scripts/run-tests.js broker acl      only files whose path contains a word
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { searchPath } from './preflight.js';

const args = process.argv.slice(2);
const slow = args.includes('--slow');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1] : null;
const filters = args.filter((a, i) => !a.startsWith('--') && !(onlyIdx >= 0 && i === onlyIdx + 1));
const root = join(import.meta.dirname, '..', 'dist', 'test');
const suites = only === 'slow' ? ['slow', 'faults'] : only ? [only] : ['unit', 'contracts', 'integration', 'browser', 'faults', ...(slow ? ['slow'] : [])];
/** A long suite: test/slow, or a fault suite file named *.slow.test.js. */
const isSlow = (f) => f.includes(`${join('test', 'slow')}`) || f.endsWith('.slow.test.js');
const wantSlow = only === 'slow' ? 'only' : slow ? 'too' : 'no';
const jobs = Number(process.env.LOA_TEST_JOBS) || Math.max(2, Math.min(4, availableParallelism()));
const timeoutMs = Number(process.env.LOA_TEST_TIMEOUT_MS) || (only === 'slow' || slow ? 900_000 : 240_000);

function walk(dir) {
  let out = [];
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (n.endsWith('.test.js')) out.push(p);
  }
  return out;
}

// A compiled test whose source was renamed or removed is left in dist/ by tsc: not run.
const hasSource = (f) => existsSync(join(import.meta.dirname, '..', relative(join(root, '..', '..'), f).replace(/^dist[/\\]/, '').replace(/\.js$/, '.ts')));
let files = suites
  .flatMap((s) => walk(join(root, s)))
  .filter(hasSource)
  .filter((f) => (wantSlow === 'only' ? isSlow(f) : wantSlow === 'too' || !isSlow(f)));
if (filters.length) files = files.filter((f) => filters.some((w) => relative(root, f).includes(w)));
if (!files.length) {
  if (args.includes('--allow-empty')) {
    console.log(`run-tests: no test files in ${suites.join(', ')}`);
    process.exit(0);
  }
  console.error('run-tests: no test files found (did tsc run?)');
  process.exit(1);
}

// Debian puts mosquitto in /usr/sbin, which a user's PATH often lacks: search it as the preflight did.
const childPath = searchPath(process.env).join(delimiter);
const started = Date.now();
const results = [];
let next = 0;

function runOne(file) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--enable-source-maps', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: childPath, FORCE_COLOR: '0' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      out += `\n[run-tests] killed after ${timeoutMs} ms\n`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const m = /Total:\s+(\d+)[\s\S]*?Passed:\s+(\d+)[\s\S]*?Skipped:\s+(\d+)/.exec(out);
      const r = { file: relative(root, file), code, signal, out, ms: Date.now() - t0, total: m ? +m[1] : 0, passed: m ? +m[2] : 0 };
      // uvu exits 0 when a before-hook throws (it reports 0 of N passed), so count as well.
      const ok = code === 0 && !signal && m !== null && r.passed + +m[3] === r.total && r.total > 0;
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${r.file.padEnd(50)} ${String(r.passed).padStart(3)}/${String(r.total).padEnd(3)} ${(r.ms / 1000).toFixed(1)}s`);
      results.push({ ...r, ok });
      resolve();
    });
  });
}

async function worker() {
  while (next < files.length) await runOne(files[next++]);
}

await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));

const failed = results.filter((r) => !r.ok);
for (const f of failed) {
  console.log(`\n======== ${f.file} (exit ${f.code ?? f.signal}) ========\n${f.out.trim()}\n`);
}
const total = results.reduce((n, r) => n + r.total, 0);
const passed = results.reduce((n, r) => n + r.passed, 0);
console.log(`\n${results.length - failed.length}/${results.length} files, ${passed}/${total} tests passed in ${((Date.now() - started) / 1000).toFixed(1)}s (${jobs} at a time)`);
process.exit(failed.length ? 1 : 0);
