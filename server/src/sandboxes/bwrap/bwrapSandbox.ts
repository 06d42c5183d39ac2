// One bubblewrap sandbox: starting it (af-runner up, inside its cgroup, the
// runner shielded from the OOM killer), measuring it, and tearing it down.
// Cold starts and the warm pool both start sandboxes this way.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { RunnerClient } from '../runnerProtocol';
import { RunnerSandbox } from '../runnerSandbox';
import { SandboxError } from '../sandboxError';
import { withTimeout } from '../withTimeout';
import type { SandboxAttachments, SandboxLimits, SandboxUsage } from '../sandboxProvider';
import { createSessionCgroup, type SessionCgroup } from '../host/sessionCgroup';
import { runsAsRoot } from '../host/sandboxRoot';
import { addressSpaceWithoutCgroup } from '../host/limitEnforcement';
import { descendantsOf, killProcessesOfUids, usageOfTree } from '../host/processTree';
import { bwrapArgs, type BwrapLayout } from './bwrapArgs';

const START_TIMEOUT_MS = 10_000;

export interface BwrapStart {
  bwrapPath: string;
  layout: BwrapLayout;
  limits: SandboxLimits;
  attachments?: SandboxAttachments;
  hostUid: number;
  /** The cgroup's path under the server's own. */
  cgroupName: string;
}

export class BwrapSandbox extends RunnerSandbox {
  readonly exited: Promise<void>;
  private readonly cleanups: (() => Promise<void> | void)[] = [];

  constructor(
    private readonly child: ChildProcess,
    runner: RunnerClient,
    private readonly cgroup: SessionCgroup | undefined,
    readonly hostUid: number,
    /** The runner's pid on the host (the sandbox's pid 1). */
    readonly runnerPid: number,
  ) {
    super(runner);
    // Exited once the runner is closed too, so whoever watches this learns why (a frame cut short) and not only that.
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve())).then(() => runner.whenClosed);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && !this.runner.closed;
  }

  /** Runs once the sandbox is down and every process of its uid is gone (the pool's unmount, the uid's release). */
  afterDestroy(cleanup: () => Promise<void> | void): void {
    this.cleanups.push(cleanup);
  }

  async usage(): Promise<SandboxUsage> {
    if (this.cgroup) {
      return {
        memoryBytes: this.cgroup.memoryBytes(),
        memoryLimit: this.cgroup.memoryLimit(),
        cpuUsageUsec: this.cgroup.cpuUsageUsec(),
      };
    }
    return this.child.pid ? usageOfTree(this.child.pid) : { memoryBytes: 0, cpuUsageUsec: 0 };
  }

  async destroy(): Promise<void> {
    this.runner.close(new SandboxError('SANDBOX_GONE', 'the session was destroyed'));
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
    // bwrap's death takes its pid namespace down with it; this catches anything that slipped out.
    this.cgroup?.remove();
    killProcessesOfUids([this.hostUid]);
    for (const cleanup of this.cleanups.splice(0)) await cleanup();
  }
}

export async function startBwrap(o: BwrapStart): Promise<BwrapSandbox> {
  const cgroup = createSessionCgroup(o.cgroupName, { memoryBytes: o.limits.memoryBytes, pids: o.limits.pids, cpus: o.limits.cpus });
  // Without a cgroup bounding memory, no process may map more than the session's whole budget.
  const limits = cgroup?.boundsMemory ? o.limits : { ...o.limits, addressSpaceBytes: addressSpaceWithoutCgroup(o.limits) };
  const { options, command } = bwrapArgs(o.layout, limits, o.attachments);
  // The arguments go through a pipe (--args 3), not argv: bwrap's command line names host
  // folders, and no process's cmdline, in the sandbox or on the host, should show them.
  const child = spawn(o.bwrapPath, ['--args', '3', '--', ...command], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    ...(runsAsRoot() ? { uid: o.hostUid, gid: o.hostUid } : {}),
    env: {},
    cwd: '/',
  });
  const argsPipe = child.stdio[3] as Writable;
  argsPipe.on('error', () => undefined); // bwrap that failed to start: its exit reports it
  argsPipe.end(Buffer.from(options.map((a) => `${a}\0`).join('')));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const runner = new RunnerClient(child.stdin!, child.stdout!);
  child.once('exit', () => runner.sandboxExited());
  child.once('error', (e) => runner.close(new SandboxError('START_FAILED', `cannot start bwrap: ${e.message}`)));
  try {
    await withTimeout(runner.ready, START_TIMEOUT_MS);
  } catch (e) {
    child.kill('SIGKILL');
    cgroup?.remove();
    throw new SandboxError('START_FAILED', `the sandbox did not start: ${stderr.trim() || (e as Error).message}`);
  }
  // No user command has run yet, so every process of the sandbox is in this tree (the runner is its only one).
  const tree = child.pid ? descendantsOf(child.pid) : [];
  for (const pid of tree) {
    cgroup?.addProcess(pid);
    shieldFromOomKiller(pid);
  }
  return new BwrapSandbox(child, runner, cgroup, o.hostUid, tree.at(-1) ?? 0);
}

/** A memory hog must not take the runner down with it; the runner hands its commands a high score instead. */
function shieldFromOomKiller(pid: number): void {
  if (!runsAsRoot()) return;
  try {
    writeFileSync(`/proc/${pid}/oom_score_adj`, '-900');
  } catch {
    /* exited, or not permitted: the session still works, only less protected */
  }
}
