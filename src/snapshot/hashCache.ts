// The SHA-256 of each workspace file, remembered by (path, size, mtime, inode)
// so that a second Send reads only the files that changed. In memory, one
// cache per workspace folder, for as long as the extension host lives; the
// first Send after a start hashes the files while it uploads them whole.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { SnapshotEntry } from './snapshotBuilder';

interface CachedHash {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
  hashedAtMs: number;
}

/**
 * A write within the mtime's granularity after the file was hashed would
 * leave size and mtime alike (git's "racily clean" files): a hash taken less
 * than this long after the file's mtime is not trusted, and read again.
 */
const RACY_MS = 2000;
const HASH_CONCURRENCY = 8;

export class FileHashCache {
  private readonly files = new Map<string, CachedHash>();
  /** The server's last snapshot of this workspace (its contents are reused first). */
  lastSnapshotId?: string;

  get size(): number {
    return this.files.size;
  }

  /** The hash of a file unchanged since it was hashed, or undefined. */
  lookup(e: SnapshotEntry): string | undefined {
    const c = this.files.get(e.path);
    if (!c || c.size !== e.size || c.mtimeMs !== e.mtimeMs || c.ino !== e.ino) return undefined;
    if (c.hashedAtMs - c.mtimeMs < RACY_MS) return undefined;
    return c.sha256;
  }

  store(e: SnapshotEntry, sha256: string, hashedAtMs: number): void {
    this.files.set(e.path, { size: e.size, mtimeMs: e.mtimeMs, ino: e.ino, sha256, hashedAtMs });
  }

  /** Drops the files that are no longer in the workspace. */
  keepOnly(entries: readonly SnapshotEntry[]): void {
    if (this.files.size <= entries.length) return;
    const paths = new Set(entries.map((e) => e.path));
    for (const p of this.files.keys()) if (!paths.has(p)) this.files.delete(p);
  }
}

const caches = new Map<string, FileHashCache>();

/** The cache of one workspace folder (by its path). */
export function hashCacheFor(root: string): FileHashCache {
  let cache = caches.get(root);
  if (!cache) caches.set(root, (cache = new FileHashCache()));
  return cache;
}

export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const c of createReadStream(path)) hash.update(c as Buffer);
  return hash.digest('hex');
}

/**
 * The SHA-256 of each regular file of `entries` (by path), read from disk
 * only where the cache has no trusted hash; `onRead` counts those reads.
 */
export async function hashEntries(
  root: string,
  entries: readonly SnapshotEntry[],
  cache: FileHashCache,
  signal?: AbortSignal,
): Promise<{ hashes: Map<string, string>; read: number }> {
  const hashes = new Map<string, string>();
  const toRead: SnapshotEntry[] = [];
  for (const e of entries) {
    if (e.kind !== 'file') continue;
    const known = cache.lookup(e);
    if (known) hashes.set(e.path, known);
    else toRead.push(e);
  }
  let next = 0;
  const worker = async () => {
    while (next < toRead.length) {
      if (signal?.aborted) throw new Error('cancelled');
      const e = toRead[next++];
      const hashedAtMs = Date.now();
      const sha = await hashFile(join(root, e.path));
      cache.store(e, sha, hashedAtMs);
      hashes.set(e.path, sha);
    }
  };
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, toRead.length) }, worker));
  cache.keepOnly(entries);
  return { hashes, read: toRead.length };
}
