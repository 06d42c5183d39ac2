// The workspace snapshot a run starts from: tracked files plus untracked
// files that .gitignore does not exclude (also in folders that are not a
// git repository), capped in count and size, packed as a tar stream that is
// produced while it uploads. Binary-safe; symlinks travel as symlinks (the
// server refuses any that lead out). What goes over the wire, the whole tar
// or only what changed, is snapshotUpload.ts's choice.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, mkdtempSync, rmSync, type Stats } from 'node:fs';
import { readlink, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { pack } from 'tar-stream';
import { comparePaths } from '@astraforge/contract/snapshotDelta';

const execFileAsync = promisify(execFile);

export interface SnapshotLimits {
  maxFiles: number;
  maxBytes: number;
}

export interface SnapshotEntry {
  path: string;
  size: number;
  mode: number;
  kind: 'file' | 'symlink';
  /** As lstat gave them: what the hash cache keys on, and the mtime the archive keeps. */
  mtimeMs: number;
  ino: number;
}

/** A file's mtime as a tar header holds it (whole seconds), the same in a full upload and an incremental one. */
export function mtimeSeconds(e: SnapshotEntry): number {
  return Math.min(Math.max(Math.floor(e.mtimeMs / 1000), 0), 2 ** 31 - 1);
}

export interface SnapshotPlan {
  entries: SnapshotEntry[];
  bytes: number;
}

export class SnapshotTooLarge extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotTooLarge';
  }
}

async function git(args: string[], cwd: string): Promise<string> {
  const { stdout } = await execFileAsync('git', args, { cwd, maxBuffer: 512 * 1024 * 1024, encoding: 'utf8' });
  return stdout;
}

function splitNul(out: string): string[] {
  return out.split('\0').filter((p) => p !== '');
}

/** Paths relative to `root`, as git would snapshot them, whether or not `root` is a repository. */
export async function listWorkspaceFiles(root: string): Promise<string[]> {
  try {
    // Both only read: asked at once, one process start is waited for instead of two.
    const [inside, ignored] = await Promise.all([git(['rev-parse', '--is-inside-work-tree'], root), ignoredByEnclosingRepo(root)]);
    // A folder that an enclosing repository ignores (a scratch folder under a build
    // dir, say) is a project of its own: list it as if it were not in a repository.
    if (inside.trim() === 'true' && !ignored)
      return splitNul(await git(['ls-files', '-z', '--cached', '--others', '--exclude-standard'], root));
    throw new Error('not a work tree of its own');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return walk(root, '');
  }
  // Not a repository: a throwaway git dir (made once per folder) still applies every .gitignore, without touching the folder.
  const gitDir = await throwawayGitDir(root);
  return splitNul(await git(['--git-dir', gitDir, '--work-tree', root, 'ls-files', '-z', '--others', '--exclude-standard'], root));
}

const throwaway = new Map<string, Promise<string>>();

/** An empty git dir for listing a folder that is not a repository: no index, no excludes of its own; removed when the process exits. */
function throwawayGitDir(root: string): Promise<string> {
  let made = throwaway.get(root);
  if (!made) {
    const dir = mkdtempSync(join(tmpdir(), 'astraforge-snapshot-git-'));
    made = git(['--git-dir', dir, 'init', '-q'], root).then(
      () => dir,
      (e: unknown) => {
        throwaway.delete(root);
        rmSync(dir, { recursive: true, force: true });
        throw e;
      },
    );
    throwaway.set(root, made);
    throwawayDirs.push(dir);
  }
  return made;
}

const throwawayDirs: string[] = [];
process.once('exit', () => {
  for (const dir of throwawayDirs) rmSync(dir, { recursive: true, force: true });
});

async function ignoredByEnclosingRepo(root: string): Promise<boolean> {
  try {
    await git(['check-ignore', '-q', '.'], root);
    return true; // exit 0: ignored
  } catch {
    return false; // exit 1: not ignored (or not in a repository)
  }
}

/** Without git at all: every file but version-control folders. */
async function walk(root: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) {
      if (d.name !== '.git' && d.name !== '.hg' && d.name !== '.svn') out.push(...(await walk(root, p)));
    } else out.push(p);
  }
  return out;
}

/**
 * lstat runs synchronously, in slices that each hold the event loop for a
 * few milliseconds: 20,000 files take about a quarter of the time that
 * 20,000 promises through libuv's four threads do, the cost of every Send.
 */
const STAT_SLICE = 1000;

function lstatOrGone(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined; // tracked but deleted locally: not part of the workspace now
  }
}

/**
 * Sizes and kinds of the listed files, checked against the limits before
 * anything is sent, in path order (comparePaths: the order a plan of changes
 * gives the server, so a whole tar and an incremental Send make one archive).
 */
