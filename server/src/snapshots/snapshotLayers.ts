// A snapshot as a read-only layer: its archive unpacked once into a tree,
// and its git baseline made once and kept beside it, however many runs
// start from it: <root>/<id>/{tree, baseline.git, ready.json}. A snapshot
// much like a kept one (the same workspace after a few edits) is derived
// from it (layerDelta.ts): where workspaces are overlays, as a delta layer
// over that one's tree (<id>/delta: what changed, whiteouts for what went);
// otherwise as a tree of hard links with the delta applied. Its baseline
// stages only what changed. A layer that a live workspace or a derived
// layer stands on is removed only when the last one lets go. Each layer's
// disk use is measured once made (<id>/bytes.json) for the snapshot cap.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openLayerToAll } from '../sessions/workspaceLayers';
import type { PathChanges, SnapshotBaseline } from '../runs/hostWorkspaceDiffer';
import type { SnapshotManifestEntry } from './canonicalArchive';
import { deriveTree, manifestDelta, writeDeltaLayer, type ManifestDelta } from './layerDelta';
import type { SnapshotStore } from './snapshotStore';

export interface SnapshotLayer {
  id: string;
  /** The snapshot's files as read-only layers, bottom first: a tree, and a delta over it when derived. Root's files, writable by everyone, in folders only root enters. */
  lowers: string[];
  baseline: SnapshotBaseline;
}

/**
 * A layer whose files can be mounted, its baseline perhaps still in the
 * making: a run starts on the tree while git records it (it reads the tree
 * only), and waits for it only to diff.
 */
export interface MountableLayer {
  id: string;
  lowers: string[];
  baseline: Promise<SnapshotBaseline>;
  /** Whether the baseline was still being made when the layer was handed out. */
  baselinePending: boolean;
}

/** How a derived layer's baseline sees the snapshot whole: a read-only overlay of its layers, mounted for the time of one call. */
export interface LayerViews {
  /** Whether the server can mount them (kernel overlayfs). */
  available(): Promise<boolean>;
  open<T>(lowers: string[], work: (dir: string) => Promise<T>): Promise<T>;
}

/** Who makes the baseline of a tree (the host differ): whole, or from the baseline of the tree it was derived from. */
export interface BaselineMaker {
  record(gitDir: string, tree: string): Promise<SnapshotBaseline>;
  derive(gitDir: string, tree: string, base: SnapshotBaseline, changes: PathChanges): Promise<SnapshotBaseline>;
}

/** The most recent layers looked at for one to derive a new snapshot's from. */
const DERIVE_CANDIDATES = 4;
/** A layer is derived only from one holding at least this share of its entries alike. */
const DERIVE_MIN_SHARED = 0.5;
/** A candidate this close ends the search. */
const NEAR_ENOUGH = 100;
const CACHED_MANIFESTS = 4;

const ID_PATTERN = /^[a-f0-9]{24}$/;
const execFileAsync = promisify(execFile);

/** A kept layer's disk use and last use, for the snapshot cap. */
export interface SnapshotLayerUsage {
  id: string;
  /** Its own bytes: not those of the tree it stands on or shares hard links with (0 until measured). */
  bytes: number;
  lastUsedMs: number;
  /** A live workspace, a layer over it or a derivation stands on it. */
  inUse: boolean;
}

export class SnapshotLayers {
  private readonly preparing = new Map<string, Promise<SnapshotLayer>>();
  private readonly mountable = new Map<string, Promise<MountableLayer>>();
  private readonly pins = new Map<string, number>();
  private readonly doomed = new Set<string>();
  /** The manifests of the layers most recently made or looked at, parsed (a derivation compares a few of them). */
  private readonly manifests = new Map<string, ReadonlyMap<string, SnapshotManifestEntry>>();
  private readonly grew = new Set<() => void>();
  /** Layers being made ahead of any run, with their snapshot's last use before. */
  private readonly aheadUse = new Map<string, number>();
  /** Layers made ahead of their first run go one at a time, each after the previous (so the next derives from it). */
  private ahead: Promise<unknown> = Promise.resolve();

