// How much disk a session's workspace uses, measured on the host, where the
// sandbox cannot hide anything: a folder it made unreadable (chmod 0300) is
// read anyway. As root the server reads every file whatever its mode; as
// another user it owns the workspace's files (the sandbox runs as the same
// uid), so on EACCES it gives its own folder u+rwx back and reads on.
import { promises as fs, type Stats } from 'node:fs';
import { join } from 'node:path';

export interface WorkspaceUsage {
  /** Allocated bytes (st_blocks * 512, so sparse files count what they hold), hard links once. */
  bytes: number;
  /** Entries looked at, folders included. */
  entries: number;
  /** False when the walk stopped at the entry budget: bytes is then a lower bound. */
  complete: boolean;
  /** Entries that could not be read even after restoring permissions (vanished ones are not counted). */
  unreadable: number;
}

export interface UsageOptions {
  /** Stop after this many entries, so a million-file workspace cannot make one walk unbounded. */
  entryBudget: number;
  /** Concurrent fs calls (they run on libuv's thread pool, never on the event loop). */
  parallelism?: number;
}

/** Walks `root` without following symlinks and without leaving its filesystem. */
export async function measureWorkspace(root: string, opts: UsageOptions): Promise<WorkspaceUsage> {
  const out: WorkspaceUsage = { bytes: 0, entries: 0, complete: true, unreadable: 0 };
  const seenLinks = new Set<string>();
  const rootStat = await fs.lstat(root);
  const device = rootStat.dev;
  const dirs: string[] = [];
  const count = (st: Stats): void => {
    out.entries++;
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      if (seenLinks.has(key)) return;
      seenLinks.add(key);
    }
    out.bytes += st.blocks * 512;
  };
  count(rootStat);
  if (rootStat.isDirectory()) dirs.push(root);
  const parallelism = opts.parallelism ?? 16;
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    const names = await readDir(dir);
    if (names === undefined) {
      out.unreadable++;
      continue;
    }
    for (let i = 0; i < names.length; i += parallelism) {
      if (out.entries >= opts.entryBudget) {
        out.complete = false;
        return out;
      }
      const batch = names.slice(i, i + parallelism).map((n) => join(dir, n));
      const stats = await Promise.all(batch.map((p) => lstatOrRepair(p)));
      stats.forEach((st, k) => {
        if (st === 'gone') return;
        if (st === 'unreadable') {
          out.unreadable++;
          return;
        }
        count(st);
        if (st.isDirectory() && st.dev === device) dirs.push(batch[k]);
      });
    }
  }
  return out;
}

async function readDir(dir: string): Promise<string[] | undefined> {
  try {
    return await fs.readdir(dir);
  } catch (e) {
    if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') return [];
    if (code(e) !== 'EACCES' || !(await restoreOwnerAccess(dir))) return undefined;
    return fs.readdir(dir).catch(() => undefined);
  }
}

/** lstat, and on EACCES give the parent folder back to its owner (us) and try once more. */
async function lstatOrRepair(path: string): Promise<Stats | 'gone' | 'unreadable'> {
  try {
    return await fs.lstat(path);
  } catch (e) {
    if (code(e) === 'ENOENT') return 'gone';
    if (code(e) !== 'EACCES' || !(await restoreOwnerAccess(join(path, '..')))) return 'unreadable';
    return fs.lstat(path).catch(() => 'unreadable' as const);
  }
}

/**
 * A non-root server owns every file of the workspace (the sandbox runs as
 * its uid), so it may chmod the folder the sandbox locked. Root never gets
 * here: it reads through any mode.
 */
async function restoreOwnerAccess(dir: string): Promise<boolean> {
  try {
    const st = await fs.lstat(dir);
    if (!st.isDirectory() || st.uid !== process.getuid?.()) return false;
    await fs.chmod(dir, (st.mode & 0o7777) | 0o700);
    return true;
  } catch {
    return false;
  }
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}
