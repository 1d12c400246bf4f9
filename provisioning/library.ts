import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fsyncDir, writeTempFile } from '../lib/fs-atomic.js';
import { ownedTempDir } from '../lib/owned-temp.js';
import { isLoaError, LoaError } from '../protocol/errors.js';
import type { AssetRef } from '../protocol/payloads.js';
import type { Db } from '../lib/sqlite.js';
import type { Registry } from './registry.js';
import { ingest as ffmpegIngest, type IngestOptions, type IngestResult } from '../audio/ingest.js';
import { ToolFailure } from '../audio/ingest-ffmpeg.js';

// The province's audio library: files named by their sha256 under
// <data>/library, with their metadata in the registry. What devices fetch is
// addressed by content, so a file is never changed in place. The library
// table is this module's: its SQL lives here alone, on the registry's
// connection (Registry.openStore), so an asset and its audit record commit together.

const run = promisify(execFile);

export interface LibraryAsset {
  sha256: string;
  size: number;
  mime: AssetRef['mime'];
  durationMs: number;
  title: string;
  addedAt: string;
  /** EBU R128 of the asset as devices play it (null: added as it was, not ingested). */
  loudness: { I: number; TP: number; LRA: number } | null;
  /** Container/codec of the original upload, e.g. "mp3", "mp4/aac". */
  sourceFormat: string | null;
}

/** The ingest a library runs uploads through; tests and benchmarks may pass another with the same contract. */
export type Ingest = (file: string, opts: IngestOptions) => Promise<IngestResult>;

const COLUMNS = 'sha256, size, mime, duration_ms AS durationMs, title, added_at AS addedAt, loudness, source_format AS sourceFormat';
type Row = Omit<LibraryAsset, 'loudness'> & { loudness: string | null };
const fromRow = (r: Row): LibraryAsset => ({ ...r, loudness: r.loudness ? (JSON.parse(r.loudness) as LibraryAsset['loudness']) : null });

const MIME_BY_FORMAT: Record<string, AssetRef['mime']> = { ogg: 'audio/ogg', wav: 'audio/wav', mp3: 'audio/mpeg' };

/** Duration and container of an audio file, read by Debian's ffprobe. */
export async function probeAudio(file: string): Promise<{ durationMs: number; mime: AssetRef['mime'] }> {
  let out: string;
  try {
    out = (await run('ffprobe', ['-v', 'error', '-show_entries', 'format=format_name,duration', '-of', 'json', file], { timeout: 30_000 })).stdout;
  } catch (e) {
    throw new LoaError('LOA_E_AUDIO_INVALID', `ffprobe cannot read ${file}: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`, { cause: e });
  }
  const f = (JSON.parse(out) as { format?: { format_name?: string; duration?: string } }).format ?? {};
  const mime = (f.format_name ?? '').split(',').map((n) => MIME_BY_FORMAT[n]).find(Boolean);
  const seconds = Number(f.duration);
  if (!mime) throw new LoaError('LOA_E_AUDIO_INVALID', `${file} is ${f.format_name ?? 'of unknown format'}; the library takes Ogg, WAV or MP3`);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new LoaError('LOA_E_AUDIO_INVALID', `${file} has no playable duration`);
  return { durationMs: Math.round(seconds * 1000), mime };
}

/**
 * An ingest whose ffmpeg or ffprobe was killed (the OOM killer, an operator's
 * kill): not the file's fault. The ingest's failure carries the tool's
 * ToolFailure, which names the signal (audio/ingest-ffmpeg.ts).
 */
function killedTool(e: unknown): LoaError | null {
  const cause = isLoaError(e) ? e.cause : e;
  if (!(cause instanceof ToolFailure && cause.kind === 'killed')) return null;
  return new LoaError('LOA_E_INGEST_INTERRUPTED', `interrupted: ${cause.tool} was killed before the ingest finished (the file is not at fault); upload the file again`, {
    cause: e,
    context: { reason: 'tool-killed', signal: cause.signal },
  });
}

export class AssetLibrary {
  readonly dir: string;
  readonly #reg: Registry;
  readonly #db: Db;

