// Workspace snapshots on disk: <dir>/<id>/{snapshot.tar, manifest.json,
// info.json}. An upload streams through the validator, which writes a
// canonical archive of what it accepted (canonicalArchive.ts): nothing is held
// whole in memory, and a run later extracts only that archive into its
// workspace. Beside snapshot layers, a full upload is also unpacked as it
// streams in (stagedTree.ts) for its layer to take. The archive's mtime is
// when the snapshot was last used, for the janitor (snapshotJanitor.ts).
//
// Incremental snapshots (plan, then ingestPlanned) take only the contents the
// server lacks: plannedUploads.ts, over this store's folders.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { extract } from 'tar-stream';
import { AppError } from '../errors';
import { cleanPath } from './archivePaths';
import { repackValidated, type ArchiveLimits, type SnapshotManifestEntry } from './canonicalArchive';
import { BASE_ARCHIVE, DELTA_INFO, extractDelta, type DeltaInfo } from './deltaArchive';
import { HeldContents } from './heldContents';
import { PlannedUploads } from './plannedUploads';
import type { TreeStaging } from './stagedTree';
import { StagedTrees } from './stagedTrees';
import { scanArchive } from './tarFraming';
import type { SnapshotPlan, SnapshotPlanRequest } from '@astraforge/contract/snapshotDelta';
import { SnapshotError } from './snapshotError';

export { SnapshotError, SnapshotTooLarge } from './snapshotError';
export type { ArchiveLimits as SnapshotLimits, SnapshotManifestEntry } from './canonicalArchive';

const execFileAsync = promisify(execFile);

export interface SnapshotInfo {
  snapshot_id: string;
  files: number;
  bytes: number;
}

/** A stored snapshot as the janitor sees it. */
export interface StoredSnapshot {
  id: string;
  /** Bytes it holds on disk (its archive and manifest). */
  diskBytes: number;
  /** When it was uploaded, or last extracted or read from (ms since the epoch). */
  lastUsedMs: number;
  /** False for a folder an upload left behind unfinished (a crash mid-ingest). */
  complete: boolean;
}

const ID_PATTERN = /^[a-f0-9]{24}$/;
const ARCHIVE = 'snapshot.tar';
/** Snapshots whose contents plans reuse: the newest few (a workspace's previous Send is among them). */
const HELD_SNAPSHOTS = 4;

/** The answer for a run whose snapshot the retention rules removed. */
export class SnapshotGone extends AppError {
  constructor(id: string) {
    super(
      'SESSION_EXPIRED',
      `snapshot "${id}" is no longer kept (removed by the retention rules, snapshots.retentionDays and snapshots.maxTotalBytes): the files it held are gone`,
      { snapshot_id: id },
    );
  }
}

export class SnapshotStore {
  private readonly ingesting = new Set<string>();
  private readonly ingestListeners: Array<(info: SnapshotInfo) => void> = [];
  private readonly deleteListeners: Array<(id: string) => void> = [];
  private readonly held = new HeldContents(this, HELD_SNAPSHOTS);
  private readonly planned: PlannedUploads;
  private readonly staging = new StagedTrees((id) => this.ingesting.has(id));

  constructor(
    private readonly dir: string,
    private readonly limits: ArchiveLimits,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.planned = new PlannedUploads({
      dir,
      limits,
      held: this.held,
      kept: (id) => ID_PATTERN.test(id) && this.get(id) !== undefined,
      deltaInfo: (id) => this.deltaInfo(id),
      archivesOf: (id) => this.archivesOf(id),
      begin: (id) => this.ingesting.add(id),
      abandon: (id, body, source) => {
        rmSync(join(dir, id), { recursive: true, force: true });
        this.ingesting.delete(id);
        this.drain(body, source);
      },
      stored: (id, manifest) => this.stored(id, manifest),
    });
  }

  get(id: string): SnapshotInfo | undefined {
    if (!ID_PATTERN.test(id)) return undefined;
    try {
      return JSON.parse(readFileSync(join(this.dir, id, 'info.json'), 'utf8')) as SnapshotInfo;
    } catch {
      return undefined;
    }
  }

  manifest(id: string): Map<string, SnapshotManifestEntry> {
    if (!ID_PATTERN.test(id)) return new Map();
    let text: string;
    try {
      text = readFileSync(join(this.dir, id, 'manifest.json'), 'utf8');
    } catch {
      throw new SnapshotGone(id);
    }
    const entries = JSON.parse(text) as SnapshotManifestEntry[];
    return new Map(entries.map((e) => [e.path, e]));
  }

