// The baseline and diff on the host, for sandboxes whose /workspace is a host
// folder (bwrap, Docker). The baseline's git folder lives beside the
// workspaces, in a folder no sandbox mounts; git is the system's, run by
// hostGit.ts in a fresh process with a fixed environment, cwd "/", no config
// but ours, and as the session's own unprivileged uid when the server is
// root: nothing the agent left in its shell (PATH, GIT_* variables, a fake
// git, a rewritten baseline) reaches it.
import { execFile } from 'node:child_process';
import { isUtf8 } from 'node:buffer';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { BoundedResult } from './boundedProcess';
import {
  BASELINE_COMMIT_ENV,
  BASELINE_STAGE_STEP,
  COMMIT_STEP,
  NAME_STATUS_STEP,
  NEUTRAL_ATTRIBUTES,
  parseGitDiff,
  PATCH_STEP,
  STAGE_STEP,
  type DiffFile,
} from './gitDiff';
import { HostGit, type GitCall, type GitRepo } from './hostGit';
import type { DiffLimits, WorkspaceDiffer, WorkspaceDiffResult } from './workspaceDiffer';

const execFileAsync = promisify(execFile);

const BASELINE_TIMEOUT_MS = 300_000;
const GITLINK_MODE = '160000';
const MAX_EMPTY_REPOS = 20;

interface Baseline extends GitRepo {
  /** Who git runs as on the diff: the owner of the workspace folder (the sandbox's uid). */
  user?: GitCall['user'];
}

/** Scratch workspaces are <sandbox root>/scratch/<id>: baselines go to <sandbox root>/baselines, which no sandbox mounts. */
export function baselinesBeside(workspaceDir: string): string {
  return join(dirname(dirname(workspaceDir)), 'baselines');
}

/** What a derived snapshot changed: workspace-relative paths of files and links that differ or are new, and of those that went. */
export interface PathChanges {
  changed: readonly string[];
  removed: readonly string[];
}

/** A baseline made once for a snapshot's tree and kept with it: runs start from a copy of its index, sharing its objects. */
export interface SnapshotBaseline {
  gitDir: string;
  commit: string;
}

/** A run's git folder starts as this config; the rest is pinned on every call (gitDiff.ts). */
const RUN_GIT_CONFIG = '[core]\n\trepositoryformatversion = 0\n\tbare = false\n';

export class HostWorkspaceDiffer implements WorkspaceDiffer {
  private readonly baselines = new Map<string, Baseline>();
  private readonly cleanedRoots = new Set<string>();

  private readonly hostGit: HostGit;

  /** `git` is found on first use, so a server without git still starts (and its runs fail with why). */
  constructor(
    git?: string,
    private readonly rootFor: (workspaceDir: string) => string = baselinesBeside,
  ) {
    this.hostGit = new HostGit(git);
  }

  async recordBaseline(key: string, workspaceDir: string): Promise<void> {
    const root = this.prepareRoot(this.rootFor(workspaceDir));
    const gitDir = join(root, `${safeKey(key)}.git`);
    rmSync(gitDir, { recursive: true, force: true });
    const st = statSync(workspaceDir);
    const asRoot = process.getuid?.() === 0;
    const baseline: Baseline = {
      gitDir,
      workTree: workspaceDir,
      user: asRoot && st.uid !== 0 ? { uid: st.uid, gid: st.gid } : undefined,
    };
    // Nothing of the sandbox has run yet: the tree is the snapshot as the server unpacked it (root's files, when root).
    const deadline = Date.now() + BASELINE_TIMEOUT_MS;
    await this.hostGit.ok(baseline, ['init', '-q'], { deadline });
    writeFileSync(join(gitDir, 'info', 'attributes'), NEUTRAL_ATTRIBUTES);
    await this.hostGit.ok(baseline, BASELINE_STAGE_STEP, { deadline });
    await this.hostGit.ok(baseline, COMMIT_STEP, { deadline, env: BASELINE_COMMIT_ENV });
    if (baseline.user) {
      await execFileAsync('chown', ['-R', '--no-dereference', `${baseline.user.uid}:${baseline.user.gid}`, gitDir]);
    }
    chmodSync(gitDir, 0o700);
    this.baselines.set(key, baseline);
  }

  /**
   * The baseline of a snapshot's tree, as root, once: its objects are read by
   * every run's git later (as the run's uid), so they are world-readable in a
   * folder others may pass through but not list.
   */
  async recordSnapshotBaseline(gitDir: string, tree: string): Promise<SnapshotBaseline> {
    rmSync(gitDir, { recursive: true, force: true });
    const baseline: Baseline = { gitDir, workTree: tree };
    const deadline = Date.now() + BASELINE_TIMEOUT_MS;
    await this.hostGit.ok(baseline, ['init', '-q'], { deadline });
    writeFileSync(join(gitDir, 'info', 'attributes'), NEUTRAL_ATTRIBUTES);
    await this.hostGit.ok(baseline, BASELINE_STAGE_STEP, { deadline });
    await this.hostGit.ok(baseline, COMMIT_STEP, { deadline, env: BASELINE_COMMIT_ENV });
    const commit = (await this.hostGit.ok(baseline, ['rev-parse', 'HEAD'], { deadline })).stdout.toString('utf8').trim();
    await execFileAsync('chmod', ['-R', 'a+rX,go-w', gitDir]);
    return { gitDir, commit };
  }