  constructor(registry: Registry) {
    this.#reg = registry;
    this.#db = registry.openStore((db) => db);
    this.dir = join(registry.dir, 'library');
  }

  path(sha256: string): string {
    return join(this.dir, sha256);
  }

  get(sha256: string): LibraryAsset | null {
    const r = this.#db.prepare(`SELECT ${COLUMNS} FROM library WHERE sha256 = ?`).get(sha256) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  list(): LibraryAsset[] {
    return (this.#db.prepare(`SELECT ${COLUMNS} FROM library ORDER BY added_at`).all() as Row[]).map(fromRow);
  }

  /** Adds bytes with known metadata; adding the same bytes again returns the existing entry. */
  add(bytes: Buffer, meta: { title: string; mime: AssetRef['mime']; durationMs: number; actor: string; loudness?: LibraryAsset['loudness']; sourceFormat?: string }): LibraryAsset {
    const title = meta.title.normalize('NFC').trim();
    if (!title || title.length > 200) throw new LoaError('LOA_E_CONFIG_INVALID', 'an asset title must have 1–200 characters');
    if (!bytes.length) throw new LoaError('LOA_E_AUDIO_INVALID', 'empty file');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const existing = this.get(sha256);
    if (existing) return existing;
    mkdirSync(this.dir, { recursive: true });
    const tmp = writeTempFile(this.path(sha256), bytes);
    try {
      renameSync(tmp, this.path(sha256));
      fsyncDir(this.dir);
      this.#db.transaction(() => {
        this.#db
          .prepare('INSERT INTO library (sha256, size, mime, duration_ms, title, added_at, added_by, loudness, source_format) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(sha256, bytes.length, meta.mime, meta.durationMs, title, new Date().toISOString(), meta.actor, meta.loudness ? JSON.stringify(meta.loudness) : null, meta.sourceFormat ?? null);
        this.#reg.audit(meta.actor, 'library.add', sha256, { title, size: bytes.length, ...(meta.loudness ? { loudness: meta.loudness.I } : {}) });
      })();
    } catch (e) {
      rmSync(tmp, { force: true });
      if (!this.get(sha256)) rmSync(this.path(sha256), { force: true });
      throw e;
    }
    return this.get(sha256)!;
  }

  /**
   * Ingests an audio file (any format ffmpeg reads: decode, EBU R128 loudness
   * normalisation, Opus) and adds the result: what every upload and TTS
   * bulletin goes through. A refused file leaves nothing behind.
   */
  async importAudio(file: string, meta: { title: string; actor: string }, opts: { onProgress?: (f: number) => void; ingest?: Ingest; maxDurationMs?: number } = {}): Promise<LibraryAsset> {
    const work = ownedTempDir('loa-ingest');
    try {
      let r: IngestResult;
      try {
        r = await (opts.ingest ?? ffmpegIngest)(file, { outDir: work, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(opts.maxDurationMs ? { maxDurationMs: opts.maxDurationMs } : {}) });
      } catch (e) {
        throw killedTool(e) ?? e;
      }
      return this.add(readFileSync(r.file), { ...meta, mime: 'audio/ogg', durationMs: r.durationMs, loudness: r.loudness.output, sourceFormat: r.sourceFormat });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  /** Adds an audio file as it is (Ogg, WAV or MP3), probing its duration: for clips already prepared elsewhere. */
  async addFile(file: string, meta: { title: string; actor: string }): Promise<LibraryAsset> {
    if (!existsSync(file)) throw new LoaError('LOA_E_AUDIO_INVALID', `${file} does not exist`);
    const probe = await probeAudio(file);
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      createReadStream(file).on('data', (d) => parts.push(d as Buffer)).on('error', reject).on('end', () => resolve(Buffer.concat(parts)));
    });
    return this.add(bytes, { ...meta, ...probe });
  }

  /** Reads `length` bytes at `offset`; used to answer chunk requests. */
  read(sha256: string, offset: number, length: number): Buffer {
    const fd = openSync(this.path(sha256), 'r');
    try {
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      return got === length ? buf : buf.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  }
}
