import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

// Files that must never be seen half-written (bundles, keys, assets) are
// written next to their final name, fsynced, renamed into place, and the
// directory fsynced so the rename itself survives a power cut.

export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to a temporary file beside `path` and returns its name; the caller renames or removes it. */
export function writeTempFile(path: string, data: string | Buffer, mode = 0o644): string {
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  return tmp;
}

export function commitTempFile(tmp: string, path: string): void {
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  const tmp = writeTempFile(path, data, mode);
  try {
    commitTempFile(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