  /**
   * The baseline of a tree derived from an earlier snapshot's (layerDelta.ts):
   * the earlier baseline's objects hard-linked (git never rewrites an object
   * file), a copy of its index, and only the changed paths staged (those no
   * .gitignore excludes); when a .gitignore itself changed, the whole tree is
   * staged again, not trusting ctime (hard links changed every inode's).
   */
  async deriveSnapshotBaseline(gitDir: string, tree: string, base: SnapshotBaseline, changes: PathChanges): Promise<SnapshotBaseline> {
    rmSync(gitDir, { recursive: true, force: true });
    await execFileAsync('cp', ['-al', base.gitDir, gitDir]);
    // Files git writes in place (the reflog) or that it replaces: copies of their own, not links.
    for (const own of ['logs', 'index', 'COMMIT_EDITMSG']) rmSync(join(gitDir, own), { recursive: true, force: true });
    copyFileSync(join(base.gitDir, 'index'), join(gitDir, 'index'));
    const baseline: Baseline = { gitDir, workTree: tree };
    const deadline = Date.now() + BASELINE_TIMEOUT_MS;
    const all = [...changes.changed, ...changes.removed];
    if (all.some((p) => p === '.gitignore' || p.endsWith('/.gitignore'))) {
      await this.hostGit.ok(baseline, ['-c', 'core.trustctime=false', ...BASELINE_STAGE_STEP], { deadline });
    } else {
      const list = join(gitDir, 'af-paths');
      const stage = async (args: string[], paths: readonly string[]) => {
        if (!paths.length) return;
        writeFileSync(list, paths.map((p) => `${p}\0`).join(''));
        await this.hostGit.ok(baseline, ['-c', 'core.bigFileThreshold=1', 'update-index', ...args, '-z', '--stdin'], {
          deadline,
          stdinFile: list,
        });
      };
      // What went, whatever stands at its path now (a file may have become a folder).
      await stage(['--force-remove'], changes.removed);
      if (changes.changed.length) {
        writeFileSync(list, changes.changed.map((p) => `${p}\0`).join(''));
        const ignored = await this.hostGit.run(baseline, ['check-ignore', '--no-index', '-z', '--stdin'], { deadline, stdinFile: list });
        if (ignored.exitCode > 1) throw new Error(`git check-ignore failed: ${ignored.stderr.trim()}`);
        const skip = new Set(ignored.stdout.toString('utf8').split('\0').filter(Boolean));
        await stage(
          ['--add', '--replace'],
          changes.changed.filter((p) => !skip.has(p)),
        );
      }
      rmSync(list, { force: true });
    }
    await this.hostGit.ok(baseline, COMMIT_STEP, { deadline, env: BASELINE_COMMIT_ENV });
    const commit = (await this.hostGit.ok(baseline, ['rev-parse', 'HEAD'], { deadline })).stdout.toString('utf8').trim();
    await execFileAsync('chmod', ['-R', 'a+rX,go-w', gitDir]);
    return { gitDir, commit };
  }

  /**
   * A run's baseline from its snapshot's: a git folder of its own whose
   * objects are the snapshot's (alternates), HEAD its commit, and a copy of
   * its index, whose stat data still match the files an overlay shows, so
   * the first diff rehashes nothing. `excludes` are paths the diff leaves out
   * (what the environment added).
   */
  async adoptBaseline(key: string, workspaceDir: string, snapshot: SnapshotBaseline, excludes: readonly string[] = []): Promise<void> {
    const root = this.prepareRoot(this.rootFor(workspaceDir));
    const gitDir = join(root, `${safeKey(key)}.git`);
    rmSync(gitDir, { recursive: true, force: true });
    for (const d of ['objects/info', 'objects/pack', 'refs/heads', 'refs/tags', 'info']) mkdirSync(join(gitDir, d), { recursive: true });
    writeFileSync(join(gitDir, 'config'), RUN_GIT_CONFIG);
    writeFileSync(join(gitDir, 'HEAD'), `${snapshot.commit}\n`);
    writeFileSync(join(gitDir, 'objects', 'info', 'alternates'), `${join(snapshot.gitDir, 'objects')}\n`);
    writeFileSync(join(gitDir, 'info', 'attributes'), readFileSync(join(snapshot.gitDir, 'info', 'attributes')));
    writeFileSync(join(gitDir, 'info', 'exclude'), excludes.map((p) => `/${escapeGlob(p)}\n`).join(''));
    copyFileSync(join(snapshot.gitDir, 'index'), join(gitDir, 'index'));
    const st = statSync(workspaceDir);
    const asRoot = process.getuid?.() === 0;
    const user = asRoot && st.uid !== 0 ? { uid: st.uid, gid: st.gid } : undefined;
    if (user) await execFileAsync('chown', ['-R', '--no-dereference', `${user.uid}:${user.gid}`, gitDir]);
    chmodSync(gitDir, 0o700);
    this.baselines.set(key, { gitDir, workTree: workspaceDir, user });
  }

