// The bubblewrap provider: one bwrap process per session, started as the
// session's own unprivileged host uid, with af-runner as its first process;
// from the warm pool when one waits (warmPool.ts), cold otherwise.
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from '../sandboxError';
import type { Sandbox, SandboxLimits, SandboxProvider, SandboxSpec } from '../sandboxProvider';
import { removeLeftoverCgroups } from '../host/sessionCgroup';
import { killProcessesOfUids } from '../host/processTree';
import { SANDBOX_HOME, SANDBOX_UID, type BwrapLayout } from './bwrapArgs';
import { startBwrap } from './bwrapSandbox';
import { WarmPool, type PoolUids } from './warmPool';

export interface BwrapPoolOptions {
  /** Sandboxes kept started; 0 turns the pool off. */
  size: number;
  /** The limits of a plain session: only sessions with exactly these are served from the pool. */
  limits: SandboxLimits;
  /** Where scratch workspaces live (a session's own, empty when it starts): the only ones the pool takes. */
  scratchDir: string;
  /** The compiled af-mounter binary. */
  mounterBinary: string;
  /** The server's uid leases: a pooled sandbox holds a uid of its own from the start. */
  uids: PoolUids;
}

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
  pool?: BwrapPoolOptions;
  log?: (obj: Record<string, unknown>, msg: string) => void;
}

export class BwrapProvider implements SandboxProvider {
  readonly name = 'bwrap';
  private readonly runnerCopy: string;
  private readonly etcDir: string;
  private readonly shell: string;
  private readonly pool: WarmPool | undefined;

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
    const pool = opts.pool;
    if (pool && pool.size > 0) {
      this.pool = new WarmPool({
        ...pool,
        slotRoot: join(opts.stateDir, 'pool'),
        instanceId: opts.instanceId,
        start: (workspaceDir, hostUid, cgroupName) =>
          startBwrap({ bwrapPath: opts.bwrapPath, layout: this.layout('/', workspaceDir), limits: pool.limits, hostUid, cgroupName }),
        log: opts.log ?? (() => undefined),
      });
    }
  }

  images(): string[] {
    return ['default', ...hostImageAliases(), ...Object.keys(this.opts.images ?? {})];
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    const rootfs = this.rootfsOf(spec.image);
    if (!rootfs) throw new SandboxError('INVALID_IMAGE', `unknown image "${spec.image}"; available: ${this.images().join(', ')}`);
    const warm = rootfs === '/' && !spec.attachments ? await this.pool?.claim(spec) : undefined;
    if (warm) return warm;
    return startBwrap({
      bwrapPath: this.opts.bwrapPath,
      layout: this.layout(rootfs, spec.workspaceDir),
      limits: spec.limits,
      attachments: spec.attachments,
      hostUid: spec.hostUid,
      cgroupName: `${this.opts.instanceId}/s-${spec.sessionId}`,
    });
  }

  /** Starts filling the warm pool (after the restart clean-up, which removes what a previous process's pool left). */
  startPool(): void {
    this.pool?.start();
  }

  async cleanupLeftovers(hostUids: number[]): Promise<void> {
    killProcessesOfUids(hostUids);
    await this.pool?.cleanupLeftovers();
    removeLeftoverCgroups(this.opts.instanceId);
    // After this the session layer releases the previous process's uid leases (the pool's among them),
    // synchronously; the pool fills once that is done.
    setImmediate(() => this.startPool());
  }

  private rootfsOf(image: string): string | undefined {
    return image === 'default' || hostImageAliases().includes(image) ? '/' : this.opts.images?.[image];
  }

  private layout(rootfs: string, workspaceDir: string): BwrapLayout {
    return { rootfs, workspaceDir, runnerBinary: this.runnerCopy, etcDir: this.etcDir, shell: this.shell };
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