  /** `root` must be traversable by sandbox uids (they read the baselines' objects), never listable. */
  constructor(
    private readonly root: string,
    private readonly snapshots: SnapshotStore,
    private readonly makeBaseline: BaselineMaker,
    private readonly log: (obj: Record<string, unknown>, msg: string) => void = () => undefined,
    /** Where workspaces are overlays, new snapshots become delta layers over a kept tree. */
    private readonly views?: LayerViews,
  ) {
    mkdirSync(root, { recursive: true, mode: 0o711 });
    chmodSync(root, 0o711);
    snapshots.onDelete((id) => {
      snapshots.dropStagedTree(id);
      this.remove(id);
    });
    // A full upload is unpacked as it streams in: a never-seen workspace's layer adopts that tree.
    snapshots.stageUploadTrees();
    // Made as soon as a snapshot arrives, so its first run finds the work done or under way (and joins it).
    snapshots.onIngest((info) => this.prepareSoon(info.snapshot_id));
    // Half-made layers of an earlier process go; finished ones stay for their snapshot (or for the layers over them).
    for (const name of readdirSync(root)) {
      if (!ID_PATTERN.test(name) || !existsSync(join(root, name, 'ready.json'))) rmSync(join(root, name), { recursive: true, force: true });
    }
    for (const name of readdirSync(root)) if (!snapshots.get(name)) this.remove(name);
    for (const name of readdirSync(root)) if (!existsSync(join(root, name, 'bytes.json'))) void this.measure(name, undefined);
  }

  /** The snapshot's layer, unpacked and baselined on first use (concurrent callers share the work). */
  prepare(id: string): Promise<SnapshotLayer> {
    const ready = this.readyLayer(id);
    if (ready) {
      touch(join(this.root, id, 'ready.json'));
      return Promise.resolve(ready);
    }
    let p = this.preparing.get(id);
    if (!p) {
      let treeReady!: (lowers: string[]) => void;
      let noTree!: (e: unknown) => void;
      const tree = new Promise<string[]>((resolve, reject) => {
        treeReady = resolve;
        noTree = reject;
      });
      const full = this.build(id, treeReady);
      full.catch(noTree);
      const baseline = full.then((l) => l.baseline);
      const early = tree.then((lowers): MountableLayer => ({ id, lowers, baseline, baselinePending: true }));
      // Handled here too: nobody may be waiting when a build fails.
      baseline.catch(() => undefined);
      early.catch(() => undefined);
      p = full.finally(() => {
        this.preparing.delete(id);
        this.mountable.delete(id);
        // Its snapshot went while it was being made.
        if (this.doomed.has(id) && !this.pins.has(id) && this.dependents(id) === 0) {
          this.doomed.delete(id);
          this.remove(id);
        }
      });
      this.preparing.set(id, p);
      this.mountable.set(id, early);
    }
    return p;
  }

  /** The snapshot's layer as soon as its files can be mounted (a whole unpack's baseline follows). */
  prepareMountable(id: string): Promise<MountableLayer> {
    const full = this.prepare(id);
    const early = this.mountable.get(id);
    if (early) {
      full.catch(() => undefined); // the early one carries the failure
      return early;
    }
    return full.then((l) => ({ ...l, baseline: Promise.resolve(l.baseline), baselinePending: false }));
  }

  /**
   * Starts making the layer of a snapshot just ingested, after the upload's
   * answer has gone: a run created meanwhile shares the same work.
   */
  prepareSoon(id: string): void {
    this.ahead = this.ahead.then(
      () =>
        new Promise<void>((done) =>
          setImmediate(() => {
            if (!this.snapshots.get(id)) return done();
            // Reading the archive marks it as used; made ahead, that is no use: the janitor's order stays the uploads'.
            const usedAt = this.snapshots.list().find((x) => x.id === id)?.lastUsedMs;
            const idle = !this.readyLayer(id) && !this.preparing.has(id);
            if (idle && usedAt !== undefined) this.aheadUse.set(id, usedAt);
            this.prepare(id).then(
              () => {
                this.aheadUse.delete(id);
                done();
              },
              (e: Error) => {
                this.aheadUse.delete(id);
                this.log({ snapshot_id: id, err: e.message }, 'cannot make the snapshot layer ahead of its first run');
                done();
              },
            );
          }),
        ),
    );
  }

