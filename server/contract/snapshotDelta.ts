// Incremental snapshots: the client sends the workspace's manifest (each
// file's path, mode, size, mtime and content hash), the server answers which
// contents it does not hold, and the upload that follows carries only those.
// The snapshot the server assembles is the one a full upload of the same
// files gives (same archive, same manifest), answered as SnapshotResult.
import { z } from 'zod';

export const Sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe('SHA-256 of the content (of the target, for a symlink), lowercase hex');

export const SnapshotPlanFile = z
  .object({
    /** Relative, '/'-separated, no '.' or '..' parts: the path as the archive would name it. */
    path: z.string().min(1).max(4096),
    type: z.enum(['file', 'symlink']),
    /** Only the x bits count (0o755 or 0o644 in the snapshot); a symlink's is ignored. */
    mode: z.number().int().min(0).max(0o7777),
    /** Bytes of content; 0 for a symlink. */
    size: z.number().int().min(0),
    sha256: Sha256Hex,
    /** The file's mtime, seconds since the epoch (the archive's header keeps it). */
    mtime: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1),
    link_target: z.string().min(1).max(4096).optional(),
  })
  .strict();
export type SnapshotPlanFile = z.infer<typeof SnapshotPlanFile>;

/** The whole manifest: for a client with no base the server still holds. */
export const SnapshotPlanWhole = z
  .object({
    /** Every entry of the snapshot, in the order the archive holds them. */
    files: z.array(SnapshotPlanFile).max(1_000_000),
    /** The client's previous snapshot of this workspace: its contents are reused first. */
    base_snapshot_id: z.string().min(1).max(64).optional(),
  })
  .strict();

/**
 * Only what differs from a snapshot the server keeps: its entries, with
 * `changed` set (added or replaced) and `removed` dropped, in path order
 * (comparePaths). A base the server no longer keeps is answered 410
 * SESSION_EXPIRED; the client then sends the whole manifest.
 */
export const SnapshotPlanChanges = z
  .object({
    base_snapshot_id: z.string().min(1).max(64),
    changed: z.array(SnapshotPlanFile).max(1_000_000),
    removed: z.array(z.string().min(1).max(4096)).max(1_000_000),
  })
  .strict();

export const SnapshotPlanRequest = z.union([SnapshotPlanWhole, SnapshotPlanChanges]);
export type SnapshotPlanRequest = z.infer<typeof SnapshotPlanRequest>;
export type SnapshotPlanChanges = z.infer<typeof SnapshotPlanChanges>;

/**
 * The order of a snapshot's entries when a plan names only changes: by path,
 * compared as JavaScript strings (UTF-16 code units). A client that sends
 * its whole tar in this order gets the same archive either way.
 */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export const SnapshotPlan = z.object({
  /** Names the plan in POST /api/snapshots?plan=; good once, until expires_at. */
  plan_id: z.string(),
  /** The contents to upload, each once: a tar whose entries are files named by their hash. */
  missing: z.array(Sha256Hex),
  /** Bytes those contents hold. */
  missing_bytes: z.number().int(),
  expires_at: z.string().describe('RFC 3339 timestamp'),
});
export type SnapshotPlan = z.infer<typeof SnapshotPlan>;

export const SnapshotUploadQuery = z
  .object({
    /** A plan from POST /api/snapshots/plan: the body then holds only its missing contents. */
    plan: z.string().min(1).max(64).optional(),
  })
  .strict();
export type SnapshotUploadQuery = z.infer<typeof SnapshotUploadQuery>;
