// A run's workspace, in layers: the snapshot's tree (unpacked and baselined
// once per snapshot), then the environment's layer (built once per key),
// then the run's own writable layer, which the session assembles. Keeps
// both read-only layers from removal while the run's sandbox stands on them,
// and tells the diff what the environment put there; counts both kinds of
// layer for the snapshot cap (the janitor removes them). A run starts as
// soon as the snapshot's tree can be mounted: on a snapshot unpacked just
// now, its baseline is adopted when git has recorded it, and the run's diff
// waits for that.
import { closeSync, fstatSync, openSync, readSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import type { Run } from '@astraforge/contract/runApi';
import type { EnvironmentCache } from '../environments/environmentCache';
import { environmentFootprint, Environments, type EnvironmentFootprint, type RunEnvironment } from '../environments/environmentSetup';
import type { SessionExtras } from '../sessions/sessionManager';
import type { CountedLayer, CountedLayers } from '../snapshots/snapshotJanitor';
import type { SnapshotLayers } from '../snapshots/snapshotLayers';
import type { SnapshotStore } from '../snapshots/snapshotStore';
import type { DiffFile } from './gitDiff';
import type { HostWorkspaceDiffer } from './hostWorkspaceDiffer';
import type { RunEventLog } from './runEventLog';
import type { DiffLimits, WorkspaceDiffer, WorkspaceDiffResult } from './workspaceDiffer';

/** What a run's session is created with. */
export interface ProvisionedWorkspace {
  extras: Pick<SessionExtras, 'layers' | 'seed'>;
  environment?: RunEnvironment;
}

interface Held {
  snapshotId: string;
  envKey?: string;
  envLayer?: string;
  footprint?: EnvironmentFootprint;
  workspaceDir?: string;
}

export class RunWorkspaces implements CountedLayers {
  private readonly held = new Map<string, Held>();
  /** Runs whose baseline is still being adopted (the snapshot's was not recorded yet when they started). */
  private readonly adopting = new Map<string, Promise<void>>();

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly layers: SnapshotLayers,
    private readonly environments: Environments,
    private readonly cache: EnvironmentCache,
    private readonly differ: HostWorkspaceDiffer,
  ) {}

  /** The snapshot's layer and the environment, ready; the session's layers and its seed (the run's baseline). */
  async provision(run: Run, events: RunEventLog, signal: AbortSignal): Promise<ProvisionedWorkspace> {
    const snapshot = await this.layers.prepareMountable(run.snapshot_id);
    const held: Held = { snapshotId: run.snapshot_id };
    this.layers.pin(run.snapshot_id);
    this.held.set(run.id, held);
    const environment = await this.environments.prepare(snapshot, this.snapshots.manifest(run.snapshot_id), events, signal);
    const lowers = [...snapshot.lowers];
    if (environment?.layer) {
      held.envKey = environment.key;
      held.envLayer = environment.layer.layer;
      this.cache.pin(environment.key);
      held.footprint = environmentFootprint(environment.layer.layer, snapshot.lowers);
      lowers.push(environment.layer.layer);
    }
    const seed = async (dir: string) => {
      held.workspaceDir = dir;
      const adopted = snapshot.baseline
        .then((baseline) => this.differ.adoptBaseline(run.id, dir, baseline, held.footprint?.added ?? []))
        .catch((e: Error) => {
          throw new Error(`cannot record the baseline: ${e.message}`);
        });
      // Made already: adopted before the run starts, as its failure fails the provisioning.
      if (!snapshot.baselinePending) return adopted;
      adopted.catch(() => undefined);
      this.adopting.set(run.id, adopted);
      void adopted.then(
        () => this.adopting.delete(run.id),
        () => undefined, // kept: the diff reports it
      );
    };
    return { extras: { layers: { lowers }, seed }, ...(environment ? { environment } : {}) };
  }

  /**
   * The diff without what the environment's setup did: files it deleted, and
   * files it changed that still hold what it left (the agent did not touch them).
   */
  withoutEnvironment(runId: string, files: DiffFile[]): DiffFile[] {
    const held = this.held.get(runId);
    const fp = held?.footprint;
    if (!fp || !held.envLayer || !held.workspaceDir) return files;
    const deleted = new Set(fp.deleted);
    const changed = new Set(fp.changed);
    return files.filter((f) => {
      if (f.status === 'deleted' && deleted.has(f.path)) return false;
      if (f.status === 'modified' && changed.has(f.path)) {
        return !sameBytes(join(held.envLayer!, f.path), join(held.workspaceDir!, f.path));
      }
      return true;
    });
  }

  list(): CountedLayer[] {
    return [
      ...this.layers.usage().map((l) => ({ kind: 'snapshot-layer' as const, ...l })),
      ...this.cache.list().map((e) => ({
        kind: 'environment' as const,
        id: e.key,
        bytes: e.bytes,
        lastUsedMs: e.lastUsedMs,
        inUse: this.cache.inUse(e.key),
      })),
    ];
  }

  remove(layer: CountedLayer): boolean {
    return layer.kind === 'snapshot-layer' ? this.layers.evict(layer.id) : this.cache.remove(layer.id);
  }

  onGrow(listener: () => void): void {
    this.layers.onGrow(listener);
    this.cache.onGrow(listener);
  }

  /** Lets go of the layers of runs whose sandbox has ended. */
  sweep(stillRunning: (runId: string) => boolean): void {
    for (const runId of [...this.held.keys()]) if (!stillRunning(runId)) this.release(runId);
  }

  /** Once the run's baseline is adopted (at once unless the snapshot's was still being recorded when it started). */
  baselineAdopted(runId: string): Promise<void> {
    return this.adopting.get(runId) ?? Promise.resolve();
  }

  release(runId: string): void {
    this.adopting.delete(runId);
    const held = this.held.get(runId);
    if (!held) return;
    this.held.delete(runId);
    this.layers.unpin(held.snapshotId);
    if (held.envKey) this.cache.unpin(held.envKey);
  }
}

/** A differ whose diffs wait for the run's baseline to be adopted. */
export function afterBaselineAdopted(differ: WorkspaceDiffer, adopted: (key: string) => Promise<void>): WorkspaceDiffer {
  return {
    recordBaseline: (key, dir) => differ.recordBaseline(key, dir),
    diff: async (key: string, limits: DiffLimits): Promise<WorkspaceDiffResult> => {
      await adopted(key);
      return differ.diff(key, limits);
    },
    remove: async (key) => {
      await adopted(key).catch(() => undefined);
      return differ.remove(key);
    },
    keys: () => differ.keys(),
  };
}

const MAX_COMPARE_BYTES = 64 * 1024 * 1024;

/** Two regular files with the same bytes; a symlink or anything odd on either side is "different". */
function sameBytes(a: string, b: string): boolean {
  const read = (path: string): Buffer | undefined => {
    let fd: number;
    try {
      fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch {
      return undefined;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.size > MAX_COMPARE_BYTES) return undefined;
      const buf = Buffer.alloc(st.size);
      readSync(fd, buf, 0, st.size, 0);
      return buf;
    } finally {
      closeSync(fd);
    }
  };
  const x = read(a);
  const y = x && read(b);
  return !!x && !!y && x.equals(y);
}
