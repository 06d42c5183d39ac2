// The plans of incremental snapshots: a client's manifest, checked by the
// same rules as a full upload's entries (paths, kinds, symlinks, limits) before
// anything is uploaded, kept until its upload (once) or its expiry.
import { createHash, randomBytes } from 'node:crypto';
import type { SnapshotPlanFile } from '@astraforge/contract/snapshotDelta';
import { checkLinksStayInside, checkLinkTarget, cleanPath, EntryKinds } from './archivePaths';
import type { ArchiveLimits, SnapshotManifestEntry } from './canonicalArchive';
import { SnapshotError, SnapshotTooLarge } from './snapshotError';

/** A checked plan: the snapshot's manifest in archive order, each entry's mtime beside it. */
export interface CheckedPlan {
  manifest: SnapshotManifestEntry[];
  /** Seconds since the epoch, per manifest entry. */
  mtimes: number[];
  /** Each distinct file content: its size. */
  contents: Map<string, number>;
}

export interface PendingPlan extends CheckedPlan {
  id: string;
  /** The contents the upload must carry. */
  missing: Set<string>;
  /** The kept snapshot the new one is kept as a delta of, when it is near enough. */
  baseId?: string;
  expiresAt: number;
}

/** Checks every entry of a plan, as repackValidated checks an archive's; throws a SnapshotError naming the first refused. */
export function checkPlan(files: readonly SnapshotPlanFile[], limits: ArchiveLimits): CheckedPlan {
  if (files.length > limits.maxFiles) throw new SnapshotTooLarge(`the plan has more than ${limits.maxFiles} entries`, 'maxFiles');
  const kinds = new EntryKinds();
  const links = new Map<string, string>();
  const contents = new Map<string, number>();
  const manifest: SnapshotManifestEntry[] = [];
  const mtimes: number[] = [];
  let bytes = 0;
  for (const f of files) {
    const rel = cleanPath(f.path);
    // The plan names each path as the archive will: one spelling only, so a path cannot be listed twice unnoticed.
    if (rel !== f.path) throw new SnapshotError(`entry "${f.path}" is not a plain relative path (as "${rel}")`);
    if (f.type === 'symlink') {
      const target = f.link_target ?? '';
      checkLinkTarget(rel, target);
      if (createHash('sha256').update(target).digest('hex') !== f.sha256)
        throw new SnapshotError(`symlink "${rel}": sha256 is not the hash of its target`);
      kinds.record(rel, 'symlink', f.path);
      links.set(rel, target);
      manifest.push({ path: rel, sha256: f.sha256, size: 0, mode: 0o777, type: 'symlink', linkTarget: target });
      mtimes.push(f.mtime);
      continue;
    }
    if (f.link_target !== undefined) throw new SnapshotError(`entry "${f.path}" is a file with a link target`);
    if (f.size > limits.maxFileBytes)
      throw new SnapshotTooLarge(`"${rel}" is ${f.size} bytes, over the ${limits.maxFileBytes}-byte limit per file`, 'maxFileBytes');
    bytes += f.size;
    if (bytes > limits.maxUnpackedBytes)
      throw new SnapshotTooLarge(`the unpacked snapshot is over the ${limits.maxUnpackedBytes}-byte limit`, 'maxUnpackedBytes');
    const known = contents.get(f.sha256);
    if (known !== undefined && known !== f.size)
      throw new SnapshotError(`"${rel}" has the hash of another file of ${known} bytes but says ${f.size}`);
    contents.set(f.sha256, f.size);
    kinds.record(rel, 'file', f.path);
    manifest.push({ path: rel, sha256: f.sha256, size: f.size, mode: f.mode & 0o111 ? 0o755 : 0o644, type: 'file' });
    mtimes.push(f.mtime);
  }
  checkLinksStayInside(links);
  return { manifest, mtimes, contents };
}

/** Plans waiting for their upload: each used once, gone at its expiry, the oldest dropped past `maxPending`. */
export class PlanRegistry {
  private readonly plans = new Map<string, PendingPlan>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxPending: number,
  ) {}

  add(plan: CheckedPlan, missing: Set<string>, baseId?: string): PendingPlan {
    this.sweep();
    while (this.plans.size >= this.maxPending) this.plans.delete(this.plans.keys().next().value!);
    const pending: PendingPlan = { ...plan, id: randomBytes(12).toString('hex'), missing, baseId, expiresAt: Date.now() + this.ttlMs };
    this.plans.set(pending.id, pending);
    return pending;
  }

  /** The plan, removed: a second upload on it is refused like an unknown one. */
  take(id: string): PendingPlan {
    this.sweep();
    const plan = this.plans.get(id);
    this.plans.delete(id);
    if (!plan)
      throw new SnapshotError(`plan "${id}" is unknown, expired or already used: ask for a new one (POST /api/snapshots/plan)`, {
        plan_id: id,
      });
    return plan;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, p] of this.plans) if (p.expiresAt <= now) this.plans.delete(id);
  }
}