  /** Unpacks a snapshot into a folder (a new workspace, before its sandbox starts). */
  async extractTo(id: string, dir: string): Promise<void> {
    const archive = this.archiveOf(id);
    const delta = this.deltaInfo(id);
    if (delta) return extractDelta(join(this.dir, id), delta, dir);
    // GNU tar is native and fast; it only ever reads an archive the validator wrote.
    await execFileAsync('tar', ['-x', '-f', archive, '-C', dir, '--no-same-owner', '--no-same-permissions', '--delay-directory-restore']);
  }

  /**
   * The contents of some regular files of a snapshot, in one pass over its
   * archive; a path that is not a regular file there maps to undefined. Stops
   * adding contents once `maxBytes` are collected (the caller asks again for
   * the rest).
   */
  async readFiles(id: string, paths: readonly string[], maxBytes: number): Promise<Map<string, Buffer | undefined>> {
    const archive = this.archiveOf(id);
    const wanted = new Set(paths.map(cleanPath));
    const found = new Map<string, Buffer | undefined>();
    const budget = { left: maxBytes };
    await readFrom(archive, wanted, found, budget);
    const delta = this.deltaInfo(id);
    if (delta) {
      // the rest, where the delta holds them as the base does
      const dropped = new Set(delta.dropped);
      const rest = new Set([...wanted].filter((p) => !found.has(p) && !dropped.has(p)));
      if (rest.size) await readFrom(join(this.dir, id, BASE_ARCHIVE), rest, found, budget);
    }
    const out = new Map<string, Buffer | undefined>();
    for (const p of paths) out.set(p, found.get(cleanPath(p)));
    return out;
  }

