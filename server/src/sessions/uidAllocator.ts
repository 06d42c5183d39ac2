// Hands each sandbox an unprivileged host uid of its own, so sandboxes cannot
// signal or read each other even after an escape, and per-uid limits (nproc)
// count per sandbox. Several servers may share a host (tests, a user's two
// windows), so uids are leased host-wide through lease files created with
// O_EXCL: a lease names its server (by data folder) and the process holding
// it; a lease whose process is gone is stale and may be taken over.
import { mkdirSync, openSync, readFileSync, readdirSync, closeSync, writeSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const UID_BASE = 200_000;
export const UID_COUNT = 60_000;
const LEASE_DIR = '/var/lib/astraforge/uid-leases';

interface Lease {
  owner: string;
  pid: number;
  /** The holder's start time, so a reused pid is not mistaken for it. */
  start: string;
  persistent: boolean;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export class UidAllocator {
  private readonly self: Lease;
  private readonly shared: boolean;
  private next = Math.floor(Math.random() * UID_COUNT);

  constructor(
    private readonly owner: string,
    private readonly leaseDir = LEASE_DIR,
  ) {
    this.self = { owner, pid: process.pid, start: startTimeOf(process.pid) ?? '', persistent: false };
    // Only root can start processes as other uids; a user's own server shares its uid with its sandboxes.
    this.shared = process.getuid?.() !== 0;
    if (!this.shared) mkdirSync(leaseDir, { recursive: true, mode: 0o700 });
  }

  allocate(o: { persistent: boolean }): number {
    if (this.shared) return process.getuid?.() ?? 0;
    for (let i = 0; i < UID_COUNT; i++) {
      const uid = UID_BASE + ((this.next + i) % UID_COUNT);
      if (this.tryLease(uid, o.persistent)) {
        this.next = (this.next + i + 1) % UID_COUNT;
        return uid;
      }
    }
    throw new Error('no sandbox uid left');
  }

  /** Keeps a persistent workspace's uid leased to this server. */
  reservePersistent(uid: number): void {
    if (this.shared) return;
    const lease = this.read(uid);
    if (!lease || lease.owner === this.owner) this.write(uid, { ...this.self, persistent: true });
  }

  /** True when the uid's lease is this server's (held now or by its previous process): its processes are ours to kill. */
  ownedByThisServer(uid: number): boolean {
    if (this.shared) return false;
    return this.read(uid)?.owner === this.owner;
  }

  release(uid: number): void {
    if (this.shared) return;
    const lease = this.read(uid);
    if (lease && lease.owner === this.owner && !lease.persistent) unlinkSync(this.path(uid));
  }

  /** Leases of this server's previous process that it no longer needs. */
  releaseStale(keep: Set<number>): void {
    if (this.shared) return;
    for (const name of readdirSync(this.leaseDir)) {
      const uid = Number(name);
      const lease = this.read(uid);
      if (lease && lease.owner === this.owner && !lease.persistent && !keep.has(uid)) unlinkSync(this.path(uid));
    }
  }

  private path(uid: number): string {
    return join(this.leaseDir, String(uid));
  }

  private read(uid: number): Lease | undefined {
    try {
      return JSON.parse(readFileSync(this.path(uid), 'utf8')) as Lease;
    } catch {
      return undefined;
    }
  }

  private write(uid: number, lease: Lease): void {
    writeFileSync(this.path(uid), JSON.stringify(lease), { mode: 0o600 });
  }

  private tryLease(uid: number, persistent: boolean): boolean {
    const lease = { ...this.self, persistent };
    try {
      const fd = openSync(this.path(uid), 'wx', 0o600);
      writeSync(fd, JSON.stringify(lease));
      closeSync(fd);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = this.read(uid);
    if (!held || held.persistent || this.alive(held)) return false;
    // A stale lease of a dead server. Taking it over is racy only against another
    // server doing the same at the same instant; the rewrite below settles on one.
    this.write(uid, lease);
    return this.read(uid)?.pid === process.pid;
  }

  private alive(lease: Lease): boolean {
    return startTimeOf(lease.pid) === lease.start;
  }
}
