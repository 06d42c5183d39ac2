// The run layer's differ for pods: the baseline is recorded on the host
// folder as for bubblewrap and Docker; before each diff the pod's workspace
// is pulled back into that folder, and git on the host computes the diff.
import type { HostWorkspaceDiffer } from '../../runs/hostWorkspaceDiffer';
import type { DiffLimits, WorkspaceDiffer, WorkspaceDiffResult } from '../../runs/workspaceDiffer';

export interface PodWorkspaces {
  /** Copies the pod's /workspace of the session whose host folder this is back into it (no-op when no live session has it). */
  pull(workspaceDir: string): Promise<void>;
}

export class PodWorkspaceDiffer implements WorkspaceDiffer {
  constructor(
    private readonly host: HostWorkspaceDiffer,
    private readonly pods: PodWorkspaces,
  ) {}

  recordBaseline(key: string, workspaceDir: string): Promise<void> {
    return this.host.recordBaseline(key, workspaceDir);
  }

  /** The host folder is the one the baseline was recorded or adopted on (a run's adopts its snapshot's, on the host differ itself). */
  async diff(key: string, limits: DiffLimits): Promise<WorkspaceDiffResult> {
    const dir = this.host.workTreeOf(key);
    if (dir) await this.pods.pull(dir);
    return this.host.diff(key, limits);
  }

  remove(key: string): Promise<void> {
    return this.host.remove(key);
  }

  keys(): string[] {
    return this.host.keys();
  }
}
