// A run's baseline and diff: the baseline adopted from its snapshot's while
// the workspace is seeded (runWorkspaces), the diff computed after each turn, checked where it crosses into
// the server (every path, the file count, the size), saved with each file's
// snapshot hash, and the baseline dropped once the run's sandbox has ended.
import { diffPathProblem } from '@astraforge/contract/diffPath';
import { RunDiff, RunEventName, type Run } from '@astraforge/contract/runApi';
import type { SnapshotStore } from '../snapshots/snapshotStore';
import type { RunStore } from '../store/runStore';
import type { DiffFile } from './gitDiff';
import type { RunEventLog } from './runEventLog';
import type { DiffLimits, WorkspaceDiffer } from './workspaceDiffer';

export const DIFF_LIMITS: DiffLimits = {
  timeoutMs: 300_000,
  maxBytes: 256 * 1024 * 1024,
  maxFiles: 50_000,
};

export class UnsafeDiffError extends Error {}

/** Throws unless every path and old path of `files` is a safe relative workspace path. */
export function assertSafeDiffPaths(files: readonly Pick<DiffFile, 'path' | 'old_path'>[]): void {
  for (const f of files) {
    for (const path of f.old_path === undefined ? [f.path] : [f.path, f.old_path]) {
      const problem = diffPathProblem(path);
      if (problem) throw new UnsafeDiffError(`refused the diff: it names ${JSON.stringify(path)}, and ${problem}`);
    }
  }
}

export class RunDiffs {
  constructor(
    private readonly differ: WorkspaceDiffer,
    private readonly snapshots: SnapshotStore,
    private readonly store: RunStore,
    private readonly limits: DiffLimits = DIFF_LIMITS,
    /** Drops from a run's diff what is not the agent's (what the environment's setup did). */
    private readonly ownChanges: (runId: string, files: DiffFile[]) => DiffFile[] = (_, files) => files,
  ) {}

  /** Computes and saves the diff, or says why not in a diff-failed event (and saves nothing). */
  async record(run: Run, events: RunEventLog): Promise<void> {
    try {
      const { files: all, nestedRepos } = await this.differ.diff(run.id, this.limits);
      const changed = this.ownChanges(run.id, all);
      assertSafeDiffPaths(changed);
      const manifest = this.snapshots.manifest(run.snapshot_id);
      const files = changed.map((f) => {
        const base = manifest.get(f.old_path ?? f.path);
        return { ...f, base_sha256: f.status === 'added' ? undefined : base?.sha256 };
      });
      // The contract's own check too, so what is saved is what any client accepts.
      const diff = RunDiff.parse({ run_id: run.id, files, computed_at: new Date().toISOString() });
      this.store.saveDiff(run.id, diff);
      const safeNested = nestedRepos.filter((p) => !diffPathProblem(p)).slice(0, 50);
      events.emit(RunEventName.diffReady, {
        files: files.length,
        paths: files.slice(0, 50).map((f) => f.path),
        ...(safeNested.length ? { nested_repos: safeNested } : {}),
      });
    } catch (e) {
      events.emit(RunEventName.diffFailed, { error: (e as Error).message });
    }
  }

  /** Drops the baselines of runs whose sandbox is no longer running. */
  async sweep(stillRunning: (runId: string) => boolean): Promise<void> {
    for (const key of this.differ.keys()) if (!stillRunning(key)) await this.differ.remove(key);
  }

  async remove(runId: string): Promise<void> {
    await this.differ.remove(runId);
  }
}
