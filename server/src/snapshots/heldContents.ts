// Which file contents this server already holds, for incremental snapshots:
// those of the few most recent snapshots (and of the one a client names as its
// previous), read from their own canonical archives. There is no blob store
// apart from the archives, so contents go when their snapshots do (the
// janitor's rules), and a plan can only reuse what this server's own
// snapshots hold.
import type { SnapshotManifestEntry } from './canonicalArchive';
import { scanArchive, type ArchiveSpan } from './tarFraming';

interface HeldSnapshot {
  manifest: ReadonlyMap<string, SnapshotManifestEntry>;
  /** Where each entry lies in its archive: recorded when the server assembled it, else read from the archive when first needed. */
  spans?: Map<string, ArchiveSpan>;
}

/** Where a content lies: a snapshot's archive and the entry that holds it there. */
export interface HeldContent {
  snapshotId: string;
  path: string;
}

export interface HeldSource {
  /** The snapshot's manifest by path; throws SnapshotGone when it is no longer kept. */
  manifest(id: string): ReadonlyMap<string, SnapshotManifestEntry>;
  /** The path of its archive (marked as used); throws SnapshotGone when it is no longer kept. */
  archivePath(id: string): string;
}

export class HeldContents {
  private readonly snapshots = new Map<string, HeldSnapshot>();
  private byHash = new Map<string, HeldContent>();

  constructor(
    private readonly source: HeldSource,
    /** How many snapshots' contents are indexed at once (each costs its manifest in memory). */
    private readonly keep: number,
  ) {}

  /** A snapshot just stored: the newest, its contents first in line. */
  remember(id: string, manifest: readonly SnapshotManifestEntry[], spans?: Map<string, ArchiveSpan>): void {
    this.snapshots.delete(id);
    this.snapshots.set(id, { manifest: new Map(manifest.map((e) => [e.path, e])), spans });
    while (this.snapshots.size > this.keep) this.snapshots.delete(this.snapshots.keys().next().value!);
    this.reindex();
  }

  /** Indexes a kept snapshot a client names as its previous one, if it is not already; false when it is not kept. */
  include(id: string): boolean {
    if (this.snapshots.has(id)) return true;
    let manifest: ReadonlyMap<string, SnapshotManifestEntry>;
    try {
      manifest = this.source.manifest(id);
    } catch {
      return false;
    }
    if (manifest.size === 0) return false;
    this.remember(id, [...manifest.values()]);
    return true;
  }

  forget(id: string): void {
    if (this.snapshots.delete(id)) this.reindex();
  }

  get(sha256: string): HeldContent | undefined {
    return this.byHash.get(sha256);
  }

  manifestOf(id: string): ReadonlyMap<string, SnapshotManifestEntry> | undefined {
    return this.snapshots.get(id)?.manifest;
  }

  /** Where the entries of a held snapshot lie in its archive. */
  spansOf(id: string): Map<string, ArchiveSpan> {
    const held = this.snapshots.get(id);
    if (!held) throw new Error(`snapshot ${id} is not held`);
    held.spans ??= scanArchive(this.source.archivePath(id));
    return held.spans;
  }

  /** Newest first, so a content is found in the most recent archive that has it. */
  private reindex(): void {
    const byHash = new Map<string, HeldContent>();
    for (const [snapshotId, held] of [...this.snapshots].reverse())
      for (const e of held.manifest.values())
        if (e.type === 'file' && !byHash.has(e.sha256)) byHash.set(e.sha256, { snapshotId, path: e.path });
    this.byHash = byHash;
  }
}
