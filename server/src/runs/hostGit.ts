// The system's git, run for the server on a baseline's repository: never
// one from PATH, in a fresh process with a fixed environment (no HOME, no
// system or global config, no prompts), cwd "/", the pinned config of
// gitDiff.ts, bounded in time and output, and as the session's own uid when
// one is given: nothing the agent left in its shell reaches it.
import { existsSync } from 'node:fs';
import { BoundedProcessError, runBounded, type BoundedResult } from './boundedProcess';
import { gitArgs } from './gitDiff';

/** The only git we run: a system one, never one from PATH. */
const SYSTEM_GITS = ['/usr/bin/git', '/usr/local/bin/git', '/bin/git'];

/** No HOME, no XDG folders, no system or global config, no prompts, no locale surprises. */
const CLEAN_ENV: Record<string, string> = {
  PATH: '/usr/bin:/bin',
  HOME: '/nonexistent',
  XDG_CONFIG_HOME: '/nonexistent',
  LANG: 'C',
  LC_ALL: 'C',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_ATTR_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
  GIT_NO_REPLACE_OBJECTS: '1',
  GIT_OPTIONAL_LOCKS: '0',
  GIT_PAGER: 'cat',
};

/** A repository git works on: its git folder and the tree it describes. */
export interface GitRepo {
  gitDir: string;
  workTree: string;
}

export interface GitCall {
  deadline: number;
  /** Who git runs as (the owner of the workspace folder, the sandbox's uid); unset, the server. */
  user?: { uid: number; gid: number };
  env?: Record<string, string>;
  maxBytes?: number;
  stdinFile?: string;
}

export function findSystemGit(): string {
  const git = SYSTEM_GITS.find((p) => existsSync(p));
  if (!git) throw new Error(`no git at ${SYSTEM_GITS.join(', ')}; install git on the server's host`);
  return git;
}

export class HostGit {
  /** `path` is found on first use, so a server without git still starts (and its runs fail with why). */
  constructor(private path?: string) {}

  /** One git call that must succeed: a failure throws with the last lines git wrote on stderr. */
  async ok(repo: GitRepo, command: readonly string[], o: GitCall): Promise<BoundedResult> {
    const r = await this.run(repo, command, o);
    if (r.exitCode !== 0) {
      const why = r.stderr.trim().split('\n').slice(-3).join(' ') || `exit code ${r.exitCode}`;
      throw new Error(`${gitName(command)} failed: ${why}`);
    }
    return r;
  }

  /** One git call with the pinned config, its exit code the caller's to judge. */
  async run(repo: GitRepo, command: readonly string[], o: GitCall): Promise<BoundedResult> {
    try {
      return await runBounded((this.path ??= findSystemGit()), gitArgs(repo, ...command), {
        env: { ...CLEAN_ENV, ...o.env },
        cwd: '/',
        user: o.user,
        timeoutMs: Math.max(1, o.deadline - Date.now()),
        maxStdoutBytes: o.maxBytes ?? 1024 * 1024,
        ...(o.stdinFile ? { stdinFile: o.stdinFile } : {}),
      });
    } catch (e) {
      if (e instanceof BoundedProcessError) throw new Error(`${gitName(command)}: ${e.message}`);
      throw e;
    }
  }
}

function gitName(command: readonly string[]): string {
  return `git ${command.find((a) => /^[a-z-]+$/.test(a) && !a.startsWith('-'))}`;
}
