// Making one snapshot layer's files and baseline, in its folder <root>/<id>:
// whole (the tree unpacked during the upload, adopted by a rename, else the
// canonical archive unpacked now), or derived from a kept layer much like it
// (layerDelta.ts): where workspaces are overlays, a delta layer over that
// one's tree (<id>/delta: what changed, whiteouts for what went); otherwise
// a tree of hard links with the delta applied. A derived layer's baseline
// stages only what changed.
import { chmodSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openLayerToAll } from '../sessions/layerTrees';
import type { PathChanges, SnapshotBaseline } from '../runs/hostWorkspaceDiffer';
import type { SnapshotManifestEntry } from './canonicalArchive';
import { deriveTree, manifestDelta, writeDeltaLayer, type ManifestDelta } from './layerDelta';
import { LAYER_ID, readyLayerIn, readyTime, type SnapshotLayer } from './snapshotLayerFolders';
import type { SnapshotStore } from './snapshotStore';

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

/** What making a layer asks of whoever keeps them (SnapshotLayers). */
export interface LayerKeeping {
  /** The snapshot's archive, to read for its layer (when the layer is made ahead of any run, its last use left as it was). */
  archiveFor(id: string): string;
  /** Whether the layer is made ahead of any run. */
  madeAhead(id: string): boolean;
  /** Whether the layer is going (no base to derive from). */
  doomed(id: string): boolean;
  /** A layer stands on it meanwhile. */
  pin(id: string): void;
  unpin(id: string): void;
}

/** A kept layer a new one can be derived from, and how they differ. */
export interface LayerBase {
  layer: SnapshotLayer;
  delta: ManifestDelta;
}

/** The most recent layers looked at for one to derive a new snapshot's from. */
const DERIVE_CANDIDATES = 4;
/** A layer is derived only from one holding at least this share of its entries alike. */
const DERIVE_MIN_SHARED = 0.5;
/** A candidate this close ends the search. */
const NEAR_ENOUGH = 100;
const CACHED_MANIFESTS = 4;

export class SnapshotLayerMaker {
  /** The manifests of the layers most recently made or looked at, parsed (a derivation compares a few of them). */
  private readonly manifests = new Map<string, ReadonlyMap<string, SnapshotManifestEntry>>();

  constructor(
    private readonly root: string,
    private readonly snapshots: SnapshotStore,
    private readonly makeBaseline: BaselineMaker,
    private readonly keeping: LayerKeeping,
    private readonly log: (obj: Record<string, unknown>, msg: string) => void,
    /** Where workspaces are overlays, new snapshots become delta layers over a kept tree. */
    private readonly views?: LayerViews,
  ) {}

  manifestOf(id: string): ReadonlyMap<string, SnapshotManifestEntry> {
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

  /** The whole tree, then its baseline; `treeReady` as soon as the tree can be mounted (git records the baseline meanwhile). */
  async unpackWhole(id: string, treeReady: (lowers: string[]) => void): Promise<SnapshotLayer> {
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
    if (this.keeping.madeAhead(id)) {
      try {
        this.keeping.archiveFor(id);
      } catch {
        /* gone: extracting says so */
      }
    }
    await extracting;
    // Unpacked by the server: root's files already, only their modes change.
    await openLayerToAll(tree);
  }

  /** The layer and baseline from a like layer's; undefined (and nothing left behind) when that fails, for a whole unpack instead. */
  async derive(id: string, base: LayerBase): Promise<SnapshotLayer | undefined> {
    const dir = join(this.root, id);
    const gitDir = join(dir, 'baseline.git');
    this.keeping.pin(base.layer.id);
    try {
      if (await this.views?.available()) {
        const delta = join(dir, 'delta');
        await writeDeltaLayer(delta, this.keeping.archiveFor(id), base.delta);
        const lowers = [...base.layer.lowers, delta];
        const baseline = await this.views!.open(lowers, (view) => this.makeBaseline.derive(gitDir, view, base.layer.baseline, base.delta));
        return { id, lowers, baseline };
      }
      const tree = join(dir, 'tree');
      await deriveTree(base.layer.lowers[0], tree, this.keeping.archiveFor(id), base.delta);
      chmodSync(tree, 0o700);
      return { id, lowers: [tree], baseline: await this.makeBaseline.derive(gitDir, tree, base.layer.baseline, base.delta) };
    } catch (e) {
      this.log({ snapshot_id: id, base: base.layer.id, err: (e as Error).message }, 'cannot derive the snapshot layer; unpacking it whole');
      for (const name of ['tree', 'delta', 'baseline.git']) rmSync(join(dir, name), { recursive: true, force: true });
      return undefined;
    } finally {
      this.keeping.unpin(base.layer.id);
    }
  }

  /** Of the most recent ready layers, the one most like this snapshot, if enough alike to derive from. */
  closestLayer(id: string, manifest: ReadonlyMap<string, SnapshotManifestEntry>): LayerBase | undefined {
    const recent = readdirSync(this.root)
      .filter((name) => name !== id && LAYER_ID.test(name) && !this.keeping.doomed(name))
      .map((name) => ({ name, at: readyTime(join(this.root, name)) }))
      .filter((c) => c.at > 0)
      .sort((a, b) => b.at - a.at)
      .slice(0, DERIVE_CANDIDATES);
    let best: LayerBase | undefined;
    for (const c of recent) {
      const layer = readyLayerIn(this.root, c.name);
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
