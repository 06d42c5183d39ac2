// A session's /workspace as a writable layer over read-only ones (the
// snapshot, then the environment), so provisioning costs the same whatever
// the repository's size. Kernel overlayfs where the server may mount it
// (root), fuse-overlayfs where it is installed, and a copy of every layer as
// the last resort (reported at start-up: it grows with the repository).
//
// The read-only layers are the server's (root's) files made writable by
// everyone, inside folders only root can enter: a sandbox uid reaches them
// only through its own overlay, where writing one copies it up into the
// session's layer and leaves the shared one untouched.
import { execFile, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type LayeringMode = 'overlay' | 'fuse-overlayfs' | 'copy';
export type LayeringSetting = 'auto' | LayeringMode;

/** What a session's workspace is made of. */
export interface WorkspaceLayerSpec {
  /** Read-only folders, bottom first (the snapshot's tree, then the environment's layer). */
  lowers: string[];
  /**
   * Where the session's own changes are kept after it ends (the environment's
   * setup); unset, they go with the session. Owned by root when the session
   * ends, writable by everyone like every read-only layer.
   */
  keepUpperAt?: string;
}

interface Mounted {
  spec: WorkspaceLayerSpec;
  mode: LayeringMode;
  upper: string;
  scratch: string;
}

const FUSE_OVERLAYFS = ['/usr/bin/fuse-overlayfs', '/bin/fuse-overlayfs'];

export class WorkspaceLayers {
  private modeFound: LayeringMode | undefined;
  private readonly mounted = new Map<string, Mounted>();

  /** `root` holds each session's writable layer and overlay work folder; no sandbox mounts it. */
  constructor(
    private readonly root: string,
    private readonly setting: LayeringSetting = 'auto',
  ) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    chmodSync(root, 0o700);
  }

  /** The way this server layers workspaces, probed once (a real mount) unless the setting names one. */
  async mode(): Promise<LayeringMode> {
    if (this.modeFound) return this.modeFound;
    this.modeFound = this.setting === 'auto' ? await this.probe() : this.setting;
    return this.modeFound;
  }

  /** Why the copy was chosen, for the start-up log. */
  async describe(): Promise<{ mode: LayeringMode; note?: string }> {
    const mode = await this.mode();
    if (mode !== 'copy') return { mode };
    return {
      mode,
      note:
        this.setting === 'copy'
          ? 'workspaces are copies (configured): provisioning grows with the repository'
          : 'no overlayfs here (not root, no fuse-overlayfs): each workspace is a copy of its layers, so provisioning grows with the repository',
    };
  }

  /** Builds the session's /workspace on its (empty) folder `dir`, for the sandbox uid `uid`. */
  async assemble(sessionId: string, dir: string, uid: number, spec: WorkspaceLayerSpec): Promise<LayeringMode> {
    const mode = await this.mode();
    const scratch = join(this.root, safeId(sessionId));
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(scratch, { mode: 0o700 });
    const upper = spec.keepUpperAt ?? join(scratch, 'upper');
    mkdirSync(upper, { recursive: true, mode: 0o700 });
    chownIfRoot(upper, uid);
    const entry: Mounted = { spec, mode, upper, scratch };
    this.mounted.set(dir, entry);
    if (mode === 'copy') {
      for (const lower of spec.lowers) await copyLayer(lower, dir);
      return mode;
    }
    const work = join(scratch, 'work');
    mkdirSync(work, { mode: 0o700 });
    // overlayfs takes the topmost lower first.
    const lowerdir = [...spec.lowers].reverse().map(escapeOption).join(':');
    const options = `lowerdir=${lowerdir},upperdir=${escapeOption(upper)},workdir=${escapeOption(work)}`;
    if (mode === 'overlay') {
      await execFileAsync('mount', ['-t', 'overlay', 'overlay', '-o', `${options},nosuid,nodev`, dir]);
    } else {
      await execFileAsync(fuseOverlayfs()!, ['-o', `${options},allow_other`, dir]);
    }
    return mode;
  }

  /**
   * Takes the session's workspace apart (its sandbox has ended). A kept
   * writable layer becomes a read-only one: root's, writable by everyone.
   */
  async disassemble(dir: string): Promise<void> {
    const entry = this.mounted.get(dir);
    if (!entry) return;
    this.mounted.delete(dir);
    if (entry.mode === 'copy') {
      if (entry.spec.keepUpperAt) await captureChanges(dir, entry.spec.lowers, entry.upper);
    } else unmount(dir);
    if (entry.mode === 'fuse-overlayfs' && entry.spec.keepUpperAt) dropRedundantOpaqueMarks(entry.upper, entry.spec.lowers);
    if (entry.spec.keepUpperAt) await makeSharedLayer(entry.upper);
    rmSync(entry.scratch, { recursive: true, force: true });
  }

  /**
   * A read-only overlay of `lowers` (bottom first) for the time of `work`,
   * so a host tool sees them as one folder; kernel overlayfs only (undefined
   * where the server cannot mount it: callers then do without layered snapshots).
   */
  async view<T>(lowers: string[], work: (dir: string) => Promise<T>): Promise<T> {
    if ((await this.mode()) !== 'overlay') throw new Error('read-only views need kernel overlayfs');
    const dir = join(this.root, `.view-${process.pid}-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir, { mode: 0o700 });
    try {
      const lowerdir = [...lowers].reverse().map(escapeOption).join(':');
      await execFileAsync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowerdir},nosuid,nodev`, dir]);
      try {
        return await work(dir);
      } finally {
        unmount(dir);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The folder that holds what the session itself wrote, for its disk quota; undefined unless `dir` is assembled here. */
  writableLayerOf(dir: string): string | undefined {
    const entry = this.mounted.get(dir);
    return entry && entry.mode !== 'copy' ? entry.upper : undefined;
  }

  /** Whether `dir` is assembled by this process. */
  holds(dir: string): boolean {
    return this.mounted.has(dir);
  }

  /** After a restart: unmounts what a previous process left under `workspaceRoot`, and empties the scratch root. */
  cleanupLeftovers(workspaceRoot: string): void {
    for (const point of mountPointsUnder(workspaceRoot)) unmount(point);
    for (const name of readdirSync(this.root)) rmSync(join(this.root, name), { recursive: true, force: true });
  }

  private async probe(): Promise<LayeringMode> {
    const dir = join(this.root, `.probe-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(dir, d), { recursive: true });
    const options = `lowerdir=${join(dir, 'lower')},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`;
    try {
      if (process.getuid?.() === 0) {
        const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', options, join(dir, 'merged')], { stdio: 'ignore' });
        if (r.status === 0) {
          unmount(join(dir, 'merged'));
          return 'overlay';
        }
      }
      const fuse = fuseOverlayfs();
      if (fuse) {
        const r = spawnSync(fuse, ['-o', options, join(dir, 'merged')], { stdio: 'ignore' });
        if (r.status === 0) {
          unmount(join(dir, 'merged'));
          return 'fuse-overlayfs';
        }
      }
      return 'copy';
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Where a path of layered folders (bottom first) is on the host, as an
 * overlay would show it: the topmost layer that has it, unless that one
 * deleted it (a whiteout).
 */
export function resolveInLayers(lowers: readonly string[], rel: string): string | undefined {
  for (let i = lowers.length - 1; i >= 0; i--) {
    const path = join(lowers[i], rel);
    try {
      return lstatSync(path).isCharacterDevice() ? undefined : path;
    } catch {
      /* not in this layer */
    }
  }
  return undefined;
}

/**
 * fuse-overlayfs marks every folder it creates opaque, with files of its own
 * (.wh..wh..opq, and a .wh..opq whiteout). Over a folder no layer below has,
 * that says nothing: the marks go, so the layer reads the same to every
 * tool (the kernel's overlayfs would show them as files).
 */
function dropRedundantOpaqueMarks(upper: string, lowers: readonly string[], rel = ''): void {
  for (const e of readdirSync(join(upper, rel), { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (!resolveInLayers(lowers, path)) {
      for (const mark of ['.wh..wh..opq', '.wh..opq']) rmSync(join(upper, path, mark), { force: true });
    }
    dropRedundantOpaqueMarks(upper, lowers, path);
  }
}

function fuseOverlayfs(): string | undefined {
  return FUSE_OVERLAYFS.find((p) => existsSync(p));
}

function safeId(id: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new Error(`not a session id: ${JSON.stringify(id)}`);
  return id;
}

/** overlayfs splits its options at commas and its lower folders at colons. */
function escapeOption(path: string): string {
  if (/[,:\\\s]/.test(path)) throw new Error(`a layer path overlayfs cannot take: ${path}`);
  return path;
}

function chownIfRoot(path: string, uid: number): void {
  if (process.getuid?.() === 0) chownSync(path, uid, uid);
}

function unmount(dir: string): void {
  if (spawnSync('umount', [dir], { stdio: 'ignore' }).status === 0) return;
  // Busy (a process of the sandbox not yet reaped): detached now, gone when the last user lets go.
  spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
}

function mountPointsUnder(root: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const prefix = `${root.replace(/\/$/, '')}/`;
  return text
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p): p is string => !!p && p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/**
 * The copy fallback: a layer's files onto the workspace as an overlay would
 * show them: what its whiteouts (character devices 0/0, overlayfs's record
 * of a deletion) delete goes, and an entry that changes between folder and
 * file replaces the one below.
 */
async function copyLayer(layer: string, dir: string): Promise<void> {
  clearWayFor(layer, dir);
  await execFileAsync('cp', ['-a', '--reflink=auto', '--no-preserve=ownership', `${layer}/.`, dir]);
  await execFileAsync('find', [dir, '-xdev', '-type', 'c', '-delete']);
}

/** Removes from `dir` what `layer` deletes or replaces by another kind, going only where both have a folder. */
function clearWayFor(layer: string, dir: string): void {
  for (const e of readdirSync(layer, { withFileTypes: true })) {
    const below = join(dir, e.name);
    let st: import('node:fs').Stats;
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
async function captureChanges(dir: string, lowers: string[], upper: string): Promise<void> {
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

function lowerStat(lowers: string[], rel: string): { st: import('node:fs').Stats; path: string } | undefined {
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

/** A finished writable layer as a shared read-only one: root's files, writable by everyone (inside a folder only root enters). */
export async function makeSharedLayer(layer: string): Promise<void> {
  if (process.getuid?.() === 0) await execFileAsync('chown', ['-R', '--no-dereference', '0:0', layer]);
  await openLayerToAll(layer);
}

/** Every file and folder of a layer writable by everyone (a layer the server unpacked itself, so already its own). */
export async function openLayerToAll(layer: string): Promise<void> {
  await execFileAsync('chmod', ['-R', 'a+rwX', layer]);
  chmodSync(layer, 0o755);
}