  /** The archive's path; when the layer is made ahead of any run, its last use left as it was. */
  private archiveFor(id: string): string {
    const path = this.snapshots.archivePath(id);
    this.restoreUse(id, path);
    return path;
  }

  /** Undoes the store's "used now" mark of a layer made ahead (called in the same tick as the mark: no sweep sees it). */
  private restoreUse(id: string, archive: string): void {
    const usedAt = this.aheadUse.get(id);
    if (usedAt === undefined) return;
    try {
      utimesSync(archive, new Date(usedAt), new Date(usedAt));
    } catch {
      /* gone meanwhile */
    }
  }

  /** A workspace stands on the layer: it stays until unpinned. */
  pin(id: string): void {
    this.pins.set(id, (this.pins.get(id) ?? 0) + 1);
  }

  unpin(id: string): void {
    const n = (this.pins.get(id) ?? 0) - 1;
    if (n > 0) return void this.pins.set(id, n);
    this.pins.delete(id);
    if (this.doomed.delete(id)) this.remove(id);
  }

  /** Called when a layer has been made and measured. */
  onGrow(listener: () => void): void {
    this.grew.add(listener);
  }

  /** Every ready layer's disk use. */
  usage(): SnapshotLayerUsage[] {
    const out: SnapshotLayerUsage[] = [];
    for (const id of readdirSync(this.root)) {
      if (!ID_PATTERN.test(id) || this.doomed.has(id)) continue;
      const at = readyTime(join(this.root, id));
      if (!at) continue;
      const inUse = this.pins.has(id) || this.preparing.has(id) || this.dependents(id) > 0;
      out.push({ id, bytes: measuredBytes(join(this.root, id)), lastUsedMs: at, inUse });
    }
    return out;
  }

  /** Removes a ready layer nothing stands on (its snapshot stays: the next run makes it again); whether it did. */
  evict(id: string): boolean {
    if (!ID_PATTERN.test(id) || !this.readyLayer(id)) return false;
    if (this.pins.has(id) || this.preparing.has(id) || this.dependents(id) > 0) return false;
    this.remove(id);
    return !existsSync(join(this.root, id));
  }

  private remove(id: string): void {
    if (!ID_PATTERN.test(id)) return;
    // Not under a build either: git and tar are writing there.
    if (this.pins.has(id) || this.preparing.has(id) || this.dependents(id) > 0) return void this.doomed.add(id);
    const base = this.readyLayer(id)?.lowers[0];
    rmSync(join(this.root, id), { recursive: true, force: true });
    // The tree it stood on may have been waiting for it.
    const baseId = base && base !== join(this.root, id, 'tree') ? base.split('/').slice(-2)[0] : undefined;
    if (baseId && this.doomed.has(baseId) && !this.pins.has(baseId) && this.dependents(baseId) === 0) {
      this.doomed.delete(baseId);
      this.remove(baseId);
    }
  }

  /** How many other kept layers stand on this one's tree. */
  private dependents(id: string): number {
    const tree = join(this.root, id, 'tree');
    let n = 0;
    for (const name of readdirSync(this.root)) {
      if (name !== id && ID_PATTERN.test(name) && this.readyLayer(name)?.lowers.includes(tree)) n++;
    }
    return n;
  }

