// A snapshot's tree made from an earlier snapshot's (the same workspace sent
// again after a few edits): every file hard-linked from the earlier tree,
// then only what differs unpacked from the new archive. Shared inodes are
// safe: nothing ever writes a layer's files in place (sandboxes write
// through their overlay, which copies up; the copy fallback copies).
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
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
  // A folder can only have gone with files: without removals, no need to list every folder.
  const afterDirs = removed.length ? foldersOf(after.keys()) : new Set<string>();
  const removedDirs = removed.length ? [...foldersOf(removed)].filter((d) => !afterDirs.has(d) && !after.has(d)) : [];
  // Deepest first, so a folder is empty of folders when it goes.
  removedDirs.sort((a, b) => b.length - a.length);
  return { changed, changedFiles, removed, removedDirs, same };
}

/** Unpacks the listed entries of `archive` into `dir`. */
async function unpackListed(archive: string, dir: string, paths: readonly string[]): Promise<void> {
  if (!paths.length) return;
  const list = join(dirname(dir), 'delta.list');
  writeFileSync(list, paths.map((p) => `${p}\0`).join(''));
  try {
    // prettier-ignore
    await execFileAsync('tar', [
      '-x', '-f', archive, '-C', dir,
      '--no-same-owner', '--no-same-permissions', '--delay-directory-restore',
      '--no-recursion', '--null', '--verbatim-files-from', '-T', list,
    ]);
  } finally {
    rmSync(list, { force: true });
  }
}

/** Changed files writable by everyone (their x bits kept), and every folder on the way to them. */
function openToAll(dir: string, delta: ManifestDelta): void {
  const folders = new Set<string>();
  for (const path of delta.changed) for (let d = dirname(path); d !== '.'; d = dirname(d)) folders.add(d);
  for (const d of folders) {
    mkdirSync(join(dir, d), { recursive: true });
    if (lstatSync(join(dir, d)).isDirectory()) chmodSync(join(dir, d), 0o777);
  }
  for (const path of delta.changedFiles) {
    const st = lstatSync(join(dir, path));
    if (st.isFile()) chmodSync(join(dir, path), 0o666 | (st.mode & 0o111));
  }
}

/**
 * A delta layer (absent `dir`) to lay over the earlier snapshot's: what
 * changed, unpacked from the new archive, and a whiteout (overlayfs's
 * character device 0/0) for each file or folder that went.
 */
export async function writeDeltaLayer(dir: string, archive: string, delta: ManifestDelta): Promise<void> {
  mkdirSync(dir, { mode: 0o700 });
  await unpackListed(archive, dir, delta.changed);
  openToAll(dir, delta);
  const goneDirs = new Set(delta.removedDirs);
  const underGone = (path: string) => {
    for (let d = dirname(path); d !== '.'; d = dirname(d)) if (goneDirs.has(d)) return true;
    return false;
  };
  const changed = new Set(delta.changed);
  for (const path of [...delta.removed, ...delta.removedDirs]) {
    // A folder that went takes what it held; a path the new snapshot fills again needs no whiteout.
    // (A file that became a folder: the folder unpacked above already hides it.)
    if (underGone(path) || changed.has(path) || existsSync(join(dir, path))) continue;
    mkdirSync(join(dir, dirname(path)), { recursive: true, mode: 0o777 });
    chmodSync(join(dir, dirname(path)), dirname(path) === '.' ? 0o700 : 0o777);
    await execFileAsync('mknod', [join(dir, path), 'c', '0', '0']);
  }
  chmodSync(dir, 0o700);
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
  await unpackListed(archive, tree, delta.changed);
  openToAll(tree, delta);
}
