// Snapshots as read-only layers, made once each and kept: a snapshot's
// files in <root>/<id> (a tree, or a delta over a kept layer's tree) and its
// git baseline beside them, however many runs start from it
// (snapshotLayerMaking.ts makes them; snapshotLayerFolders.ts is the folder).
// A layer is started as soon as its snapshot is ingested, one at a time; a
// run joins the work under way and starts once the tree can be mounted. A
// layer that a live workspace or a derived layer stands on is removed only
// when the last one lets go. Each layer's disk use is measured once made
// for the snapshot cap.
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { SnapshotBaseline } from '../runs/hostWorkspaceDiffer';
import {
  LAYER_ID,
  markReady,
  measuredBytes,
  measureLayer,
  readyLayerIn,
  readyTime,
  touchLayer,
  type SnapshotLayer,
  type SnapshotLayerUsage,
} from './snapshotLayerFolders';
import { SnapshotLayerMaker, type BaselineMaker, type LayerViews } from './snapshotLayerMaking';
import type { SnapshotStore } from './snapshotStore';
import { STAGING_DIR } from './stagedTree';

export type { SnapshotLayer, SnapshotLayerUsage } from './snapshotLayerFolders';
export type { BaselineMaker, LayerViews } from './snapshotLayerMaking';

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

export class SnapshotLayers {
  private readonly preparing = new Map<string, Promise<SnapshotLayer>>();
  private readonly mountable = new Map<string, Promise<MountableLayer>>();
  private readonly pins = new Map<string, number>();
  private readonly doomed = new Set<string>();
  private readonly grew = new Set<() => void>();
  private readonly maker: SnapshotLayerMaker;
  /** Layers being made ahead of any run, with their snapshot's last use before. */
  private readonly aheadUse = new Map<string, number>();
  /** Layers made ahead of their first run go one at a time, each after the previous (so the next derives from it). */
  private ahead: Promise<unknown> = Promise.resolve();

  /** `root` must be traversable by sandbox uids (they read the baselines' objects), never listable. */
  constructor(
    private readonly root: string,
    private readonly snapshots: SnapshotStore,
    makeBaseline: BaselineMaker,
    private readonly log: (obj: Record<string, unknown>, msg: string) => void = () => undefined,
    /** Where workspaces are overlays, new snapshots become delta layers over a kept tree. */
    views?: LayerViews,
  ) {
    const keeping = {
      archiveFor: (id: string) => this.archiveFor(id),
      madeAhead: (id: string) => this.aheadUse.has(id),
      doomed: (id: string) => this.doomed.has(id),
      pin: (id: string) => this.pin(id),
      unpin: (id: string) => this.unpin(id),
    };
    this.maker = new SnapshotLayerMaker(root, snapshots, makeBaseline, keeping, log, views);
    mkdirSync(root, { recursive: true, mode: 0o711 });
    chmodSync(root, 0o711);
    snapshots.onDelete((id) => {
      snapshots.dropStagedTree(id);
      this.remove(id);
    });
    // Made as soon as a snapshot arrives, so its first run finds the work done or under way (and joins it).
    snapshots.onIngest((info) => this.prepareSoon(info.snapshot_id));
    // Half-made layers of an earlier process go; finished ones stay for their snapshot (or for the layers over them).
    for (const name of readdirSync(root)) {
      if (!LAYER_ID.test(name) || !existsSync(join(root, name, 'ready.json'))) rmSync(join(root, name), { recursive: true, force: true });
    }
    for (const name of readdirSync(root)) if (!snapshots.get(name)) this.remove(name);
    for (const name of readdirSync(root)) if (!existsSync(join(root, name, 'bytes.json'))) void this.measure(name, undefined);
    // A full upload is unpacked as it streams in, beside the layers: a never-seen workspace's layer adopts that tree with a rename.
    snapshots.stageUploadTrees(join(root, STAGING_DIR));
  }

  /** The snapshot's layer, unpacked and baselined on first use (concurrent callers share the work). */
  prepare(id: string): Promise<SnapshotLayer> {
    const ready = this.readyLayer(id);
    if (ready) {
      touchLayer(join(this.root, id));
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
      if (!LAYER_ID.test(id) || this.doomed.has(id)) continue;
      const at = readyTime(join(this.root, id));
      if (!at) continue;
      const inUse = this.pins.has(id) || this.preparing.has(id) || this.dependents(id) > 0;
      out.push({ id, bytes: measuredBytes(join(this.root, id)), lastUsedMs: at, inUse });
    }
    return out;
  }

  /** Removes a ready layer nothing stands on (its snapshot stays: the next run makes it again); whether it did. */
  evict(id: string): boolean {
    if (!LAYER_ID.test(id) || !this.readyLayer(id)) return false;
    if (this.pins.has(id) || this.preparing.has(id) || this.dependents(id) > 0) return false;
    this.remove(id);
    return !existsSync(join(this.root, id));
  }

  private remove(id: string): void {
    if (!LAYER_ID.test(id)) return;
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
      if (name !== id && LAYER_ID.test(name) && this.readyLayer(name)?.lowers.includes(tree)) n++;
    }
    return n;
  }

  private readyLayer(id: string): SnapshotLayer | undefined {
    return readyLayerIn(this.root, id);
  }

  private async build(id: string, treeReady: (lowers: string[]) => void): Promise<SnapshotLayer> {
    if (!LAYER_ID.test(id)) throw new Error(`not a snapshot id: ${id}`);
    const dir = join(this.root, id);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o711 });
    const base = this.maker.closestLayer(id, this.maker.manifestOf(id));
    try {
      const t0 = performance.now();
      const derived = base && (await this.maker.derive(id, base));
      if (derived) this.snapshots.dropStagedTree(id);
      const layer = derived ?? (await this.maker.unpackWhole(id, treeReady));
      treeReady(layer.lowers);
      markReady(this.root, layer);
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
    try {
      if (!(await measureLayer(join(this.root, id), sharesWith))) return;
    } catch (e) {
      this.log({ snapshot_id: id, err: (e as Error).message }, 'cannot measure the snapshot layer');
      return;
    }
    for (const listener of this.grew) listener();
  }
}
