import { closeSync, existsSync, fstatSync, fsync, ftruncateSync, mkdirSync, openSync, readSync, readdirSync, renameSync, rmSync, statSync, writeSync, createReadStream } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { join } from 'node:path';
import { fsyncDir } from '../lib/fs-atomic.js';

// Asset files on the device, content-addressed:
//   <data>/assets/<sha256>            complete, verified files
//   <data>/assets/partial/<sha256>    downloads in progress
// A partial file becomes an asset only through `commitVerified`, after the
// transfer has checked the sha256 of every byte it wrote and fsynced them:
// rename, then fsync the directory. The index row is written after
// that (device/store.ts INVARIANT), so a crash at any point leaves either no
// row, or a row and a complete file.

export class AssetFiles {
  readonly dir: string;
  readonly partialDir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'assets');
    this.partialDir = join(this.dir, 'partial');
  }

  ensureDirs(): void {
    mkdirSync(this.partialDir, { recursive: true });
  }

  path(sha256: string): string {
    return join(this.dir, sha256);
  }

  partPath(sha256: string): string {
    return join(this.partialDir, sha256);
  }

  exists(sha256: string): boolean {
    return existsSync(this.path(sha256));
  }

  sizeOf(sha256: string): number | null {
    try {
      return statSync(this.path(sha256)).size;
    } catch {
      return null;
    }
  }

  /** Opens (or creates) the partial file and cuts it to the bytes known to be good. */
  openPartial(sha256: string, keepBytes: number): { fd: number; bytes: number } {
    const p = this.partPath(sha256);
    const fd = openSync(p, existsSync(p) ? 'r+' : 'w+', 0o644);
    const size = fstatSync(fd).size;
    const bytes = Math.min(size, keepBytes);
    if (size !== bytes) ftruncateSync(fd, bytes);
    return { fd, bytes };
  }

  write(fd: number, data: Buffer, position: number): void {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off, position + off);
  }

  /** fsync on libuv's thread pool, so one agent's disk does not stall the event loop. */
  syncAsync(fd: number): Promise<void> {
    return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
  }

  close(fd: number): void {
    closeSync(fd);
  }

  /** Feeds the first `bytes` of an open partial file to a hash (resuming a download after a restart). */
  hashPrefix(fd: number, bytes: number, hash: Hash): void {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    let pos = 0;
    while (pos < bytes) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, bytes - pos), pos);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      pos += n;
    }
  }

  /**
   * Moves a partial file whose bytes were verified as they were written (and
   * fsynced) into place, and makes the rename durable.
   */
  commitVerified(sha256: string): void {
    renameSync(this.partPath(sha256), this.path(sha256));
    fsyncDir(this.dir);
  }

  removePartial(sha256: string): void {
    rmSync(this.partPath(sha256), { force: true });
  }

  remove(sha256: string): void {
    rmSync(this.path(sha256), { force: true });
  }

  /** Names of complete files and of partial files on disk. */
  list(): { complete: string[]; partial: string[] } {
    const isSha = (n: string) => /^[0-9a-f]{64}$/.test(n);
    const safe = (d: string) => {
      try {
        return readdirSync(d);
      } catch {
        return [];
      }
    };
    return { complete: safe(this.dir).filter(isSha), partial: safe(this.partialDir).filter(isSha) };
  }
}

export function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let size = 0;
    createReadStream(path)
      .on('data', (d) => {
        size += d.length;
        h.update(d);
      })
      .on('error', reject)
      .on('end', () => resolve({ sha256: h.digest('hex'), size }));
  });
}
