// The warm pool: bubblewrap sandboxes started ahead of need, so a session
// starts with a claim instead of a bwrap start. Each is a full sandbox as a
// cold start makes it (its own uid, its own cgroup with the limits applied,
// af-runner up with its rlimits, seccomp filter and keyring), started on an
// empty slot folder bound at /workspace. A session claims one, never two
// sessions the same one: its workspace folder is given the slot's uid and
// mounted on the slot folder (af-mounter), which the kernel propagates into
// the sandbox, and the server checks through /proc that the sandbox's
// /workspace is now that folder before handing it over. A claimed sandbox
// dies with its session; the pool starts another in the background.
//
// Only what a cold start would give the same sandbox is served: a session of
// the host's image, no attachments (runs start cold), the server's own limits,
// and a scratch workspace still empty (persistent workspaces keep the uid
// they were first given). Everything else, and a claim that fails at any
// step, starts cold.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { runsAsRoot } from '../host/sandboxRoot';
import type { SandboxLimits, SandboxSpec } from '../sandboxProvider';
import type { BwrapSandbox } from './bwrapSandbox';
import { PoolMounter } from './poolMounter';

/** The server's uid leases (sessions/uidAllocator.ts), shared with the session layer. */
export interface PoolUids {
  allocate(o: { persistent: boolean }): number;
  release(uid: number): void;
  ownedByThisServer(uid: number): boolean;
}

export interface WarmPoolOptions {
  size: number;
  limits: SandboxLimits;
  scratchDir: string;
  mounterBinary: string;
  uids: PoolUids;
  /** Where the slot folders are made. */
  slotRoot: string;
  instanceId: string;
  /** Starts a sandbox with `workspaceDir` bound at /workspace, as `hostUid`, in the cgroup `cgroupName`. */
  start: (workspaceDir: string, hostUid: number, cgroupName: string) => Promise<BwrapSandbox>;
  log: (obj: Record<string, unknown>, msg: string) => void;
}

interface Slot {
  dir: string;
  uid: number;
  sandbox: BwrapSandbox;
}

const MAX_BACKOFF_MS = 30_000;
const REFILL_DELAY_MS = 30;

export class WarmPool {
  private readonly ready: Slot[] = [];
  private starting = 0;
  private started = false;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  private refill: NodeJS.Timeout | undefined;
  /** Every slot folder of this process not yet removed: starting, waiting or claimed. */
  private readonly slotDirs = new Set<string>();
  private mounter: PoolMounter | undefined;
  private enabled: boolean | undefined;

  constructor(private readonly o: WarmPoolOptions) {}

  start(): void {
    if (this.started || !this.enable()) return;
    this.started = true;
    this.o.log({ pool_size: this.o.size }, 'warm pool filling');
    this.fill();
  }

  /** Decided once, at the first use (the server's log is up by then): mounts need root and af-mounter. */
  private enable(): boolean {
    if (this.enabled !== undefined) return this.enabled;
    this.enabled = false;
    if (!runsAsRoot()) {
      this.o.log({ pool_size: 0 }, 'warm pool off: attaching a workspace to a started sandbox needs the server to run as root');
    } else if (!existsSync(this.o.mounterBinary)) {
      this.o.log({ pool_size: 0, missing: this.o.mounterBinary }, 'warm pool off: af-mounter is not built');
    } else {
      mkdirSync(this.o.slotRoot, { recursive: true, mode: 0o711 });
      this.mounter = new PoolMounter(this.o.mounterBinary, this.o.slotRoot, this.o.scratchDir);
      // Sessions' sandboxes are destroyed before the server exits; the pool's own are unmounted here
      // (and by af-mounter when its input ends, should the server be killed).
      process.once('exit', () => this.unmountOwnSlots());
      this.enabled = true;
    }
    return this.enabled;
  }

  get waiting(): number {
    return this.ready.length;
  }

  /** Unmounts and removes the slot folders a previous server process left. */
  async cleanupLeftovers(): Promise<void> {
    if (!this.enable()) return;
    for (const name of readdirSync(this.o.slotRoot)) {
      const dir = join(this.o.slotRoot, name);
      await this.mounter!.detach(dir).catch(() => undefined);
      removeDir(dir);
    }
  }

  /** A started sandbox with the spec's workspace at /workspace, or undefined (start cold). */
  async claim(spec: SandboxSpec): Promise<BwrapSandbox | undefined> {
    if (!this.serves(spec)) return undefined;
    try {
      for (let slot = this.ready.shift(); slot; slot = this.ready.shift()) {
        // A slot whose sandbox died, or whose uid lease is no longer this server's, is not handed out.
        if (!slot.sandbox.alive || !this.o.uids.ownedByThisServer(slot.uid)) {
          await slot.sandbox.destroy();
          continue;
        }
        try {
          await this.attach(slot, spec);
          return slot.sandbox;
        } catch (e) {
          this.o.log({ session_id: spec.sessionId, err: (e as Error).message }, 'warm pool claim failed; starting cold');
          await slot.sandbox.destroy();
          chownSync(spec.workspaceDir, spec.hostUid, spec.hostUid);
          return undefined;
        }
      }
      return undefined;
    } finally {
      this.refillSoon();
    }
  }

