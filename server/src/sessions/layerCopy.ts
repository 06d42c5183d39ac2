// The copy fallback, where the host can mount no overlay: each layer copied
// onto the workspace as an overlay would show it, and when the session ends,
// its changes captured after the fact as a writable layer (new and changed
// entries, whiteouts for deleted ones).
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, type Stats } from 'node:fs';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * The copy fallback: a layer's files onto the workspace as an overlay would
 * show them: what its whiteouts (character devices 0/0, overlayfs's record
 * of a deletion) delete goes, and an entry that changes between folder and
 * file replaces the one below.
 */
export async function copyLayer(layer: string, dir: string): Promise<void> {
  clearWayFor(layer, dir);
  await execFileAsync('cp', ['-a', '--reflink=auto', '--no-preserve=ownership', `${layer}/.`, dir]);
  await execFileAsync('find', [dir, '-xdev', '-type', 'c', '-delete']);
}

/** Removes from `dir` what `layer` deletes or replaces by another kind, going only where both have a folder. */
function clearWayFor(layer: string, dir: string): void {
  for (const e of readdirSync(layer, { withFileTypes: true })) {
    const below = join(dir, e.name);
    let st: Stats;
    try {
      st = lstatSync(below);
    } catch {
      continue; // nothing below to clash with
    }
    if (e.isCharacterDevice() || e.isDirectory() !== st.isDirectory()) rmSync(below, { recursive: true, force: true });
    else if (e.isDirectory()) clearWayFor(join(layer, e.name), below);
  }
}

/**
 * The copy fallback's writable layer, after the fact: every entry of `dir`
 * that no lower holds as it is (type, size, mode, mtime, link target), and a
 * whiteout for every lower entry gone from it.
 */
export async function captureChanges(dir: string, lowers: string[], upper: string): Promise<void> {
  const walk = async (rel: string): Promise<void> => {
    const here = join(dir, rel);
    const names = new Set(readdirSync(here));
    for (const name of names) {
      const path = join(rel, name);
      const st = lstatSync(join(dir, path));
      const base = lowerStat(lowers, path);
      const same =
        base &&
        base.st.isDirectory() === st.isDirectory() &&
        base.st.isSymbolicLink() === st.isSymbolicLink() &&
        (st.isDirectory() ||
          (base.st.size === st.size &&
            Math.trunc(base.st.mtimeMs) === Math.trunc(st.mtimeMs) &&
            (base.st.mode & 0o111) === (st.mode & 0o111) &&
            (!st.isSymbolicLink() || readlinkSync(base.path) === readlinkSync(join(dir, path)))));
      if (st.isDirectory()) {
        if (!same) mkdirSync(join(upper, path), { recursive: true });
        await walk(path);
        continue;
      }
      if (same) continue;
      mkdirSync(join(upper, rel), { recursive: true });
      if (st.isSymbolicLink()) symlinkSync(readlinkSync(join(dir, path)), join(upper, path));
      else await execFileAsync('cp', ['-a', '--reflink=auto', join(dir, path), join(upper, path)]);
    }
    for (const lower of lowers) {
      let below: string[];
      try {
        below = readdirSync(join(lower, rel));
      } catch {
        continue;
      }
      for (const name of below) {
        // Gone from the workspace, and visible in the layers below (not already deleted by a higher one).
        if (names.has(name) || existsSync(join(upper, rel, name)) || !lowerStat(lowers, join(rel, name))) continue;
        mkdirSync(join(upper, rel), { recursive: true });
        await execFileAsync('mknod', [join(upper, rel, name), 'c', '0', '0']);
      }
    }
  };
  await walk('');
}

function lowerStat(lowers: string[], rel: string): { st: Stats; path: string } | undefined {
  for (let i = lowers.length - 1; i >= 0; i--) {
    const path = join(lowers[i], rel);
    try {
      const st = lstatSync(path);
      if (st.isCharacterDevice()) return undefined; // a whiteout: deleted in that layer
      return { st, path };
    } catch {
      /* not in this layer */
    }
  }
  return undefined;
}
