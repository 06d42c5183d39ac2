// Where a run's baseline is kept and its diff computed: somewhere the agent
// cannot reach or influence. The host implementation works on the folder
// that bwrap and Docker mount as /workspace; a provider whose workspace is
// not a host folder (Kubernetes) brings its own.
import type { DiffFile } from './gitDiff';

export interface DiffLimits {
  timeoutMs: number;
  /** Of the patch text, all files together. */
  maxBytes: number;
  maxFiles: number;
}

export interface WorkspaceDiffResult {
  files: DiffFile[];
  /** Folders holding a git repository of their own: git lists the folder, never its files, so they are left out. */
  nestedRepos: string[];
}

export interface WorkspaceDiffer {
  /**
   * Records the workspace as it is now as the baseline of `key` (a run).
   * Called after the snapshot is in the workspace folder and before anything
   * runs in the sandbox.
   */
  recordBaseline(key: string, workspaceDir: string): Promise<void>;
  /** The workspace's changes against the baseline, as git reports them (paths not yet checked). */
  diff(key: string, limits: DiffLimits): Promise<WorkspaceDiffResult>;
  /** Forgets the baseline (its sandbox has ended). */
  remove(key: string): Promise<void>;
  /** The keys that have a baseline. */
  keys(): string[];
}
