// The SHA-256 of each workspace file, remembered by (path, size, mtime, inode)
// so that a second Send reads only the files that changed, and the manifest
// of the last snapshot sent (a plan then names only what differs from it).
// One cache per workspace folder, kept in the extension's storage across
// restarts when a folder for it is set (setHashCacheStorage); the first Send
// ever hashes the files while it uploads them whole.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SnapshotPlanFile } from '@astraforge/contract/snapshotDelta';
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

/** The server's last snapshot of this workspace and its manifest, as the plan named it. */
export interface SentSnapshot {
  snapshotId: string;
  files: ReadonlyMap<string, SnapshotPlanFile>;
}

/** What the storage file holds (one per workspace folder); another version is ignored. */
interface Stored {
  v: 1;
  root: string;
  files: Array<[path: string, size: number, mtimeMs: number, ino: number, sha256: string, hashedAtMs: number]>;
  last?: { snapshotId: string; files: SnapshotPlanFile[] };
}

export class FileHashCache {
  private readonly files = new Map<string, CachedHash>();
  /** The server's last snapshot of this workspace (its contents are reused first, and a plan names what differs from it). */
  last?: SentSnapshot;
  private saving?: Promise<void>;

  /** `file`: where the cache is kept between extension hosts (none: in memory only). */
  constructor(private readonly file?: string) {}

  get size(): number {
    return this.files.size;
  }

  /** The paths of the files hashed so far (what the next listing most likely holds). */
  paths(): IterableIterator<string> {
    return this.files.keys();
  }

  /** Reads the cache a previous extension host kept for `root`; an unreadable or foreign file is ignored. */
  load(root: string): void {
    if (!this.file) return;
    let stored: Stored;
    try {
      stored = JSON.parse(readFileSync(this.file, 'utf8')) as Stored;
    } catch {
      return;
    }
    if (stored.v !== 1 || stored.root !== root || !Array.isArray(stored.files)) return;
    for (const [path, size, mtimeMs, ino, sha256, hashedAtMs] of stored.files)
      this.files.set(path, { size, mtimeMs, ino, sha256, hashedAtMs });
    if (stored.last) this.last = { snapshotId: stored.last.snapshotId, files: new Map(stored.last.files.map((f) => [f.path, f])) };
  }

  /** Writes the cache for the next extension host (whole, then renamed over the old one); one write at a time. */
  save(root: string): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    const write = async () => {
      const stored: Stored = {
        v: 1,
        root,
        files: [...this.files].map(([p, c]) => [p, c.size, c.mtimeMs, c.ino, c.sha256, c.hashedAtMs]),
        ...(this.last ? { last: { snapshotId: this.last.snapshotId, files: [...this.last.files.values()] } } : {}),
      };
      const tmp = `${file}.${process.pid}.tmp`;
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      await writeFile(tmp, JSON.stringify(stored), { mode: 0o600 });
      await rename(tmp, file);
    };
    const next = (this.saving ?? Promise.resolve()).then(write, write).catch(() => undefined);
    this.saving = next;
    return next;
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
let storage: string | undefined;

/**
 * Keeps every workspace folder's cache in `dir` (the extension's global
 * storage), one file per folder, so the first Send after a restart is
 * incremental too. Caches already made stay where they are.
 */
export function setHashCacheStorage(dir: string | undefined): void {
  storage = dir;
}

/** What a restart of the extension host does: the caches in memory go, those in the storage stay (for tests). */
export function forgetHashCaches(): void {
  caches.clear();
}

/** The cache of one workspace folder (by its path), read from the storage the first time. */
export function hashCacheFor(root: string): FileHashCache {
  let cache = caches.get(root);
  if (!cache) {
    const file = storage ? join(storage, `${createHash('sha256').update(root).digest('hex').slice(0, 24)}.json`) : undefined;
    caches.set(root, (cache = new FileHashCache(file)));
    cache.load(root);
  }
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
