import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';

// package.json promises the Node versions in `engines.node`; every package the
// lock installs (dependencies and devDependencies: `npm test` runs on them too)
// must support every one of them, or `npm install` warns EBADENGINE and the
// package may not run at all (cookie 2 needs Node 22 while Loa runs on 20).

const root = join(import.meta.dirname, '..', '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines?: { node?: string } };
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };

test('package.json claims a valid Node range, and the lock file records the same', () => {
  const claim = pkg.engines?.node;
  assert.ok(claim && semver.validRange(claim), `engines.node ${claim}`);
  assert.ok(lock.lockfileVersion >= 2, 'lockfileVersion 2 or 3 (a "packages" map)');
  assert.is(lock.packages['']?.engines && !Array.isArray(lock.packages[''].engines) ? lock.packages[''].engines.node : undefined, claim, 'run `npm install` to refresh package-lock.json');
});

/**
 * The part of `claim` that `range` does not cover, or null when every version
 * `claim` allows satisfies `range`. semver.subset alone is not enough: it wants
 * each of the claim's alternatives inside ONE alternative of the range, so
 * ">=22 <25" would not fit "22.x || 23.x || 24.x". So the claim is cut at every
 * bound either range names, and each piece must fit. Prereleases of Node are
 * not claimed: bounds are cut at releases, pieces end just before the next one.
 */
export function uncovered(claim: string, range: string): string | null {
  const cuts = new Map<string, semver.SemVer>();
  for (const r of [claim, range]) {
    for (const set of new semver.Range(r).set) {
      for (const c of set) {
        if (!c.value) continue; // '*': no bound
        const release = `${c.semver.major}.${c.semver.minor}.${c.semver.patch}`;
        cuts.set(release, new semver.SemVer(release));
      }
    }
  }
  const points = [...cuts.values()].sort(semver.compare).map((v) => v.version);
  const pieces = points.length ? [`<${points[0]}-0`, ...points.map((p, i) => (i + 1 < points.length ? `>=${p} <${points[i + 1]}-0` : `>=${p}`))] : [''];
  for (const set of new semver.Range(claim).set) {
    const own = set.map((c) => c.value).join(' ');
    for (const piece of pieces) {
      const part = `${own} ${piece}`.trim() || '*';
      if (semver.minVersion(part) === null) continue;
      if (!semver.subset(part, range)) return tightest(part);
    }
  }
  return null;
}

/** ">=20.10.0 <21.0.0-0 <20.11.0-0" as ">=20.10.0 <20.11.0-0": the highest lower bound and the lowest upper one. */
function tightest(range: string): string {
  const cs = new semver.Range(range).set[0]!;
  const lower = cs.filter((c) => c.operator.startsWith('>')).sort((a, b) => semver.compare(b.semver, a.semver))[0];
  const upper = cs.filter((c) => c.operator.startsWith('<')).sort((a, b) => semver.compare(a.semver, b.semver))[0];
  return [lower?.value, upper?.value].filter(Boolean).join(' ');
}

test('every package in package-lock.json supports every Node version package.json claims', () => {
  const claim = pkg.engines!.node!;
  const bad: string[] = [];
  for (const [path, p] of Object.entries(lock.packages)) {
    if (path === '' || !p.engines || Array.isArray(p.engines) || !p.engines.node) continue;
    const range = p.engines.node;
    const name = `${path.replace(/^.*node_modules\//, '')}@${p.version}`;
    // A range npm cannot read counts as a mismatch: npm would warn about it too.
    if (!semver.validRange(range)) bad.push(`${name} needs node "${range}", which is not a semver range`);
    else {
      const gap = uncovered(claim, range);
      if (gap) bad.push(`${name} needs node ${range}, not ${gap}`);
    }
  }
  assert.equal(bad, [], `package.json claims node ${claim}, but:\n  ${bad.join('\n  ')}\n(pin or override a version that supports it, or narrow engines.node)`);
});

test('the range check itself', () => {
  const claim = '>=20.10 <21 || >=22';
  assert.is(uncovered(claim, '>=22'), '>=20.10.0 <21.0.0-0');
  assert.is(uncovered(claim, '>=20.11'), '>=20.10.0 <20.11.0-0');
  assert.is(uncovered(claim, '20.x || 22.x || 23.x || 24.x'), '>=25.0.0');
  assert.is(uncovered(claim, '20.x || >=22.5'), '>=22.0.0 <22.5.0-0');
  assert.is(uncovered('>=20.10 <21 || >=22 <25', '20.x || 22.x || 23.x || 24.x'), null);
  for (const ok of ['>=18', '*', '20 || >=22', '>= 12', '^12.22.0 || ^14.17.0 || >=16.0.0', '>=20.9']) assert.is(uncovered(claim, ok), null, ok);
});

test.run();
