// The bubblewrap provider: one bwrap process per session, started as the
// session's own unprivileged host uid, with af-runner as its first process.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RunnerClient } from '../runnerProtocol';
import { RunnerSandbox } from '../runnerSandbox';
import { SandboxError } from '../sandboxError';
import { withTimeout } from '../withTimeout';
import type { Sandbox, SandboxProvider, SandboxSpec, SandboxUsage } from '../sandboxProvider';
import { createSessionCgroup, removeLeftoverCgroups, type SessionCgroup } from '../host/sessionCgroup';
import { runsAsRoot } from '../host/sandboxRoot';
import { addressSpaceWithoutCgroup } from '../host/limitEnforcement';
import { descendantsOf, killProcessesOfUids, usageOfTree } from '../host/processTree';
import { bwrapArgs, SANDBOX_HOME, SANDBOX_UID } from './bwrapArgs';

export interface BwrapProviderOptions {
  /** Names this server among others on the host; its cgroups live under it. */
  instanceId: string;
  bwrapPath: string;
  /** The compiled af-runner binary. */
  runnerBinary: string;
  /** A folder of the server's where the provider keeps what sandboxes mount (runner copy, etc files). */
  stateDir: string;
  /** Extra images: name -> root filesystem folder. 'default' is the host's own system folders. */
  images?: Record<string, string>;
}

const START_TIMEOUT_MS = 10_000;

class BwrapSandbox extends RunnerSandbox {
  readonly exited: Promise<void>;
  constructor(
    private readonly child: ChildProcess,
    runner: RunnerClient,
    private readonly cgroup: SessionCgroup | undefined,
    private readonly hostUid: number,
  ) {
    super(runner);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
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
  }
}

export class BwrapProvider implements SandboxProvider {
  readonly name = 'bwrap';
  private readonly runnerCopy: string;
  private readonly etcDir: string;
  private readonly shell: string;

  constructor(private readonly opts: BwrapProviderOptions) {
    // The sandbox's uid must be able to read what bwrap mounts, so the provider
    // keeps world-readable copies in a folder of its own rather than exposing the install.
    const binDir = join(opts.stateDir, 'bin');
    this.etcDir = join(opts.stateDir, 'etc');
    mkdirSync(binDir, { recursive: true, mode: 0o755 });
    mkdirSync(this.etcDir, { recursive: true, mode: 0o755 });
    chmodSync(opts.stateDir, 0o711);
    this.runnerCopy = join(binDir, 'af-runner');
    // Copied beside and renamed into place: a running sandbox may be executing the old copy (ETXTBSY).
    const fresh = `${this.runnerCopy}.${process.pid}`;
    copyFileSync(opts.runnerBinary, fresh);
    chmodSync(fresh, 0o755);
    renameSync(fresh, this.runnerCopy);
    this.shell = existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
    writeFileSync(
      join(this.etcDir, 'passwd'),
      `root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:${SANDBOX_UID}:${SANDBOX_UID}:sandbox:${SANDBOX_HOME}:${this.shell}\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    );
    writeFileSync(join(this.etcDir, 'group'), `root:x:0:\nsandbox:x:${SANDBOX_UID}:\nnogroup:x:65534:\n`);
    writeFileSync(join(this.etcDir, 'hosts'), '127.0.0.1 localhost sandbox\n::1 localhost\n');
    for (const f of ['passwd', 'group', 'hosts']) chmodSync(join(this.etcDir, f), 0o644);
  }

  images(): string[] {
    return ['default', ...hostImageAliases(), ...Object.keys(this.opts.images ?? {})];
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    const rootfs = spec.image === 'default' || hostImageAliases().includes(spec.image) ? '/' : this.opts.images?.[spec.image];
    if (!rootfs) throw new SandboxError('INVALID_IMAGE', `unknown image "${spec.image}"; available: ${this.images().join(', ')}`);
    const cgroup = createSessionCgroup(`${this.opts.instanceId}/s-${spec.sessionId}`, {
      memoryBytes: spec.limits.memoryBytes,
      pids: spec.limits.pids,
      cpus: spec.limits.cpus,
    });
    // Without a cgroup bounding memory, no process may map more than the session's whole budget.
    const limits = cgroup?.boundsMemory ? spec.limits : { ...spec.limits, addressSpaceBytes: addressSpaceWithoutCgroup(spec.limits) };
    const { options, command } = bwrapArgs(
      { rootfs, workspaceDir: spec.workspaceDir, runnerBinary: this.runnerCopy, etcDir: this.etcDir, shell: this.shell },
      limits,
      spec.attachments,
    );
    // The arguments go through a pipe (--args 3), not argv: bwrap's command line names host
    // folders, and no process's cmdline, in the sandbox or on the host, should show them.
    const child = spawn(this.opts.bwrapPath, ['--args', '3', '--', ...command], {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      ...(runsAsRoot() ? { uid: spec.hostUid, gid: spec.hostUid } : {}),
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
    child.once('exit', () => runner.close(new SandboxError('SANDBOX_GONE', 'the sandbox has exited')));
    child.once('error', (e) => runner.close(new SandboxError('START_FAILED', `cannot start bwrap: ${e.message}`)));
    try {
      await withTimeout(runner.ready, START_TIMEOUT_MS);
    } catch (e) {
      child.kill('SIGKILL');
      cgroup?.remove();
      throw new SandboxError('START_FAILED', `the sandbox did not start: ${stderr.trim() || (e as Error).message}`);
    }
    // No user command has run yet, so every process of the sandbox is in this tree.
    if (child.pid) {
      for (const pid of descendantsOf(child.pid)) {
        cgroup?.addProcess(pid);
        shieldFromOomKiller(pid);
      }
    }
    return new BwrapSandbox(child, runner, cgroup, spec.hostUid);
  }

  async cleanupLeftovers(hostUids: number[]): Promise<void> {
    killProcessesOfUids(hostUids);
    removeLeftoverCgroups(this.opts.instanceId);
  }
}

/**
 * Sandkasten clients ask for images by name ("python" is the Python SDK's
 * default). Without containers the sandbox sees the host's own toolchain, so
 * a name is accepted when the host has what it promises.
 */
function hostImageAliases(): string[] {
  const out = ['base', 'sandbox-runtime:base'];
  if (existsSync('/usr/bin/python3')) out.push('python', 'sandbox-runtime:python');
  if (existsSync('/usr/bin/node')) out.push('node', 'sandbox-runtime:node');
  return out;
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
