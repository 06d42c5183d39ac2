// Incremental snapshots, the store's second way in: a plan (the whole
// manifest, or only what differs from a snapshot the server keeps) checked
// as an upload's entries are, then the upload of the contents the server
// lacks. Near a kept snapshot, the new one is stored as a delta over that
// one's full archive (deltaArchive.ts: only what changed is written);
// otherwise its full canonical archive is assembled from the uploaded
// contents and the kept archives (deltaIngest.ts), the same bytes a full
// upload of the same files gives.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  comparePaths,
  type SnapshotPlan,
  type SnapshotPlanChanges,
  type SnapshotPlanFile,
  type SnapshotPlanRequest,
} from '@astraforge/contract/snapshotDelta';
import type { ArchiveLimits, SnapshotManifestEntry } from './canonicalArchive';
import { BASE_ARCHIVE, BASE_MANIFEST, DELTA_INFO, deltaOver, type DeltaInfo } from './deltaArchive';
import { assembleArchive, receiveContents, type ArchiveEntry } from './deltaIngest';
import type { HeldContents } from './heldContents';
import { SnapshotError } from './snapshotError';
import { checkPlan, PlanRegistry } from './snapshotPlans';
import type { ArchiveSpan } from './tarFraming';

/** How long a plan waits for its upload, and how many may wait at once. */
const PLAN_TTL_MS = 10 * 60_000;
const MAX_PENDING_PLANS = 16;
/** A snapshot is kept as a delta while what differs is at most this share of its bytes and of its entries. */
const DELTA_MAX_SHARE = 0.25;
const ARCHIVE = 'snapshot.tar';

/** What the snapshot store lends the planned uploads: its folders, limits and kept contents. */
export interface SnapshotFolders {
  readonly dir: string;
  readonly limits: ArchiveLimits;
  readonly held: HeldContents;
  /** True for a snapshot id this store keeps (complete). */
  kept(id: string): boolean;
  deltaInfo(id: string): DeltaInfo | undefined;
  /** The archives that hold a snapshot's entries, its own first (marked as used). */
  archivesOf(id: string): string[];
  /** A snapshot folder is being written: the janitor leaves it alone. */
  begin(id: string): void;
  /** A refused upload: its folder removed, what the client still sends drained. */
  abandon(id: string, body: NodeJS.ReadableStream, source: PassThrough): void;
  /** The archive is in place: manifest and info written, contents reusable. */
  stored(id: string, manifest: SnapshotManifestEntry[]): { snapshot_id: string; files: number; bytes: number };
}

/** A plan's base the server no longer keeps: answered 410 so that the client sends its whole manifest instead. */
export class PlanBaseGone extends SnapshotError {
  override readonly code = 'SESSION_EXPIRED' as const;

  constructor(id: string) {
    super(`snapshot "${id}" is no longer kept: send the whole manifest (files) instead of the changes from it`, {
      base_snapshot_id: id,
    });
    this.name = 'PlanBaseGone';
  }
}

export class PlannedUploads {
  private readonly plans = new PlanRegistry(PLAN_TTL_MS, MAX_PENDING_PLANS);
  /** The manifest of the full archive the last delta was compared with. */
  private baseManifest?: { owner: string; manifest: ReadonlyMap<string, SnapshotManifestEntry> };
  /** The entries (mtimes included) of the last snapshot made from a plan: the next plan of changes is most likely over it. */
  private lastFiles?: { id: string; files: ReadonlyMap<string, SnapshotPlanFile> };

  constructor(private readonly store: SnapshotFolders) {}

  /**
   * The first half of an incremental snapshot: checks the whole resulting
   * manifest as an upload's entries are checked, and answers which contents
   * the upload must carry (those no kept snapshot of this server holds).
   */
  plan(req: SnapshotPlanRequest): SnapshotPlan {
    const files = 'files' in req ? req.files : this.applyChanges(req);
    const checked = checkPlan(files, this.store.limits);
    const named = req.base_snapshot_id;
    const held = this.store.held;
    held.retain((id) => this.store.kept(id));
    const baseId = named && this.store.kept(named) && held.include(named) ? named : held.newest();
    const missing = new Set<string>();
    let missingBytes = 0;
    for (const [sha, size] of checked.contents)
      if (!held.has(sha)) {
        missing.add(sha);
        missingBytes += size;
      }
    const plan = this.plans.add(checked, missing, baseId);
    return { plan_id: plan.id, missing: [...missing], missing_bytes: missingBytes, expires_at: new Date(plan.expiresAt).toISOString() };
  }

