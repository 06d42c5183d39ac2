// An incremental snapshot kept as a delta over a full archive: a hard link to
// that archive (base.tar, which outlives the snapshot that wrote it), a
// canonical archive of only the entries that differ (snapshot.tar), and the
// base's entries that the snapshot does not hold as they are (delta.json).
// Unpacked, it is exactly the tree its full archive would give; the server
// writes no more than what changed.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SnapshotManifestEntry } from './canonicalArchive';
import type { ArchiveEntry } from './deltaIngest';
import type { ArchiveSpan } from './tarFraming';

const execFileAsync = promisify(execFile);

export const BASE_ARCHIVE = 'base.tar';
export const BASE_MANIFEST = 'base-manifest.json';
export const DELTA_INFO = 'delta.json';

export interface DeltaInfo {
  /** The snapshot whose full archive base.tar is (it may be gone since: the link keeps the file). */
  base: string;
  /** Entries of base.tar (files, symlinks and folders) that are not in this snapshot as they are there. */
  dropped: string[];
}

/**
 * What a snapshot of `entries` needs beyond the full archive it is compared
 * with: the entries that differ (content, mode, kind, link or mtime), and the
 * base's entries to drop. A delta is worth keeping only while it is small.
 */
export function deltaOver(
  entries: readonly ArchiveEntry[],
  baseManifest: ReadonlyMap<string, SnapshotManifestEntry>,
  baseSpans: ReadonlyMap<string, ArchiveSpan>,
): { delta: ArchiveEntry[]; dropped: string[]; deltaBytes: number } {
  const wanted = new Map(entries.map((a) => [a.entry.path, a]));
  const folders = new Set<string>();
  for (const path of wanted.keys())
    for (let slash = path.lastIndexOf('/'); slash > 0; slash = path.lastIndexOf('/', slash - 1)) {
      const dir = path.slice(0, slash);
      if (folders.has(dir)) break;
      folders.add(dir);
    }
  const kept = new Set<string>();
  const dropped: string[] = [];
  for (const [path, span] of baseSpans) {
    if (span.type === 'directory') {
      if (!folders.has(path)) dropped.push(path);
      continue;
    }
    const want = wanted.get(path);
    const had = baseManifest.get(path);
    if (
      want &&
      had &&
      had.type === want.entry.type &&
      had.sha256 === want.entry.sha256 &&
      had.mode === want.entry.mode &&
      had.linkTarget === want.entry.linkTarget &&
      span.mtime === want.mtime
    )
      kept.add(path);
    else dropped.push(path);
  }
  const delta = entries.filter((a) => !kept.has(a.entry.path));
  return { delta, dropped, deltaBytes: delta.reduce((n, a) => n + (a.entry.type === 'file' ? a.entry.size : 0), 0) };
}

const TAR_EXTRACT = ['--no-same-owner', '--no-same-permissions', '--delay-directory-restore'];

/** Unpacks a delta snapshot into `dir`: the base, minus what it dropped, then the delta. */
export async function extractDelta(root: string, info: DeltaInfo, dir: string): Promise<void> {
  await execFileAsync('tar', ['-x', '-f', join(root, BASE_ARCHIVE), '-C', dir, ...TAR_EXTRACT]);
  // Paths come from the server's own canonical archive (checked when it was uploaded), never from a client.
  for (const path of info.dropped) rmSync(join(dir, path), { recursive: true, force: true });
  await execFileAsync('tar', ['-x', '-f', join(root, 'snapshot.tar'), '-C', dir, ...TAR_EXTRACT]);
}