  /** The delta a snapshot is kept as, or undefined for one with a full archive. */
  private deltaInfo(id: string): DeltaInfo | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, id, DELTA_INFO), 'utf8')) as DeltaInfo;
    } catch {
      return undefined;
    }
  }

  /** The archives that hold a snapshot's entries: its own, then its base's for a delta (marked as used). */
  archivesOf(id: string): string[] {
    const own = this.archiveOf(id);
    return this.deltaInfo(id) ? [own, join(this.dir, id, BASE_ARCHIVE)] : [own];
  }

  delete(id: string): void {
    if (!ID_PATTERN.test(id)) return;
    rmSync(join(this.dir, id), { recursive: true, force: true });
    this.held.forget(id);
    for (const l of this.deleteListeners) l(id);
  }

  /** Called after a snapshot is removed (its unpacked layer goes with it). */
  onDelete(listener: (id: string) => void): void {
    this.deleteListeners.push(listener);
  }

  /** Every snapshot folder but those being uploaded now. */
  list(): StoredSnapshot[] {
    const out: StoredSnapshot[] = [];
    for (const id of readdirSync(this.dir)) {
      if (!ID_PATTERN.test(id) || this.ingesting.has(id)) continue;
      const root = join(this.dir, id);
      const size = (name: string) => {
        try {
          return statSync(join(root, name));
        } catch {
          return undefined;
        }
      };
      const archive = size(ARCHIVE);
      const manifest = size('manifest.json');
      const complete = archive !== undefined && manifest !== undefined && size('info.json') !== undefined;
      // A delta's base archive counts where no other snapshot holds it too.
      const base = size(BASE_ARCHIVE);
      out.push({
        id,
        diskBytes: (archive?.size ?? 0) + (manifest?.size ?? 0) + (base && base.nlink === 1 ? base.size : 0),
        lastUsedMs: archive?.mtimeMs ?? statSync(root).mtimeMs,
        complete,
      });
    }
    return out;
  }

  /** Called after each accepted upload (the janitor checks the total then). */
  onIngest(listener: (info: SnapshotInfo) => void): void {
    this.ingestListeners.push(listener);
  }

  async ingest(body: NodeJS.ReadableStream, opts: { gzip: boolean }): Promise<SnapshotInfo> {
    const id = randomBytes(12).toString('hex');
    const root = join(this.dir, id);
    this.ingesting.add(id);
    mkdirSync(root, { recursive: true, mode: 0o700 });
    // The body is piped, not handed over: refused, it is drained rather than destroyed, so the answer reaches the client.
    const source = new PassThrough();
    const onBodyError = (e: Error) => source.destroy(e);
    body.once('error', onBodyError);
    body.pipe(source);
    let staging: TreeStaging | undefined;
    try {
      staging = this.staging.start(id);
      const { manifest } = await repackValidated(source, opts.gzip, join(root, ARCHIVE), this.limits, staging?.copier());
      // Read its framing now (headers only), while it is in the page cache: the next Send of this workspace reuses it.
      this.held.recordSpans(join(root, ARCHIVE), scanArchive(join(root, ARCHIVE)));
      if (staging) this.staging.keep(id, staging, manifest);
      return this.stored(id, manifest);
    } catch (e) {
      await staging?.abort();
      rmSync(root, { recursive: true, force: true });
      this.ingesting.delete(id);
      this.drain(body, source);
      if (e instanceof SnapshotError) throw e;
      throw new SnapshotError(`not a valid ${opts.gzip ? 'gzip-compressed ' : ''}tar archive: ${(e as Error).message}`);
    } finally {
      body.off('error', onBodyError);
    }
  }

  /** From now on a full upload is also unpacked while it streams in, into `dir` (stagedTrees.ts). */
  stageUploadTrees(dir: string): void {
    this.staging.stageIn(dir);
  }

  /** Moves the tree unpacked during the snapshot's upload to `dest` once tar is done; false when there is none. */
  takeStagedTree(id: string, dest: string): Promise<boolean> {
    return this.staging.take(id, dest);
  }

  /** Removes the snapshot's staged tree, once tar is done. */
  dropStagedTree(id: string): void {
    this.staging.drop(id);
  }

  /** The bytes of the trees staged and not yet taken by a layer (the snapshot cap counts them). */
  stagedTreeBytes(): number {
    return this.staging.bytes();
  }

  /** An incremental snapshot's plan (plannedUploads.ts): checked, with the contents its upload must carry. */
  plan(req: SnapshotPlanRequest): SnapshotPlan {
    return this.planned.plan(req);
  }

  /** The upload of a plan's missing contents, then the snapshot assembled (plannedUploads.ts). */
  ingestPlanned(planId: string, body: NodeJS.ReadableStream, opts: { gzip: boolean }): Promise<SnapshotInfo> {
    return this.planned.ingest(planId, body, opts);
  }

  /** Writes a new snapshot's manifest and info (its archive is in place), and makes its contents reusable. */
  private stored(id: string, manifest: SnapshotManifestEntry[]): SnapshotInfo {
    const root = join(this.dir, id);
    const info: SnapshotInfo = {
      snapshot_id: id,
      files: manifest.filter((e) => e.type === 'file').length,
      bytes: manifest.reduce((n, e) => n + e.size, 0),
    };
    writeFileSync(join(root, 'manifest.json'), JSON.stringify(manifest));
    writeFileSync(join(root, 'info.json'), JSON.stringify(info));
    this.ingesting.delete(id);
    this.held.remember(id, manifest);
    for (const l of this.ingestListeners) l(info);
    return info;
  }

  /** Reads and drops what a refused client still sends, up to the upload limit; past it, cuts the connection. */
  private drain(body: NodeJS.ReadableStream, source: PassThrough): void {
    body.unpipe(source);
    let left = this.limits.maxArchiveBytes;
    const stream = body as Readable;
    if (stream.readableEnded || stream.destroyed) return;
    stream.on('error', () => undefined);
    stream.on('data', (c: Buffer) => {
      left -= c.length;
      if (left < 0) stream.destroy();
    });
    stream.resume();
  }

  /** The path of a snapshot's canonical archive (to unpack part of it), marked as used now. */
  archivePath(id: string): string {
    return this.archiveOf(id);
  }

  /** The archive of a snapshot, marked as used now. */
  private archiveOf(id: string): string {
    if (!this.get(id)) throw new SnapshotGone(id);
    const archive = join(this.dir, id, ARCHIVE);
    try {
      const now = new Date();
      utimesSync(archive, now, now);
    } catch {
      throw new SnapshotGone(id);
    }
    return archive;
  }
}

/** Adds to `found` the regular files of `archive` that `wanted` names, in one pass, while `budget` lasts. */
async function readFrom(archive: string, wanted: ReadonlySet<string>, found: Map<string, Buffer | undefined>, budget: { left: number }) {
  const ex = extract();
  const reading = (async () => {
    for await (const entry of ex) {
      const rel = cleanPath(entry.header.name);
      if (entry.header.type === 'file' && wanted.has(rel) && (entry.header.size ?? 0) <= budget.left) {
        const parts: Buffer[] = [];
        for await (const c of entry) parts.push(c as Buffer);
        const content = Buffer.concat(parts);
        budget.left -= content.length;
        found.set(rel, content);
      } else entry.resume();
    }
  })();
  await pipeline(createReadStream(archive), ex);
  await reading;
}
