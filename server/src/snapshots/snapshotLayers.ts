// A snapshot as a read-only layer: its archive unpacked once into a tree,
// and its git baseline made once and kept beside it, however many runs
// start from it. <root>/<id>/{tree, baseline.git, ready.json}. A layer that
// a live workspace stands on is removed only when the last one lets go.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLayerToAll } from '../sessions/workspaceLayers';
import type { SnapshotBaseline } from '../runs/hostWorkspaceDiffer';
import type { SnapshotStore } from './snapshotStore';

export interface SnapshotLayer {
  id: string;
  /** The snapshot's files: root's, writable by everyone, in a folder only root enters. */
  tree: string;
  baseline: SnapshotBaseline;
}

/** Who makes the baseline of a tree (the host differ). */
export type BaselineMaker = (gitDir: string, tree: string) => Promise<SnapshotBaseline>;

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
    mkdirSync(tree, { mode: 0o700 });
    try {
      const t0 = performance.now();
      await this.snapshots.extractTo(id, tree);
      // Unpacked by the server: root's files already, only their modes change.
      await openLayerToAll(tree);
      // Only root enters the tree: sandboxes see it through their overlay alone.
      chmodSync(tree, 0o700);
      const t1 = performance.now();
      const baseline = await this.makeBaseline(join(dir, 'baseline.git'), tree);
      writeFileSync(join(dir, 'ready.json'), JSON.stringify(baseline));
      const ms = (t: number) => Math.round(t);
      this.log({ snapshot_id: id, unpack_ms: ms(t1 - t0), baseline_ms: ms(performance.now() - t1) }, 'snapshot layer ready');
      return { id, tree, baseline };
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }
}