  async diff(key: string, limits: DiffLimits): Promise<WorkspaceDiffResult> {
    const baseline = this.baselines.get(key);
    if (!baseline) throw new Error('the run has no baseline on this server (it was recorded by an earlier server process)');
    const deadline = Date.now() + limits.timeoutMs;
    const { staged, emptyRepos } = await this.stage(baseline, deadline);
    // git skips a folder it cannot open with a warning: the diff would show its files as deleted.
    const unreadable = /^(warning|error): (could not open directory|.*Permission denied).*$/m.exec(staged.stderr);
    if (unreadable) throw new Error(`git cannot read all of the workspace: ${unreadable[0]}`);
    const names = await this.hostGit.ok(baseline, NAME_STATUS_STEP, { deadline, user: baseline.user, maxBytes: limits.maxBytes });
    if (!isUtf8(names.stdout)) throw new Error('a changed file has a name that is not valid UTF-8');
    const patches = await this.hostGit.ok(baseline, PATCH_STEP, { deadline, user: baseline.user, maxBytes: limits.maxBytes });
    const all = parseGitDiff(names.stdout.toString('utf8'), patches.stdout.toString('utf8'));
    if (all.length > limits.maxFiles) throw new Error(`the diff changes ${all.length} files, more than the ${limits.maxFiles} allowed`);
    // A nested repository is one gitlink entry ("Subproject commit ..."), not its files: nothing to apply.
    const isGitlink = (f: DiffFile) => f.old_mode === GITLINK_MODE || f.new_mode === GITLINK_MODE;
    return { files: all.filter((f) => !isGitlink(f)), nestedRepos: [...emptyRepos, ...all.filter(isGitlink).map((f) => f.path)] };
  }

  /**
   * `git add -A`. A nested repository without a commit stops it ("does not
   * have a commit checked out"): each one is excluded (in the baseline's
   * info/exclude, out of the agent's reach) and the stage tried again.
   */
  private async stage(baseline: Baseline, deadline: number): Promise<{ staged: BoundedResult; emptyRepos: string[] }> {
    const emptyRepos: string[] = [];
    for (;;) {
      try {
        return { staged: await this.hostGit.ok(baseline, STAGE_STEP, { deadline, user: baseline.user }), emptyRepos };
      } catch (e) {
        const repo = /^git add failed: error: '([^'\n]+)\/' does not have a commit checked out/.exec((e as Error).message)?.[1];
        if (!repo || emptyRepos.includes(repo) || emptyRepos.length >= MAX_EMPTY_REPOS) throw e;
        emptyRepos.push(repo);
        appendFileSync(join(baseline.gitDir, 'info', 'exclude'), `/${escapeGlob(repo)}/\n`);
      }
    }
  }

  async remove(key: string): Promise<void> {
    const baseline = this.baselines.get(key);
    this.baselines.delete(key);
    if (baseline) rmSync(baseline.gitDir, { recursive: true, force: true });
  }

  keys(): string[] {
    return [...this.baselines.keys()];
  }

  /** The folder whose changes `key`'s diff computes (recorded or adopted), if it has a baseline. */
  workTreeOf(key: string): string | undefined {
    return this.baselines.get(key)?.workTree;
  }

  /** 0711 like the sandbox root: a sandbox uid may pass to its own baseline, never list the others. Leftovers of an earlier server process go. */
  private prepareRoot(root: string): string {
    if (this.cleanedRoots.has(root)) return root;
    mkdirSync(root, { recursive: true, mode: 0o711 });
    chmodSync(root, 0o711);
    const mine = new Set([...this.baselines.values()].map((b) => b.gitDir));
    for (const name of readdirSync(root)) {
      if (!mine.has(join(root, name))) rmSync(join(root, name), { recursive: true, force: true });
    }
    this.cleanedRoots.add(root);
    return root;
  }
}

/** A path as a literal gitignore pattern. */
function escapeGlob(path: string): string {
  return path.replace(/[\\*?[!#\s]/g, (c) => `\\${c}`);
}

/** Keys are run ids; anything else must not name a path. */
function safeKey(key: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(key)) throw new Error(`not a baseline key: ${JSON.stringify(key)}`);
  return key;
}
