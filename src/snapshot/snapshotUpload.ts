// Sending a workspace snapshot: the whole tar the first time (its files
// hashed as they go), then only what changed. An incremental Send lists the
// manifest with each file's hash (from the cache; only changed files are
// read), the server answers which contents it lacks, and the tar carries
// those alone. Whatever goes wrong on that path falls back to the whole tar,
// which the server checks the same way.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import type { SnapshotResult } from '@astraforge/contract/runApi';
import type { SnapshotPlan, SnapshotPlanFile, SnapshotPlanRequest } from '@astraforge/contract/snapshotDelta';
import { hashCacheFor, hashEntries, type FileHashCache } from './hashCache';
import { mtimeSeconds, WorkspaceTar, type SnapshotEntry } from './snapshotBuilder';

/** The two requests of the snapshot API, as the typed client makes them. */
export interface SnapshotTransport {
  plan(req: SnapshotPlanRequest, signal?: AbortSignal): Promise<SnapshotPlan>;
  /** POST /api/snapshots (with ?plan= when `planId` is given) of a tar stream. */
  upload(body: AsyncIterable<Uint8Array>, planId: string | undefined, signal?: AbortSignal): Promise<SnapshotResult>;
}

/** What a Send did, for the log and the bench. */
export interface SendReport {
  result: SnapshotResult;
  mode: 'full' | 'incremental';
  /** Files whose content was read to hash them (the rest came from the cache). */
  hashed: number;
  /** Contents sent (files, for a full upload). */
  uploaded: number;
  /** Why an incremental Send fell back to the whole tar. */
  fellBack?: string;
}

export async function sendSnapshot(t: SnapshotTransport, tar: WorkspaceTar, signal?: AbortSignal): Promise<SendReport> {
  const cache = hashCacheFor(tar.root);
  // The first Send of this workspace (in this extension host): nothing to compare with, so the whole tar, hashed as it goes.
  if (cache.size === 0) return sendWhole(t, tar, cache, signal);
  try {
    return await sendChanges(t, tar, cache, signal);
  } catch (e) {
    if (signal?.aborted) throw e;
    const report = await sendWhole(t, tar, cache, signal);
    return { ...report, fellBack: (e as Error).message };
  }
}

async function sendWhole(t: SnapshotTransport, tar: WorkspaceTar, cache: FileHashCache, signal?: AbortSignal): Promise<SendReport> {
  const learn = tar.options.onHashed;
  const whole = new WorkspaceTar(tar.root, tar.plan, {
    ...tar.options,
    onHashed: (e, sha, at) => {
      cache.store(e, sha, at);
      learn?.(e, sha, at);
    },
  });
  const result = await t.upload(whole, undefined, signal);
  cache.lastSnapshotId = result.snapshot_id;
  const files = tar.plan.entries.filter((e) => e.kind === 'file').length;
  return { result, mode: 'full', hashed: files, uploaded: files };
}

async function sendChanges(t: SnapshotTransport, tar: WorkspaceTar, cache: FileHashCache, signal?: AbortSignal): Promise<SendReport> {
  const { root, plan } = tar;
  const { hashes, read } = await hashEntries(root, plan.entries, cache, signal);
  const files: SnapshotPlanFile[] = [];
  const firstWith = new Map<string, SnapshotEntry>();
  for (const e of plan.entries) {
    const mtime = mtimeSeconds(e);
    if (e.kind === 'symlink') {
      const target = await readlink(join(root, e.path));
      files.push({ path: e.path, type: 'symlink', mode: 0o777, size: 0, sha256: sha256(target), mtime, link_target: target });
      continue;
    }
    const sha = hashes.get(e.path)!;
    if (!firstWith.has(sha)) firstWith.set(sha, e);
    files.push({ path: e.path, type: 'file', mode: e.mode, size: e.size, sha256: sha, mtime });
  }
  const answer = await t.plan({ files, ...(cache.lastSnapshotId ? { base_snapshot_id: cache.lastSnapshotId } : {}) }, signal);
  const contents = packContents(
    root,
    answer.missing.map((sha) => {
      const e = firstWith.get(sha);
      if (!e) throw new Error(`the server asked for a content this workspace does not hold (${sha})`);
      return { sha, entry: e };
    }),
    tar,
  );
  const result = await t.upload(contents, answer.plan_id, signal);
  cache.lastSnapshotId = result.snapshot_id;
  return { result, mode: 'incremental', hashed: read, uploaded: answer.missing.length };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A tar of the missing contents, each a file named by its hash, read as the upload pulls. */
function packContents(root: string, missing: Array<{ sha: string; entry: SnapshotEntry }>, tar: WorkspaceTar): AsyncIterable<Uint8Array> {
  const out = pack();
  let sent = 0;
  void (async () => {
    try {
      for (const { sha, entry } of missing) {
        if (tar.options.signal?.aborted) throw new Error('cancelled');
        const sink = out.entry({ name: sha, size: entry.size, mode: 0o644, type: 'file' });
        await pipeline(createReadStream(join(root, entry.path)), sink);
        sent += entry.size;
        tar.options.onProgress?.(sent);
      }
      out.finalize();
    } catch (err) {
      out.destroy(err as Error);
    }
  })();
  return out as unknown as AsyncIterable<Uint8Array>;
}
