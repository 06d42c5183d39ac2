// A session's sandbox on Kubernetes: the pod's af-runner, reached over TCP
// (or the router), used as every provider's runner is; the claim's lease is
// renewed while the session lives, the pod's disk use measured while commands
// run, its memory read from the cluster's metrics where it has them, and its
// workspace brought back to the host folder when the session ends.
import type { Duplex } from 'node:stream';
import type { RunnerClient, RunnerExecOptions } from '../runnerProtocol';
import { RunnerSandbox } from '../runnerSandbox';
import { SandboxError } from '../sandboxError';
import type { RunningExec, SandboxSpec, SandboxUsage } from '../sandboxProvider';
import { withTimeout } from '../withTimeout';
import type { PodMetricsReader } from './podMetrics';
import { pullWorkspace } from './podWorkspace';
import { PodQuota } from './podQuota';
import { podUsage } from './podUsage';

/** What a pod's sandbox needs of the provider that claimed it. */
export interface PodOwner {
  /** How long a claim outlives its last renewal. */
  readonly leaseSeconds: number;
  renew(claim: string): Promise<void>;
  readonly metrics: PodMetricsReader;
  /** Deletes the claim and forgets the session (after its workspace came back). */
  release(sandbox: KubernetesSandbox, workspaceDir: string): Promise<void>;
}

/** How long a stats call waits for the metrics API before it answers with the pod's own measure. */
const METRICS_TIMEOUT_MS = 2000;

/** How long a session's end may take to bring the pod's workspace back. */
const FINAL_PULL_TIMEOUT_MS = 60_000;

export class KubernetesSandbox extends RunnerSandbox {
  readonly exited: Promise<void>;
  private readonly renewal: NodeJS.Timeout;
  private readonly quota: PodQuota;
  private destroyed = false;

  constructor(
    private readonly provider: PodOwner,
    readonly claim: string,
    private readonly sandboxName: string,
    private readonly socket: Duplex,
    runner: RunnerClient,
    private readonly spec: SandboxSpec,
  ) {
    super(runner);
    this.exited = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.exited.then(() => runner.close(new SandboxError('SANDBOX_GONE', 'the sandbox pod has gone')));
    const every = Math.max(1, Math.floor(provider.leaseSeconds / 3)) * 1000;
    this.renewal = setInterval(() => void provider.renew(claim).catch(() => undefined), every);
    this.renewal.unref();
    this.quota = new PodQuota(runner, spec.limits.diskQuotaBytes);
  }

  /** A user command: the pod's workspace is measured while it runs. */
  override exec(cmd: string, opts: RunnerExecOptions): RunningExec {
    const running = super.exec(cmd, opts);
    this.quota.track(running.result.catch(() => undefined));
    return running;
  }

  async pullInto(dir: string): Promise<void> {
    await pullWorkspace(this.runner, dir, this.spec.hostUid);
  }

  /**
   * Memory from the pod's metrics (metrics.k8s.io) where the cluster has them, else as measured
   * inside the pod (its cgroup, or its processes); CPU time and the limit always from inside.
   */
  async usage(): Promise<SandboxUsage> {
    const [inside, metrics] = await Promise.all([
      podUsage(this.runner, this.spec.limits.memoryBytes),
      withTimeout(this.provider.metrics.read(this.sandboxName), METRICS_TIMEOUT_MS).catch(() => undefined),
    ]);
    return metrics ? { ...inside, memoryBytes: metrics.memoryBytes } : inside;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.renewal);
    this.quota.stop();
    // The pod's workspace goes with its claim: the host folder keeps what it held (a persistent
    // workspace's next session starts from it). Not from a runner that broke the protocol.
    if (!this.runner.closed && !this.failure) {
      await withTimeout(this.pullInto(this.spec.workspaceDir), FINAL_PULL_TIMEOUT_MS).catch(() => undefined);
    }
    this.runner.close(new SandboxError('SANDBOX_GONE', 'the session was destroyed'));
    this.socket.destroy();
    this.provider.metrics.forget(this.sandboxName);
    await this.provider.release(this, this.spec.workspaceDir);
  }
}
