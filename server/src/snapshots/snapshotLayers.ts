// A snapshot as a read-only layer: its archive unpacked once into a tree,
// and its git baseline made once and kept beside it, however many runs
// start from it. A snapshot much like an earlier one (the same workspace
// after a few edits) is derived from that one's layer: hard links and the
// delta (layerDelta.ts), its baseline staging only what changed. <root>/<id>/{tree, baseline.git, ready.json}. A layer that
// a live workspace stands on is removed only when the last one lets go.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLayerToAll } from '../sessions/workspaceLayers';
import type { SnapshotBaseline } from '../runs/hostWorkspaceDiffer';
import type { SnapshotManifestEntry } from './canonicalArchive';
import { deriveTree, manifestDelta, type ManifestDelta } from './layerDelta';
import type { SnapshotStore } from './snapshotStore';

export interface SnapshotLayer {
  id: string;
  /** The snapshot's files: root's, writable by everyone, in a folder only root enters. */
  tree: string;
  baseline: SnapshotBaseline;
}

/** Who makes the baseline of a tree (the host differ): whole, or from the baseline of the tree it was derived from. */
export interface BaselineMaker {
  record(gitDir: string, tree: string): Promise<SnapshotBaseline>;
  derive(gitDir: string, tree: string, base: SnapshotBaseline): Promise<SnapshotBaseline>;
}

/** The most recent layers looked at for one to derive a new snapshot's from. */
const DERIVE_CANDIDATES = 4;
/** A layer is derived only from one holding at least this share of its entries alike. */
const DERIVE_MIN_SHARED = 0.5;

const ID_PATTERN = /^[a-f0-9]{24}$/;

export class SnapshotLayers {
  private readonly preparing = new Map<string, Promise<SnapshotLayer>>();
  private readonly pins = new Map<string, number>();
  private readonly doomed = new Set<string>();

  /** `root` must be traversable by sandbox uids (they read the baselines' objects), never listable. */
  constructor(
    private readonly root: string,
    private readonly snapshots: SnapshotStore,
    private readonly makeBaseline: BaselineMaker,
    private readonly log: (obj: Record<string, unknown>, msg: string) => void = () => undefined,
  ) {
    mkdirSync(root, { recursive: true, mode: 0o711 });
    chmodSync(root, 0o711);
    snapshots.onDelete((id) => this.remove(id));
    // Half-made layers of an earlier process go; finished ones stay for their snapshot.
    for (const name of readdirSync(root)) {
      if (!ID_PATTERN.test(name) || !existsSync(join(root, name, 'ready.json')) || !snapshots.get(name)) {
        rmSync(join(root, name), { recursive: true, force: true });
      }
    }
  }

  /** The snapshot's layer, unpacked and baselined on first use (concurrent callers share the work). */
  prepare(id: string): Promise<SnapshotLayer> {
    const ready = this.readyLayer(id);
    if (ready) return Promise.resolve(ready);
    let p = this.preparing.get(id);
    if (!p) {
      p = this.build(id).finally(() => this.preparing.delete(id));
      this.preparing.set(id, p);
    }
    return p;
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

  private remove(id: string): void {
    if (!ID_PATTERN.test(id)) return;
    if (this.pins.has(id)) return void this.doomed.add(id);
    rmSync(join(this.root, id), { recursive: true, force: true });
  }

  private readyLayer(id: string): SnapshotLayer | undefined {
    if (!ID_PATTERN.test(id)) return undefined;
    try {
      const baseline = JSON.parse(readFileSync(join(this.root, id, 'ready.json'), 'utf8')) as SnapshotBaseline;
      return { id, tree: join(this.root, id, 'tree'), baseline };
    } catch {
      return undefined;
    }
  }

  private async build(id: string): Promise<SnapshotLayer> {
    if (!ID_PATTERN.test(id)) throw new Error(`not a snapshot id: ${id}`);
    const dir = join(this.root, id);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o711 });
    const tree = join(dir, 'tree');
    const manifest = this.snapshots.manifest(id);
    const base = this.closestLayer(id, manifest);
    try {
      const t0 = performance.now();
      let baseline: SnapshotBaseline;
      const derived = base && (await this.derive(id, tree, base));
      if (derived) baseline = derived;
      else {
        mkdirSync(tree, { mode: 0o700 });
        await this.snapshots.extractTo(id, tree);
        // Unpacked by the server: root's files already, only their modes change.
        await openLayerToAll(tree);
        // Only root enters the tree: sandboxes see it through their overlay alone.
        chmodSync(tree, 0o700);
        baseline = await this.makeBaseline.record(join(dir, 'baseline.git'), tree);
      }
      writeFileSync(join(dir, 'ready.json'), JSON.stringify(baseline));
      this.log(
        {
          snapshot_id: id,
          ms: Math.round(performance.now() - t0),
          ...(derived && base
            ? { derived_from: base.layer.id, changed: base.delta.changed.length, removed: base.delta.removed.length }
            : {}),
        },
        'snapshot layer ready',
      );
      return { id, tree, baseline };
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** The tree and baseline from a like layer's; undefined (and nothing left behind) when that fails, for a whole unpack instead. */
  private async derive(
    id: string,
    tree: string,
    base: { layer: SnapshotLayer; delta: ManifestDelta },
  ): Promise<SnapshotBaseline | undefined> {
    this.pin(base.layer.id);
    try {
      await deriveTree(base.layer.tree, tree, this.snapshots.archivePath(id), base.delta);
      chmodSync(tree, 0o700);
      return await this.makeBaseline.derive(join(this.root, id, 'baseline.git'), tree, base.layer.baseline);
    } catch (e) {
      this.log({ snapshot_id: id, base: base.layer.id, err: (e as Error).message }, 'cannot derive the snapshot layer; unpacking it whole');
      rmSync(tree, { recursive: true, force: true });
      rmSync(join(this.root, id, 'baseline.git'), { recursive: true, force: true });
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
      if (!layer) continue;
      let before: ReadonlyMap<string, SnapshotManifestEntry>;
      try {
        before = this.snapshots.manifest(c.name);
      } catch {
        continue; // its snapshot is gone
      }
      const delta = manifestDelta(before, manifest);
      if (delta.same < manifest.size * DERIVE_MIN_SHARED) continue;
      if (!best || delta.same > best.delta.same) best = { layer, delta };
    }
    return best;
  }
}

function readyTime(dir: string): number {
  try {
    return statSync(join(dir, 'ready.json')).mtimeMs;
  } catch {
    return 0;
  }
}