  /**
   * Starting a sandbox (a fork of this process, then bwrap) costs a few ms of
   * CPU: done right away it would slow the claiming session's first commands,
   * so the refill waits a moment.
   */
  private refillSoon(): void {
    if (this.refill) return;
    this.refill = setTimeout(() => {
      this.refill = undefined;
      this.fill();
    }, REFILL_DELAY_MS);
    this.refill.unref();
  }

  /** Same image (checked by the provider), no attachments, the pool's limits, a fresh scratch workspace. */
  private serves(spec: SandboxSpec): boolean {
    if (spec.attachments) return false;
    const limits = Object.keys(this.o.limits) as (keyof SandboxLimits)[];
    if (limits.some((k) => spec.limits[k] !== this.o.limits[k])) return false;
    if (dirname(spec.workspaceDir) !== this.o.scratchDir || basename(spec.workspaceDir) !== spec.sessionId) return false;
    return readdirSync(spec.workspaceDir).length === 0;
  }

  private async attach(slot: Slot, spec: SandboxSpec): Promise<void> {
    // The workspace is the slot's uid's from now on, as a cold start's is its sandbox's.
    chownSync(spec.workspaceDir, slot.uid, slot.uid);
    await this.mounter!.attach(spec.workspaceDir, slot.dir);
    // Checked, not assumed: what the sandbox's own root shows at /workspace is the workspace folder.
    const seen = statSync(`/proc/${slot.sandbox.runnerPid}/root/workspace`);
    const real = statSync(spec.workspaceDir);
    if (seen.ino !== real.ino || seen.dev !== real.dev) throw new Error("the sandbox's /workspace is not the session's workspace");
  }

  private fill(): void {
    if (!this.started || this.retry) return;
    while (this.ready.length + this.starting < this.o.size) {
      this.starting++;
      this.startSlot()
        .then((slot) => {
          this.failures = 0;
          this.ready.push(slot);
          // A waiting sandbox that dies leaves the pool (and is replaced).
          void slot.sandbox.exited.then(() => {
            const i = this.ready.indexOf(slot);
            if (i < 0) return;
            this.ready.splice(i, 1);
            void slot.sandbox.destroy().then(() => this.refillSoon());
          });
        })
        .catch((e: Error) => {
          this.failures++;
          const wait = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.failures);
          this.o.log({ err: e.message, retry_ms: wait }, 'warm pool: a sandbox did not start');
          this.retry = setTimeout(() => {
            this.retry = undefined;
            this.fill();
          }, wait);
          this.retry.unref();
        })
        .finally(() => {
          this.starting--;
        });
    }
  }

  private async startSlot(): Promise<Slot> {
    const uid = this.o.uids.allocate({ persistent: false });
    const id = randomBytes(6).toString('hex');
    const dir = join(this.o.slotRoot, id);
    const release = async () => {
      await this.mounter!.detach(dir).catch(() => undefined);
      removeDir(dir);
      this.slotDirs.delete(dir);
      this.o.uids.release(uid);
    };
    try {
      mkdirSync(dir, { mode: 0o700 });
      this.slotDirs.add(dir);
      chownSync(dir, uid, uid);
      await this.mounter!.prepare(dir);
      const sandbox = await this.o.start(dir, uid, `${this.o.instanceId}/p-${id}`);
      // Once it is down and every process of its uid gone: the workspace off the slot, the slot gone, the uid free.
      sandbox.afterDestroy(release);
      await warmUp(sandbox);
      return { dir, uid, sandbox };
    } catch (e) {
      await release();
      throw e;
    }
  }

  private unmountOwnSlots(): void {
    for (const dir of this.slotDirs) {
      for (let i = 0; i < 2; i++) {
        try {
          execFileSync('/usr/bin/umount', ['--lazy', dir], { stdio: 'ignore' });
        } catch {
          break; // nothing (more) mounted there
        }
      }
      removeDir(dir);
    }
  }
}

/**
 * One command before the sandbox waits: a sandbox's first command costs a few
 * ms more than the next ones (the runner's first fork, the shell's first
 * start in the new namespaces), paid here rather than by the session. It
 * leaves nothing a session could tell apart from a cold start's first
 * command (the warm-pool test compares the two from inside).
 */
async function warmUp(sandbox: BwrapSandbox): Promise<void> {
  const r = await sandbox.exec('true', { timeoutMs: 10_000, separateStderr: false, maxOutputBytes: 4096, onOutput: () => undefined })
    .result;
  if (r.exitCode !== 0) throw new Error(`the warm-up command exited with ${r.exitCode}`);
}

function removeDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    /* still mounted or gone: the next start's clean-up takes it */
  }
}
