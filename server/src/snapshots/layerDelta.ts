// A snapshot's tree made from an earlier snapshot's (the same workspace sent
// again after a few edits): every file hard-linked from the earlier tree,
// then only what differs unpacked from the new archive. Shared inodes are
// safe: nothing ever writes a layer's files in place (sandboxes write
// through their overlay, which copies up; the copy fallback copies).
import { execFile } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { SnapshotManifestEntry } from './canonicalArchive';

const execFileAsync = promisify(execFile);

export interface ManifestDelta {
  /** In the new snapshot and not (or not the same) in the old one: unpacked from the new archive. */
  changed: string[];
  /** Those of them that are regular files (never a symlink: chmod would follow it out of the tree). */
  changedFiles: string[];
  /** In the old snapshot only. */
  removed: string[];
  /** Folders of the old snapshot that the new one does not have. */
  removedDirs: string[];
  /** Entries both hold alike. */
  same: number;
}

function sameEntry(a: SnapshotManifestEntry, b: SnapshotManifestEntry): boolean {
  return a.type === b.type && a.sha256 === b.sha256 && a.mode === b.mode && a.linkTarget === b.linkTarget;
}

function foldersOf(paths: Iterable<string>): Set<string> {
  const dirs = new Set<string>();
  for (const p of paths) for (let d = dirname(p); d !== '.' && !dirs.has(d); d = dirname(d)) dirs.add(d);
  return dirs;
}

export function manifestDelta(
  before: ReadonlyMap<string, SnapshotManifestEntry>,
  after: ReadonlyMap<string, SnapshotManifestEntry>,
): ManifestDelta {
  const changed: string[] = [];
  const changedFiles: string[] = [];
  const removed: string[] = [];
  let same = 0;
  for (const [path, e] of after) {
    const old = before.get(path);
    if (old && sameEntry(old, e)) same++;
    else {
      changed.push(path);
      if (e.type === 'file') changedFiles.push(path);
    }
  }
  for (const path of before.keys()) if (!after.has(path)) removed.push(path);
  const afterDirs = foldersOf(after.keys());
  const removedDirs = [...foldersOf(before.keys())].filter((d) => !afterDirs.has(d) && !after.has(d));
  // Deepest first, so a folder is empty of folders when it goes.
  removedDirs.sort((a, b) => b.length - a.length);
  return { changed, changedFiles, removed, removedDirs, same };
}

/**
 * Builds `tree` (absent) from `baseTree`: hard links of every file, then the
 * delta applied from `archive`. Files it unpacks are made writable by
 * everyone like the rest of the layer.
 */
export async function deriveTree(baseTree: string, tree: string, archive: string, delta: ManifestDelta): Promise<void> {
  await execFileAsync('cp', ['-al', baseTree, tree]);
  // A changed file is unlinked before it is unpacked: writing it in place would change the earlier tree's inode too.
  for (const path of [...delta.removed, ...delta.changed]) rmSync(join(tree, path), { recursive: true, force: true });
  for (const dir of delta.removedDirs) rmSync(join(tree, dir), { recursive: true, force: true });
  if (!delta.changed.length) return;
  const list = join(dirname(tree), 'delta.list');
  writeFileSync(list, delta.changed.map((p) => `${p}\0`).join(''));
  try {
    await execFileAsync('tar', [
      '-x',
      '-f',
      archive,
      '-C',
      tree,
      '--no-same-owner',
      '--no-same-permissions',
      '--delay-directory-restore',
      '--no-recursion',
      '--null',
      '--verbatim-files-from',
      '-T',
      list,
    ]);
  } finally {
    rmSync(list, { force: true });
  }
  const newDirs = new Set<string>();
  for (const path of delta.changed) {
    for (let d = dirname(path); d !== '.'; d = dirname(d)) newDirs.add(d);
  }
  for (const d of newDirs) {
    mkdirSync(join(tree, d), { recursive: true });
    chmodSync(join(tree, d), 0o777);
  }
  for (const path of delta.changedFiles) {
    const st = lstatSync(join(tree, path));
    if (st.isFile()) chmodSync(join(tree, path), 0o666 | (st.mode & 0o111));
  }
}
