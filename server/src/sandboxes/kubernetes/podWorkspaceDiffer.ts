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
  private readonly dirs = new Map<string, string>();

  constructor(
    private readonly host: HostWorkspaceDiffer,
    private readonly pods: PodWorkspaces,
  ) {
    // A run's workspace adopts its snapshot's baseline on the host differ itself (runWorkspaces
    // holds that one, not this wrapper): its folder is learnt there, or no diff would pull the pod.
    const adopt = host.adoptBaseline.bind(host);
    host.adoptBaseline = async (key, workspaceDir, ...rest) => {
      await adopt(key, workspaceDir, ...rest);
      this.dirs.set(key, workspaceDir);
    };
  }

  async recordBaseline(key: string, workspaceDir: string): Promise<void> {
    await this.host.recordBaseline(key, workspaceDir);
    this.dirs.set(key, workspaceDir);
  }

  async diff(key: string, limits: DiffLimits): Promise<WorkspaceDiffResult> {
    const dir = this.dirs.get(key);
    if (dir) await this.pods.pull(dir);
    return this.host.diff(key, limits);
  }

  async remove(key: string): Promise<void> {
    this.dirs.delete(key);
    await this.host.remove(key);
  }

  keys(): string[] {
    return this.host.keys();
  }
}