export async function planSnapshot(root: string, paths: string[], limits: SnapshotLimits): Promise<SnapshotPlan> {
  const entries: SnapshotEntry[] = [];
  let bytes = 0;
  for (let at = 0; at < paths.length; at += STAT_SLICE) {
    if (at) await new Promise((resolve) => setImmediate(resolve));
    const batch = paths.slice(at, at + STAT_SLICE);
    const stats = batch.map((p) => lstatOrGone(join(root, p)));
    for (let i = 0; i < batch.length; i++) {
      const st = stats[i];
      if (!st) continue;
      const path = batch[i];
      if (st.isSymbolicLink()) entries.push({ path, size: 0, mode: 0o777, kind: 'symlink', mtimeMs: st.mtimeMs, ino: st.ino });
      else if (st.isFile()) {
        entries.push({ path, size: st.size, mode: st.mode & 0o777, kind: 'file', mtimeMs: st.mtimeMs, ino: st.ino });
        bytes += st.size;
      }
      if (entries.length > limits.maxFiles)
        throw new SnapshotTooLarge(
          `the workspace has more than ${limits.maxFiles} files to send: exclude build output and dependencies in .gitignore, or raise astraforge.snapshot.maxFiles`,
        );
      if (bytes > limits.maxBytes)
        throw new SnapshotTooLarge(
          `the workspace holds more than ${Math.round(limits.maxBytes / 1048576)} MiB to send: exclude large files in .gitignore, or raise astraforge.snapshot.maxMegabytes`,
        );
    }
  }
  entries.sort((a, b) => comparePaths(a.path, b.path));
  return { entries, bytes };
}

/**
 * A folder's snapshot plan: its listing, then its files' lstat. Not both at
 * once: lstat'ing the files the last Send had while git lists the folder was
 * measured slower on the loaded 2-core machine (git walks and stats the same
 * tree; 20,000 files: 350-880 ms at once vs 260-520 ms one after the other).
 */
export async function planWorkspace(root: string, limits: SnapshotLimits): Promise<SnapshotPlan> {
  return planSnapshot(root, await listWorkspaceFiles(root), limits);
}

export interface PackOptions {
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
  /** Each file's SHA-256 as it was packed (the hash cache learns them on a full upload). */
  onHashed?: (entry: SnapshotEntry, sha256: string, hashedAtMs: number) => void;
  /** Each symlink's target as it was packed. */
  onLink?: (entry: SnapshotEntry, target: string) => void;
}

/**
 * A workspace's snapshot, ready to send: iterated, it is the whole tar
 * stream (packed only then, as the consumer pulls); the upload may instead
 * send only what the server lacks (snapshotUpload.ts), from `root` and `plan`.
 */
export class WorkspaceTar implements AsyncIterable<Uint8Array> {
  private stream?: AsyncIterable<Uint8Array>;

  constructor(
    readonly root: string,
    readonly plan: SnapshotPlan,
    readonly options: PackOptions = {},
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    this.stream ??= packEntries(this.root, this.plan, this.options);
    return this.stream[Symbol.asyncIterator]();
  }
}

/**
 * The tar stream of a plan. Files are read one at a time as the consumer
 * pulls, so memory stays flat whatever the workspace's size.
 */
export function packSnapshot(root: string, plan: SnapshotPlan, opts: PackOptions = {}): WorkspaceTar {
  return new WorkspaceTar(root, plan, opts);
}

function packEntries(root: string, plan: SnapshotPlan, opts: PackOptions): AsyncIterable<Uint8Array> {
  const tar = pack();
  let sent = 0;
  void (async () => {
    try {
      for (const e of plan.entries) {
        if (opts.signal?.aborted) throw new Error('cancelled');
        const abs = join(root, e.path);
        const mtime = new Date(mtimeSeconds(e) * 1000);
        if (e.kind === 'symlink') {
          const target = await readlink(abs);
          tar.entry({ name: e.path, type: 'symlink', linkname: target, mode: 0o777, mtime });
          opts.onLink?.(e, target);
          continue;
        }
        const entry = tar.entry({ name: e.path, size: e.size, mode: e.mode, type: 'file', mtime });
        const hashedAtMs = Date.now();
        const hash = opts.onHashed ? createHash('sha256') : undefined;
        const file = createReadStream(abs);
        if (hash) file.on('data', (c) => hash.update(c));
        await pipeline(file, entry);
        if (hash) opts.onHashed!(e, hash.digest('hex'), hashedAtMs);
        sent += e.size;
        opts.onProgress?.(sent);
      }
      tar.finalize();
    } catch (err) {
      tar.destroy(err as Error);
    }
  })();
  // tar-stream's Pack is a streamx Readable: async-iterable, which is what the upload consumes.
  return tar as unknown as AsyncIterable<Uint8Array>;
}