  /** The second half: the plan's missing contents (a tar of files named by hash), then the snapshot assembled. */
  async ingest(
    planId: string,
    body: NodeJS.ReadableStream,
    opts: { gzip: boolean },
  ): Promise<{ snapshot_id: string; files: number; bytes: number }> {
    const { dir, limits, held } = this.store;
    const id = randomBytes(12).toString('hex');
    const root = join(dir, id);
    const source = new PassThrough();
    const onBodyError = (e: Error) => source.destroy(e);
    body.once('error', onBodyError);
    body.pipe(source);
    this.store.begin(id);
    try {
      const plan = this.plans.take(planId);
      const incoming = join(root, 'incoming');
      mkdirSync(incoming, { recursive: true, mode: 0o700 });
      await receiveContents(source, opts.gzip, plan, incoming, limits);
      const entries: ArchiveEntry[] = plan.manifest.map((entry, i) => ({ entry, mtime: plan.mtimes[i] }));
      const kept = plan.baseId ? this.fullArchiveOf(plan.baseId) : undefined;
      const near = kept && this.nearDelta(entries, kept);
      if (kept && near) {
        linkSync(kept.archive, join(root, BASE_ARCHIVE));
        linkSync(kept.manifest, join(root, BASE_MANIFEST));
        const spans = await assembleArchive(near.delta, plan.missing, held, incoming, join(root, ARCHIVE));
        writeFileSync(join(root, DELTA_INFO), JSON.stringify({ base: kept.owner, dropped: near.dropped } satisfies DeltaInfo));
        held.recordSpans(join(root, ARCHIVE), spans);
      } else {
        const spans = await assembleArchive(entries, plan.missing, held, incoming, join(root, ARCHIVE));
        held.recordSpans(join(root, ARCHIVE), spans);
      }
      rmSync(incoming, { recursive: true, force: true });
      const info = this.store.stored(id, plan.manifest);
      this.lastFiles = { id, files: new Map(entries.map((a) => [a.entry.path, planFileOf(a.entry, a.mtime)])) };
      return info;
    } catch (e) {
      this.store.abandon(id, body, source);
      if (e instanceof SnapshotError) throw e;
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as { code?: string }).code === 'SESSION_EXPIRED')
        throw new SnapshotError(`the contents this plan reuses are no longer kept: ask for a new plan`, { plan_id: planId });
      throw new SnapshotError(`not a valid ${opts.gzip ? 'gzip-compressed ' : ''}tar archive: ${(e as Error).message}`);
    } finally {
      body.off('error', onBodyError);
    }
  }

  /**
   * The whole manifest a plan of changes stands for: the base's entries (with
   * the mtimes its archive holds), `removed` dropped, `changed` set, in path
   * order. Every entry is then checked as a whole manifest's are, so a link
   * that the changes make lead out through a base's link is refused too.
   */
  private applyChanges(req: SnapshotPlanChanges): SnapshotPlanFile[] {
    const base = this.filesOf(req.base_snapshot_id);
    const files = new Map(base);
    for (const path of req.removed)
      if (!files.delete(path)) throw new SnapshotError(`removed "${path}" is not an entry of snapshot "${req.base_snapshot_id}"`);
    const changed = new Set<string>();
    for (const f of req.changed) {
      if (changed.has(f.path)) throw new SnapshotError(`"${f.path}" is listed twice in changed`);
      if (base.has(f.path) && !files.has(f.path)) throw new SnapshotError(`"${f.path}" is both removed and changed`);
      changed.add(f.path);
      files.set(f.path, f);
    }
    return [...files.values()].sort((a, b) => comparePaths(a.path, b.path));
  }

  /** A kept snapshot's entries as a plan names them, by path; PlanBaseGone when it is not kept. */
  private filesOf(id: string): ReadonlyMap<string, SnapshotPlanFile> {
    if (this.lastFiles?.id === id && this.store.kept(id)) return this.lastFiles.files;
    if (!this.store.kept(id) || !this.store.held.include(id)) throw new PlanBaseGone(id);
    const manifest = this.store.held.manifestOf(id);
    let archives: string[];
    try {
      archives = this.store.archivesOf(id);
    } catch {
      throw new PlanBaseGone(id);
    }
    if (!manifest) throw new PlanBaseGone(id);
    // A delta's own archive holds what differs from its base archive; the rest is as the base holds it.
    const spans: ReadonlyMap<string, ArchiveSpan>[] = archives.map((a) => this.store.held.spansOf(a));
    const files = new Map<string, SnapshotPlanFile>();
    for (const e of manifest.values()) {
      const span = spans[0].get(e.path) ?? spans[1]?.get(e.path);
      if (!span) throw new PlanBaseGone(id);
      files.set(e.path, planFileOf(e, span.mtime));
    }
    return files;
  }

  /** The full archive a snapshot stands on (its own, or its delta's base) and that archive's manifest. */
  private fullArchiveOf(id: string): { owner: string; archive: string; manifest: string } | undefined {
    if (!this.store.kept(id)) return undefined;
    const root = join(this.store.dir, id);
    const delta = this.store.deltaInfo(id);
    if (delta) return { owner: delta.base, archive: join(root, BASE_ARCHIVE), manifest: join(root, BASE_MANIFEST) };
    return { owner: id, archive: join(root, ARCHIVE), manifest: join(root, 'manifest.json') };
  }

  /** The delta of `entries` over a full archive, when it is small enough to keep as one. */
  private nearDelta(entries: readonly ArchiveEntry[], kept: { owner: string; archive: string; manifest: string }) {
    const held = this.store.held;
    let manifest = held.manifestOf(kept.owner) ?? (this.baseManifest?.owner === kept.owner ? this.baseManifest.manifest : undefined);
    try {
      manifest ??= new Map((JSON.parse(readFileSync(kept.manifest, 'utf8')) as SnapshotManifestEntry[]).map((e) => [e.path, e]));
    } catch {
      return undefined;
    }
    // Every Send of a workspace compares with the same full archive until one is far enough to get its own.
    this.baseManifest = { owner: kept.owner, manifest };
    const d = deltaOver(entries, manifest, held.spansOf(kept.archive));
    const bytes = entries.reduce((n, a) => n + a.entry.size, 0);
    if (d.deltaBytes > bytes * DELTA_MAX_SHARE || d.delta.length + d.dropped.length > entries.length * DELTA_MAX_SHARE) return undefined;
    return d;
  }
}

/** A manifest entry and its mtime, as a plan names it. */
function planFileOf(e: SnapshotManifestEntry, mtime: number): SnapshotPlanFile {
  return e.type === 'symlink'
    ? { path: e.path, type: 'symlink', mode: 0o777, size: 0, sha256: e.sha256, mtime, link_target: e.linkTarget }
    : { path: e.path, type: 'file', mode: e.mode, size: e.size, sha256: e.sha256, mtime };
}
