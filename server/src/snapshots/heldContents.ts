// Which file contents this server already holds, for incremental snapshots:
// those of the few most recent snapshots (and of the one a client names as its
// previous), found in their own archives. There is no blob store apart from
// the archives, so contents go when their snapshots do (the janitor's rules),
// and a plan can only reuse what this server's own snapshots hold.
import { statSync } from 'node:fs';
import type { SnapshotManifestEntry } from './canonicalArchive';
import { scanArchive, type ArchiveSpan } from './tarFraming';

/** Where a content lies: an archive file and its entry there. */
export interface HeldContent {
  file: string;
  span: ArchiveSpan;
  /** The path of that entry. */
  path: string;
}

export interface HeldSource {
  /** The snapshot's manifest by path; throws when it is no longer kept. */
  manifest(id: string): ReadonlyMap<string, SnapshotManifestEntry>;
  /** The archives that hold its entries, its own first (marked as used); throws when it is no longer kept. */
  archivesOf(id: string): string[];
}

/** Archives whose framing is kept in memory (each costs a few MB for 20,000 entries). */
const CACHED_SPANS = 6;

interface HeldSnapshot {
  manifest: ReadonlyMap<string, SnapshotManifestEntry>;
  /** Each content it holds: the first path that has it. */
  byHash: Map<string, string>;
}

export class HeldContents {
  private readonly snapshots = new Map<string, HeldSnapshot>();
  private readonly spans = new Map<string, Map<string, ArchiveSpan>>();

  constructor(
    private readonly source: HeldSource,
    /** How many snapshots' contents are indexed at once (each costs its manifest in memory). */
    private readonly keep: number,
  ) {}

  /** A snapshot just stored: the newest, its contents first in line. */
  remember(id: string, manifest: readonly SnapshotManifestEntry[]): void {
    const byHash = new Map<string, string>();
    for (const e of manifest) if (e.type === 'file' && !byHash.has(e.sha256)) byHash.set(e.sha256, e.path);
    this.snapshots.delete(id);
    this.snapshots.set(id, { manifest: new Map(manifest.map((e) => [e.path, e])), byHash });
    while (this.snapshots.size > this.keep) this.snapshots.delete(this.snapshots.keys().next().value!);
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
    this.snapshots.delete(id);
  }

  /** Forgets the held snapshots that are gone however they went (a plan must not count on their contents). */
  retain(kept: (id: string) => boolean): void {
    for (const id of [...this.snapshots.keys()]) if (!kept(id)) this.snapshots.delete(id);
  }

  has(sha256: string): boolean {
    for (const held of this.snapshots.values()) if (held.byHash.has(sha256)) return true;
    return false;
  }

  /** A held snapshot's manifest (parsed already), if it is held. */
  manifestOf(id: string): ReadonlyMap<string, SnapshotManifestEntry> | undefined {
    return this.snapshots.get(id)?.manifest;
  }

  /** The newest held snapshot (the base of an incremental one when the client names none). */
  newest(): string | undefined {
    return [...this.snapshots.keys()].at(-1);
  }

  /** Where a content lies, preferring an entry at the same path (whose header may then be the same bytes). */
  locate(sha256: string, path: string): HeldContent | undefined {
    const newestFirst = [...this.snapshots].reverse();
    for (const [id, held] of newestFirst) {
      if (held.manifest.get(path)?.sha256 !== sha256) continue;
      const found = this.find(id, path);
      if (found) return found;
    }
    for (const [id, held] of newestFirst) {
      const there = held.byHash.get(sha256);
      const found = there === undefined ? undefined : this.find(id, there);
      if (found) return found;
    }
    return undefined;
  }

  /** Where the entries of an archive this server wrote lie, read once and cached by inode (a hard link is the same archive). */
  spansOf(file: string): Map<string, ArchiveSpan> {
    const st = statSync(file);
    const key = `${st.dev}:${st.ino}`;
    let spans = this.spans.get(key);
    if (spans) {
      this.spans.delete(key);
    } else spans = scanArchive(file);
    this.spans.set(key, spans);
    while (this.spans.size > CACHED_SPANS) this.spans.delete(this.spans.keys().next().value!);
    return spans;
  }

  /** Records the framing of an archive just written (so the next plan needs no scan). */
  recordSpans(file: string, spans: Map<string, ArchiveSpan>): void {
    const st = statSync(file);
    this.spans.set(`${st.dev}:${st.ino}`, spans);
    while (this.spans.size > CACHED_SPANS) this.spans.delete(this.spans.keys().next().value!);
  }

  private find(snapshotId: string, path: string): HeldContent | undefined {
    let archives: string[];
    try {
      archives = this.source.archivesOf(snapshotId);
    } catch {
      return undefined;
    }
    for (const file of archives) {
      const span = this.spansOf(file).get(path);
      if (span?.type === 'file') return { file, span, path };
    }
    return undefined;
  }
}