  private manifestOf(id: string): ReadonlyMap<string, SnapshotManifestEntry> {
    const cached = this.manifests.get(id);
    if (cached) {
      this.manifests.delete(id);
      this.manifests.set(id, cached);
      return cached;
    }
    const manifest = this.snapshots.manifest(id);
    this.manifests.set(id, manifest);
    for (const old of this.manifests.keys()) {
      if (this.manifests.size <= CACHED_MANIFESTS) break;
      this.manifests.delete(old);
    }
    return manifest;
  }

  private readyLayer(id: string): SnapshotLayer | undefined {
    if (!ID_PATTERN.test(id)) return undefined;
    try {
      const ready = JSON.parse(readFileSync(join(this.root, id, 'ready.json'), 'utf8')) as Omit<SnapshotLayer, 'id'>;
      return { id, lowers: ready.lowers, baseline: ready.baseline };
    } catch {
      return undefined;
    }
  }

  private async build(id: string, treeReady: (lowers: string[]) => void): Promise<SnapshotLayer> {
    if (!ID_PATTERN.test(id)) throw new Error(`not a snapshot id: ${id}`);
    const dir = join(this.root, id);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o711 });
    const manifest = this.manifestOf(id);
    const base = this.closestLayer(id, manifest);
    try {
      const t0 = performance.now();
      const derived = base && (await this.derive(id, base));
      if (derived) this.snapshots.dropStagedTree(id);
      const layer = derived ?? (await this.unpackWhole(id, treeReady));
      treeReady(layer.lowers);
      writeFileSync(join(dir, 'ready.json'), JSON.stringify({ lowers: layer.lowers, baseline: layer.baseline }));
      // Off the run's path: a hard-linked tree counts only what it does not share with its base.
      void this.measure(id, derived && derived.lowers.length === 1 ? base.layer.lowers[0] : undefined);
      this.log(
        {
          snapshot_id: id,
          ms: Math.round(performance.now() - t0),
          ...(derived && base
            ? {
                derived_from: base.layer.id,
                as: derived.lowers.length > 1 ? 'delta layer' : 'hard links',
                changed: base.delta.changed.length,
                removed: base.delta.removed.length,
              }
            : {}),
        },
        'snapshot layer ready',
      );
      return layer;
    } catch (e) {
      // A workspace may stand on the tree already (its baseline failed): it goes when that one lets go.
      if (this.pins.has(id)) this.doomed.add(id);
      else rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  private async measure(id: string, sharesWith: string | undefined): Promise<void> {
    const dir = join(this.root, id);
    try {
      const args = sharesWith && existsSync(sharesWith) ? ['-sb', sharesWith, dir] : ['-sb', dir];
      const { stdout } = await execFileAsync('du', args, { maxBuffer: 1024 * 1024 });
      const lines = stdout.trim().split('\n');
      const bytes = Number(lines[lines.length - 1]!.split('\t')[0]) || 0;
      if (!existsSync(join(dir, 'ready.json'))) return;
      writeFileSync(join(dir, 'bytes.json'), JSON.stringify({ bytes }));
    } catch (e) {
      this.log({ snapshot_id: id, err: (e as Error).message }, 'cannot measure the snapshot layer');
      return;
    }
    for (const listener of this.grew) listener();
  }

  private async unpackWhole(id: string, treeReady: (lowers: string[]) => void): Promise<SnapshotLayer> {
    const dir = join(this.root, id);
    const tree = join(dir, 'tree');
    const t0 = performance.now();
    // Unpacked while its upload streamed in (stagedTree.ts), and made a shared layer's already: a rename.
    const adopted = await this.snapshots.takeStagedTree(id, tree);
    if (!adopted) await this.unpackArchive(id, tree);
    // Only root enters the tree: sandboxes see it through their overlay alone.
    chmodSync(tree, 0o700);
    this.log(
      { snapshot_id: id, ms: Math.round(performance.now() - t0), tree: adopted ? 'unpacked during the upload' : 'unpacked now' },
      'snapshot tree ready (its baseline follows)',
    );
    treeReady([tree]);
    const baseline = await this.makeBaseline.record(join(dir, 'baseline.git'), tree);
    return { id, lowers: [tree], baseline };
  }

  private async unpackArchive(id: string, tree: string): Promise<void> {
    mkdirSync(tree, { mode: 0o700 });
    const extracting = this.snapshots.extractTo(id, tree);
    if (this.aheadUse.has(id)) {
      try {
        this.archiveFor(id);
      } catch {
        /* gone: extracting says so */
      }
    }
    await extracting;
    // Unpacked by the server: root's files already, only their modes change.
    await openLayerToAll(tree);
  }

  /** The layer and baseline from a like layer's; undefined (and nothing left behind) when that fails, for a whole unpack instead. */
  private async derive(id: string, base: { layer: SnapshotLayer; delta: ManifestDelta }): Promise<SnapshotLayer | undefined> {
    const dir = join(this.root, id);
    const gitDir = join(dir, 'baseline.git');
    this.pin(base.layer.id);
    try {
      if (await this.views?.available()) {
        const delta = join(dir, 'delta');
        await writeDeltaLayer(delta, this.archiveFor(id), base.delta);
        const lowers = [...base.layer.lowers, delta];
        const baseline = await this.views!.open(lowers, (view) => this.makeBaseline.derive(gitDir, view, base.layer.baseline, base.delta));
        return { id, lowers, baseline };
      }
      const tree = join(dir, 'tree');
      await deriveTree(base.layer.lowers[0], tree, this.archiveFor(id), base.delta);
      chmodSync(tree, 0o700);
      return { id, lowers: [tree], baseline: await this.makeBaseline.derive(gitDir, tree, base.layer.baseline, base.delta) };
    } catch (e) {
      this.log({ snapshot_id: id, base: base.layer.id, err: (e as Error).message }, 'cannot derive the snapshot layer; unpacking it whole');
      for (const name of ['tree', 'delta', 'baseline.git']) rmSync(join(dir, name), { recursive: true, force: true });
      return undefined;
    } finally {
      this.unpin(base.layer.id);
    }
  }

  /** Of the most recent ready layers, the one most like this snapshot, if enough alike to derive from. */
  private closestLayer(
    id: string,
    manifest: ReadonlyMap<string, SnapshotManifestEntry>,
  ): { layer: SnapshotLayer; delta: ManifestDelta } | undefined {
    const recent = readdirSync(this.root)
      .filter((name) => name !== id && ID_PATTERN.test(name) && !this.doomed.has(name))
      .map((name) => ({ name, at: readyTime(join(this.root, name)) }))
      .filter((c) => c.at > 0)
      .sort((a, b) => b.at - a.at)
      .slice(0, DERIVE_CANDIDATES);
    let best: { layer: SnapshotLayer; delta: ManifestDelta } | undefined;
    for (const c of recent) {
      const layer = this.readyLayer(c.name);
      // Only a whole tree is a base: a delta over a delta would make chains that only grow.
      if (!layer || layer.lowers.length !== 1) continue;
      let before: ReadonlyMap<string, SnapshotManifestEntry>;
      try {
        before = this.manifestOf(c.name);
      } catch {
        continue; // its snapshot is gone
      }
      const delta = manifestDelta(before, manifest);
      if (delta.same < manifest.size * DERIVE_MIN_SHARED) continue;
      if (!best || delta.same > best.delta.same) best = { layer, delta };
      // The newest layer that differs by a few files is as good as any: no need to parse the others.
      if (delta.changed.length + delta.removed.length <= NEAR_ENOUGH) break;
    }
    return best;
  }
}

function touch(path: string): void {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch {
    /* removed meanwhile */
  }
}

function measuredBytes(dir: string): number {
  try {
    return (JSON.parse(readFileSync(join(dir, 'bytes.json'), 'utf8')) as { bytes: number }).bytes;
  } catch {
    return 0;
  }
}

function readyTime(dir: string): number {
  try {
    return statSync(join(dir, 'ready.json')).mtimeMs;
  } catch {
    return 0;
  }
}
