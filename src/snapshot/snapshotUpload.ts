// Sending a workspace snapshot: the whole tar the first time (its files
// hashed as they go), then only what changed. An incremental Send hashes only
// the files whose size, mtime or inode moved (the cache has the rest), names
// in its plan only the entries that differ from the last snapshot it sent
// (the whole manifest when the server no longer keeps that one), the server
// answers which contents it lacks, and the tar carries those alone. Whatever
// else goes wrong on that path falls back to the whole tar, which the server
// checks the same way.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import type { SnapshotResult } from '@astraforge/contract/runApi';
import type { SnapshotPlan, SnapshotPlanChanges, SnapshotPlanFile, SnapshotPlanRequest } from '@astraforge/contract/snapshotDelta';
import { hashCacheFor, hashEntries, type FileHashCache, type SentSnapshot } from './hashCache';
import { mtimeSeconds, WorkspaceTar, type SnapshotEntry } from './snapshotBuilder';

/** The two requests of the snapshot API, as the typed client makes them. */
export interface SnapshotTransport {
  /** POST /api/snapshots/plan; undefined when a plan of changes names a base the server no longer keeps (410). */
  plan(req: SnapshotPlanRequest, signal?: AbortSignal): Promise<SnapshotPlan | undefined>;
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
  /** Entries the plan named: those that differ from the last snapshot, or all when it had none the server kept. */
  planned?: number;
  /** Why an incremental Send fell back to the whole tar. */
  fellBack?: string;
}

export async function sendSnapshot(t: SnapshotTransport, tar: WorkspaceTar, signal?: AbortSignal): Promise<SendReport> {
  const cache = hashCacheFor(tar.root);
  // The first Send of this workspace: nothing to compare with, so the whole tar, hashed as it goes.
  if (cache.size === 0 && !cache.last) return sendWhole(t, tar, cache, signal);
  try {
    return await sendChanges(t, tar, cache, signal);
  } catch (e) {
    if (signal?.aborted) throw e;
    const report = await sendWhole(t, tar, cache, signal);
    return { ...report, fellBack: (e as Error).message };
  }
}

async function sendWhole(t: SnapshotTransport, tar: WorkspaceTar, cache: FileHashCache, signal?: AbortSignal): Promise<SendReport> {
  const { onHashed, onLink } = tar.options;
  const hashes = new Map<string, string>();
  const targets = new Map<string, string>();
  const whole = new WorkspaceTar(tar.root, tar.plan, {
    ...tar.options,
    onHashed: (e, sha, at) => {
      cache.store(e, sha, at);
      hashes.set(e.path, sha);
      onHashed?.(e, sha, at);
    },
    onLink: (e, target) => {
      targets.set(e.path, target);
      onLink?.(e, target);
    },
  });
  const result = await t.upload(whole, undefined, signal);
  // The manifest as it was packed (a file's hash is of the bytes sent, a link's target as read then).
  const files = tar.plan.entries.map((e) =>
    e.kind === 'symlink' ? planFileOf(e, sha256(targets.get(e.path)!), targets.get(e.path)) : planFileOf(e, hashes.get(e.path)!),
  );
  remember(cache, tar.root, result, files);
  const count = tar.plan.entries.filter((e) => e.kind === 'file').length;
  return { result, mode: 'full', hashed: count, uploaded: count };
}

async function sendChanges(t: SnapshotTransport, tar: WorkspaceTar, cache: FileHashCache, signal?: AbortSignal): Promise<SendReport> {
  const { root, plan } = tar;
  const { hashes, read } = await hashEntries(root, plan.entries, cache, signal);
  const files: SnapshotPlanFile[] = [];
  const firstWith = new Map<string, SnapshotEntry>();
  for (const e of plan.entries) {
    if (e.kind === 'symlink') {
      const target = await readlink(join(root, e.path));
      files.push(planFileOf(e, sha256(target), target));
      continue;
    }
    const sha = hashes.get(e.path)!;
    if (!firstWith.has(sha)) firstWith.set(sha, e);
    files.push(planFileOf(e, sha));
  }
  const changes = cache.last && changesFrom(cache.last, files);
  let answer = changes && (await t.plan(changes, signal));
  let planned = changes ? changes.changed.length + changes.removed.length : 0;
  if (!answer) {
    // No base, or the server no longer keeps it: the whole manifest (its contents are still reused).
    answer = await t.plan({ files, ...(cache.last ? { base_snapshot_id: cache.last.snapshotId } : {}) }, signal);
    planned = files.length;
  }
  if (!answer) throw new Error('the server answered a plan of the whole manifest as one of changes');
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
  remember(cache, root, result, files);
  return { result, mode: 'incremental', hashed: read, uploaded: answer.missing.length, planned };
}

/** The plan of what differs from the last snapshot sent: entries added or changed in any field, paths gone. */
function changesFrom(last: SentSnapshot, files: readonly SnapshotPlanFile[]): SnapshotPlanChanges {
  const changed: SnapshotPlanFile[] = [];
  const present = new Set<string>();
  for (const f of files) {
    present.add(f.path);
    const was = last.files.get(f.path);
    if (
      !was ||
      was.type !== f.type ||
      was.mode !== f.mode ||
      was.size !== f.size ||
      was.sha256 !== f.sha256 ||
      was.mtime !== f.mtime ||
      was.link_target !== f.link_target
    )
      changed.push(f);
  }
  const removed: string[] = [];
  for (const path of last.files.keys()) if (!present.has(path)) removed.push(path);
  return { base_snapshot_id: last.snapshotId, changed, removed };
}

/** The snapshot the server now holds, and its manifest: what the next Send's plan is compared with (kept for the next host too). */
function remember(cache: FileHashCache, root: string, result: SnapshotResult, files: SnapshotPlanFile[]): void {
  cache.last = { snapshotId: result.snapshot_id, files: new Map(files.map((f) => [f.path, f])) };
  // Written once the Send has answered its caller: serializing 20,000 entries is not part of the Send.
  setImmediate(() => void cache.save(root));
}

function planFileOf(e: SnapshotEntry, sha: string, target?: string): SnapshotPlanFile {
  const mtime = mtimeSeconds(e);
  return e.kind === 'symlink'
    ? { path: e.path, type: 'symlink', mode: 0o777, size: 0, sha256: sha, mtime, link_target: target }
    : { path: e.path, type: 'file', mode: e.mode, size: e.size, sha256: sha, mtime };
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
