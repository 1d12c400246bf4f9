#!/usr/bin/env node
// Run by `npm start` and `npm test` before anything else: are the Debian
// packages they need installed? If not, stop at once, name the packages and
// the one command that installs them, instead of failing deep inside the demo
// or a test minutes later. Plain JavaScript and no dependencies, so it runs
// before `tsc` and on a checkout whose build is broken. Looks only at files
// (no child processes), so it takes milliseconds.
//
//   node scripts/preflight.js start    what the demo needs (ffmpeg, espeak-ng)
//   node scripts/preflight.js test     what the tests need: every package of scripts/setup-system.sh
//   node scripts/preflight.js --list   the packages it knows, one a line
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Where Debian puts libraries, per architecture (amd64, arm64 Pi, armhf Pi). */
const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib/arm-linux-gnueabihf', '/usr/lib'];

/**
 * Each package of scripts/setup-system.sh (a test keeps the two lists equal),
 * what shows it is there (commands on PATH; or files, any one of them), and
 * whether the demo needs it. The tests need them all.
 */
export const PACKAGES = [
  { pkg: 'ffmpeg', demo: true, commands: ['ffmpeg', 'ffprobe'] },
  { pkg: 'espeak-ng', demo: true, commands: ['espeak-ng'] },
  { pkg: 'g++', commands: ['g++'] },
  { pkg: 'make', commands: ['make'] },
  { pkg: 'python3', commands: ['python3'] },
  { pkg: 'libasound2-dev', files: ['/usr/include/alsa/asoundlib.h'] },
  { pkg: 'alsa-utils', commands: ['aplay'] },
  { pkg: 'mosquitto', commands: ['mosquitto', 'mosquitto_passwd'] },
  { pkg: 'mosquitto-clients', commands: ['mosquitto_sub', 'mosquitto_pub'] },
  { pkg: 'redis-server', commands: ['redis-server'] },
  { pkg: 'chromium', files: (env) => [env.LOA_CHROMIUM ?? '/usr/bin/chromium'] },
  { pkg: 'faketime', files: () => LIB_DIRS.map((d) => join(d, 'faketime', 'libfaketime.so.1')) },
  { pkg: 'ca-certificates', files: ['/etc/ssl/certs/ca-certificates.crt'] },
  { pkg: 'openssl', commands: ['openssl'] },
];

/**
 * The directories searched for commands: PATH, then /usr/sbin and /sbin,
 * where Debian puts mosquitto but a user's PATH often does not reach
 * (scripts/run-tests.js adds them for the tests the same way).
 */
export function searchPath(env) {
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const d of ['/usr/sbin', '/sbin']) if (!dirs.includes(d)) dirs.push(d);
  return dirs;
}

const isFile = (f) => {
  try {
    return statSync(f).isFile();
  } catch {
    return false;
  }
};
const isExecutable = (f) => {
  try {
    accessSync(f, constants.X_OK);
    return isFile(f);
  } catch {
    return false;
  }
};

/** The packages `job` ('start' or 'test') needs that are not here, each with what is missing. */
export function missing(job, env = process.env) {
  const dirs = searchPath(env);
  const out = [];
  for (const p of PACKAGES) {
    if (job === 'start' && !p.demo) continue;
    const absent = (p.commands ?? []).filter((c) => !dirs.some((d) => isExecutable(join(d, c))));
    const files = typeof p.files === 'function' ? p.files(env) : p.files;
    if (files && !files.some(isFile)) absent.push(files.join(' or '));
    if (absent.length) out.push({ pkg: p.pkg, absent });
  }
  return out;
}

/** The one command that installs them: the setup script, which calls sudo itself unless it runs as root. */
export function installCommand(cwd = process.cwd()) {
  const script = relative(cwd, join(import.meta.dirname, 'setup-system.sh')) || 'scripts/setup-system.sh';
  return `bash ${script}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const job = process.argv[2];
  if (job === '--list') {
    for (const p of PACKAGES) console.log(p.pkg);
    process.exit(0);
  }
  if (job !== 'start' && job !== 'test') {
    console.error('usage: node scripts/preflight.js start|test|--list');
    process.exit(2);
  }
  const gone = missing(job);
  if (gone.length) {
    const what = job === 'start' ? 'npm start (loa demo)' : 'npm test';
    console.error(
      [
        `${what}: thiếu gói Debian (missing Debian packages): ${gone.map((g) => g.pkg).join(' ')}`,
        ...gone.map((g) => `  ${g.pkg.padEnd(18)} không thấy (not found): ${g.absent.join(', ')}`),
        `Cài bằng một lệnh (install them with one command):  ${installCommand()}`,
        '  (it uses sudo unless run as root; on a machine without sudo, run it as root)',
      ].join('\n'),
    );
    process.exit(1);
  }
}
