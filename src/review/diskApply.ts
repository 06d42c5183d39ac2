// Accepted files written straight to disk, and taken back. For what a
// WorkspaceEdit does badly: a binary file over an existing one (VS Code's
// Undo of an overwriting create deletes the file) and large applies (VS Code
// loads, edits and saves a text model per file, about 6 ms each, so 500
// files take over 3 s where these writes take tens of ms). Files are written
// in place, so they keep their inode and mode (an executable stays one).
// Every change carries the bytes it replaced: undoDiskApply puts them back,
// but only over a file still as it was written; one edited since is left as
// it is and named.
import { lstat, mkdir, readFile, realpath, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { unsafePathReason } from './safeTarget';

export interface DiskChange {
  /** Workspace-relative path the change leaves the file at. */
  path: string;
  /** For a rename: where the file was. */
  oldPath?: string;
  /** The file's bytes before (at oldPath for a rename); undefined when there was none. */
  before?: Buffer;
  /** The file's bytes after; undefined when it is deleted. */
  after?: Buffer;
}

export interface DiskUndo {
  /** Paths put back as they were. */
  restored: string[];
  /** Paths changed since the apply, left as they are. */
  kept: string[];
}

/**
 * Makes every change, or none: when one fails (a read-only file, a full
 * disk), those already made are taken back before the error is thrown.
 */
export async function applyToDisk(root: string, changes: readonly DiskChange[]): Promise<void> {
  const realRoot = await realpath(root);
  const checked: Checked = new Map();
  const done: DiskChange[] = [];
  for (const phase of phases(changes)) {
    // A phase's files all at once (libuv's pool bounds the parallelism), every one settled before judging.
    const outcomes = await Promise.allSettled(phase.map((c) => forward(realRoot, c, checked)));
    done.push(...phase.filter((_, i) => outcomes[i].status === 'fulfilled'));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) {
      await undoDiskApply(root, done).catch(() => undefined);
      throw failed.reason;
    }
  }
}

/** Takes changes back, the apply's phases in reverse; a file that is not as the change left it is kept. */
export async function undoDiskApply(root: string, changes: readonly DiskChange[]): Promise<DiskUndo> {
  const realRoot = await realpath(root);
  const checked: Checked = new Map();
  const restored = new Set<DiskChange>();
  for (const phase of phases(changes).reverse()) {
    const outcomes = await Promise.all(phase.map((c) => backward(realRoot, c, checked)));
    phase.forEach((c, i) => outcomes[i] && restored.add(c));
  }
  const result: DiskUndo = { restored: [], kept: [] };
  for (const c of changes) (restored.has(c) ? result.restored : result.kept).push(c.path);
  return result;
}

/**
 * Renames and deletes first, then writes: a file the agent added where one
 * was renamed or deleted from takes the name only once it is free.
 */
function phases(changes: readonly DiskChange[]): DiskChange[][] {
  const frees = (c: DiskChange) => c.after === undefined || (c.oldPath !== undefined && c.oldPath !== c.path);
  return [changes.filter(frees), changes.filter((c) => !frees(c))];
}

/** Directories already found to lie inside the workspace, shared by one apply's files. */
type Checked = Map<string, Promise<void>>;

async function forward(root: string, c: DiskChange, checked: Checked): Promise<void> {
  const target = await inside(root, c.path, checked);
  if (c.oldPath !== undefined && c.oldPath !== c.path) {
    const source = await inside(root, c.oldPath, checked);
    const { mode } = await stat(source);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, c.after ?? Buffer.alloc(0), { flag: 'wx', mode });
    await unlink(source);
    return;
  }
  if (c.after === undefined) {
    await unlink(target).catch(ignoreMissing);
    return;
  }
  if (c.before === undefined) await mkdir(dirname(target), { recursive: true });
  // In place (not a rename over it): the file keeps its inode, mode and hard links.
  await writeFile(target, c.after, { flag: c.before === undefined ? 'wx' : 'w' });
}

async function backward(root: string, c: DiskChange, checked: Checked): Promise<boolean> {
  const target = await inside(root, c.path, checked);
  const now = await readIfThere(target);
  if (!sameBytes(now, c.after)) return false;
  if (c.oldPath !== undefined && c.oldPath !== c.path) {
    const source = await inside(root, c.oldPath, checked);
    if ((await readIfThere(source)) !== undefined) return false; // something new took the old name
    const { mode } = await stat(target);
    await writeFile(source, c.before ?? Buffer.alloc(0), { flag: 'wx', mode });
    await unlink(target);
    return true;
  }
  // (A directory made for an added file stays: it may have been there, empty, before.)
  if (c.before === undefined) await unlink(target).catch(ignoreMissing);
  else {
    if (now === undefined) await mkdir(dirname(target), { recursive: true });
    await writeFile(target, c.before, { flag: now === undefined ? 'wx' : 'w' });
  }
  return true;
}

/**
 * The absolute path of a workspace-relative one, refusing any that leads out
 * of the workspace, by `..` or through a symbolic link on the way.
 */
async function inside(root: string, path: string, checked: Checked): Promise<string> {
  // The same check as every other route (the callers checked already; this is the last one before a write).
  const why = unsafePathReason(path);
  if (why) throw new Error(`${path}: ${why}`);
  const target = resolve(root, path);
  if (!isInside(root, target)) throw new Error(`${path} is outside the workspace`);
  const dir = dirname(target);
  if (!checked.has(dir)) checked.set(dir, realDirInside(root, dir));
  await checked.get(dir)!.catch((err: Error) => {
    throw new Error(`${path} ${err.message}`);
  });
  const link = await lstat(target).catch(() => undefined);
  if (link?.isSymbolicLink()) throw new Error(`${path} is a symbolic link; it is not written through`);
  return target;
}

/** Rejects when a directory (or its nearest existing ancestor) really lies outside the workspace. */
async function realDirInside(root: string, dir: string): Promise<void> {
  for (;;) {
    try {
      const real = await realpath(dir);
      if (real !== root && !isInside(root, real)) throw new Error('leads out of the workspace through a link');
      // A link that stays inside may still lead into .git, which no apply writes.
      if (real !== root && unsafePathReason(relative(root, real).split(sep).join('/')))
        throw new Error('leads into a .git folder through a link');
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      dir = dirname(dir);
    }
  }
}

function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

async function readIfThere(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
