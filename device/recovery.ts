import type { Logger } from '../lib/log.js';
import type { AssetRef } from '../protocol/payloads.js';
import { hashFile, type AssetFiles } from './asset-files.js';
import type { DeviceStore } from './store.js';

// Start-up repair after a crash or a power cut, so the store's INVARIANT holds
// before anything reads it:
// - an index row whose file is missing or the wrong size is dropped;
// - a complete file without a row (a crash between rename and insert) is
//   re-verified and indexed if the target wants it, deleted otherwise;
// - partial files and partial rows that lost their other half are dropped.

/**
 * `keepUnwanted`: complete files no target asks for are kept (not deleted)
 * — the agent does not know its target yet (a fresh or rebuilt store), and
 * adopts them when the target arrives instead of fetching them again.
 */
export async function recoverAssets(store: DeviceStore, files: AssetFiles, wanted: readonly AssetRef[], log: Logger, opts: { keepUnwanted?: boolean } = {}): Promise<{ dropped: number; adopted: number; removed: number }> {
  const out = { dropped: 0, adopted: 0, removed: 0 };
  const onDisk = files.list();
  const rows = new Map(store.assets().map((a) => [a.sha256, a]));
  for (const row of rows.values()) {
    if (files.sizeOf(row.sha256) !== row.size) {
      store.tx(() => store.removeAsset(row.sha256));
      files.remove(row.sha256);
      rows.delete(row.sha256);
      out.dropped++;
      log.error({ asset: row.sha256 }, 'indexed asset missing or truncated on disk; dropped from the index');
    }
  }
  const byHash = new Map(wanted.map((a) => [a.sha256, a]));
  for (const sha of onDisk.complete) {
    if (rows.has(sha)) continue;
    const ref = byHash.get(sha);
    if (!ref && opts.keepUnwanted) continue;
    const got = ref ? await hashFile(files.path(sha)) : null;
    if (ref && got && got.sha256 === sha && got.size === ref.size) {
      store.tx(() => store.addAsset(ref, new Date().toISOString()));
      out.adopted++;
    } else {
      files.remove(sha);
      out.removed++;
    }
  }
  const partialRows = new Set(store.partials().map((p) => p.sha256));
  for (const sha of onDisk.partial) if (!partialRows.has(sha)) files.removePartial(sha);
  for (const sha of partialRows) if (!onDisk.partial.includes(sha)) store.removePartial(sha);
  if (out.dropped || out.adopted || out.removed) log.warn(out, 'asset store repaired');
  return out;
}
