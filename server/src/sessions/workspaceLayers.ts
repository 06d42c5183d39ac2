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
import { chmodSync, chownSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { copyLayer, captureChanges } from './layerCopy';
import { dropRedundantOpaqueMarks, makeSharedLayer } from './layerTrees';
import { escapeOption, fuseOverlayfs, mountPointsUnder, unmount } from './overlayMounts';

const execFileAsync = promisify(execFile);

// Kept here for the modules that import them from this one (snapshots, environments).
export { makeSharedLayer, openLayerToAll, resolveInLayers } from './layerTrees';

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

export class WorkspaceLayers {
  private modeFound: LayeringMode | undefined;
  private readonly mounted = new Map<string, Mounted>();
  /** Read-only views mounted now or being mounted (a baseline recorded over a snapshot's layers), with their mount. */
  private readonly views = new Map<string, Promise<unknown>>();
  private viewsClosed = false;

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
    if (this.viewsClosed) throw new ViewsClosed();
    const dir = join(this.root, `.view-${process.pid}-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir, { mode: 0o700 });
    const lowerdir = [...lowers].reverse().map(escapeOption).join(':');
    const mounting = execFileAsync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowerdir},nosuid,nodev`, dir]);
    this.views.set(dir, mounting);
    try {
      await mounting;
      // The server began to stop while mount ran: no view outlives it.
      if (this.viewsClosed) {
        unmount(dir);
        throw new ViewsClosed();
      }
      try {
        return await work(dir);
      } finally {
        unmount(dir);
      }
    } finally {
      this.views.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * At the server's stop: no view is mounted from now on, views still open
   * (a baseline still being recorded) are detached, and mounts under way are
   * waited for, so no mount outlives the process. A mount that completes now
   * detaches itself (view() sees viewsClosed first: it awaited the mount
   * before this did). The work over a detached view fails, and nothing waits for it.
   */
  async closeViews(): Promise<void> {
    this.viewsClosed = true;
    const pending = [...this.views.entries()];
    for (const [dir] of pending) unmount(dir);
    await Promise.all(pending.map(([, mounting]) => mounting.catch(() => undefined)));
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

  /** After a restart: unmounts what a previous process left under `workspaceRoot` and in the scratch root, then empties it. */
  cleanupLeftovers(workspaceRoot: string): void {
    for (const point of mountPointsUnder(workspaceRoot)) unmount(point);
    // A view a killed server left mounted: removing through it would fail (read-only) or reach its layers.
    for (const point of mountPointsUnder(this.root)) unmount(point);
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

/** A view asked for once the server is stopping. */
class ViewsClosed extends Error {
  constructor() {
    super('the server is stopping: no new views of layers');
  }
}

function safeId(id: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new Error(`not a session id: ${JSON.stringify(id)}`);
  return id;
}

function chownIfRoot(path: string, uid: number): void {
  if (process.getuid?.() === 0) chownSync(path, uid, uid);
}
