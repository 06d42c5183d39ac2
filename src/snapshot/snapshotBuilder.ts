// The workspace snapshot a run starts from: tracked files plus untracked
// files that .gitignore does not exclude (also in folders that are not a
// git repository), capped in count and size, packed as a tar stream that is
// produced while it uploads. Binary-safe; symlinks travel as symlinks (the
// server refuses any that lead out).
import { execFile } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { lstat, readlink, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { pack } from 'tar-stream';

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
    const inside = (await git(['rev-parse', '--is-inside-work-tree'], root)).trim() === 'true';
    // A folder that an enclosing repository ignores (a scratch folder under a build
    // dir, say) is a project of its own: list it as if it were not in a repository.
    if (inside && !(await ignoredByEnclosingRepo(root)))
      return splitNul(await git(['ls-files', '-z', '--cached', '--others', '--exclude-standard'], root));
    throw new Error('not a work tree of its own');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return walk(root, '');
  }
  // Not a repository: a throwaway git dir still applies every .gitignore, without touching the folder.
  const gitDir = mkdtempSync(join(tmpdir(), 'astraforge-snapshot-git-'));
  try {
    await git(['--git-dir', gitDir, 'init', '-q'], root);
    return splitNul(await git(['--git-dir', gitDir, '--work-tree', root, 'ls-files', '-z', '--others', '--exclude-standard'], root));
  } finally {
    rmSync(gitDir, { recursive: true, force: true });
  }
}

async function ignoredByEnclosingRepo(root: string): Promise<boolean> {
  try {
    await git(['check-ignore', '-q', '.'], root);
    return true; // exit 0: ignored
  } catch {
    return false; // exit 1: not ignored
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

/** Sizes and kinds of the listed files, checked against the limits before anything is sent. */
export async function planSnapshot(root: string, paths: string[], limits: SnapshotLimits): Promise<SnapshotPlan> {
  const entries: SnapshotEntry[] = [];
  let bytes = 0;
  for (const path of paths) {
    let st;
    try {
      st = await lstat(join(root, path));
    } catch {
      continue; // tracked but deleted locally: not part of the workspace now
    }
    if (st.isSymbolicLink()) entries.push({ path, size: 0, mode: 0o777, kind: 'symlink' });
    else if (st.isFile()) {
      entries.push({ path, size: st.size, mode: st.mode & 0o777, kind: 'file' });
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
  return { entries, bytes };
}

/**
 * The tar stream of a plan. Files are read one at a time as the consumer
 * pulls, so memory stays flat whatever the workspace's size.
 */
export function packSnapshot(
  root: string,
  plan: SnapshotPlan,
  opts: { signal?: AbortSignal; onProgress?: (bytes: number) => void } = {},
): AsyncIterable<Uint8Array> {
  const tar = pack();
  let sent = 0;
  void (async () => {
    try {
      for (const e of plan.entries) {
        if (opts.signal?.aborted) throw new Error('cancelled');
        const abs = join(root, e.path);
        if (e.kind === 'symlink') {
          tar.entry({ name: e.path, type: 'symlink', linkname: await readlink(abs), mode: 0o777 });
          continue;
        }
        const entry = tar.entry({ name: e.path, size: e.size, mode: e.mode, type: 'file' });
        await pipeline(createReadStream(abs), entry);
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
