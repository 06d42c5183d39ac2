// Git on the host, outside every sandbox: clone the project's repository,
// find the release's commit, commit a fix and push it. Credentials go to git
// as an HTTP header through its environment (GIT_CONFIG_*), never in a URL,
// an argument (visible in ps) or the clone's config, and are scrubbed from
// any error text.
import { execFile } from 'node:child_process';

export interface GitAccess {
  url: string;
  /** For http(s) URLs; ssh:// uses the server user's own keys, file:// needs none. */
  username?: string;
  token?: string;
}

export interface GitAuthor {
  name: string;
  email: string;
}

const GIT_TIMEOUT_MS = 10 * 60_000;
/** Settings every call gets: no hooks, no prompts, nothing from the host's git config. */
const PINNED = [
  '-c',
  'core.hooksPath=/dev/null',
  '-c',
  'core.autocrlf=false',
  '-c',
  'advice.detachedHead=false',
  '-c',
  'commit.gpgsign=false',
];

export class GitFailed extends Error {}

export class HostGit {
  constructor(
    private readonly access: GitAccess,
    private readonly author: GitAuthor,
  ) {}

  async clone(dir: string, branch: string): Promise<void> {
    await this.exec(undefined, ['clone', '--quiet', '--branch', branch, '--', this.access.url, dir], { env: this.credentialEnv() });
  }

  /** The commit a release names: its SHA (alone, or after `@`, `+` or `-g`), or a tag named like it. */
  async releaseCommit(dir: string, release: string): Promise<string | undefined> {
    const candidates = new Set<string>();
    const tail = release.split('@').pop() ?? release;
    for (const part of [release, tail, ...tail.split('+'), tail.replace(/^.*-g(?=[0-9a-f]{7,}$)/, '')]) {
      if (/^[0-9a-f]{7,40}$/i.test(part)) candidates.add(part);
    }
    for (const name of [release, tail, `v${tail}`]) if (/^[\w.+-]{1,200}$/.test(name)) candidates.add(`refs/tags/${name}`);
    for (const c of candidates) {
      const sha = await this.tryRun(dir, ['rev-parse', '--verify', '--quiet', `${c}^{commit}`]);
      if (sha) return sha.trim();
    }
    return undefined;
  }

  async head(dir: string): Promise<string> {
    return (await this.run(dir, ['rev-parse', 'HEAD'])).trim();
  }

  async checkoutNewBranch(dir: string, branch: string, commit: string): Promise<void> {
    await this.run(dir, ['checkout', '--quiet', '-B', branch, commit]);
  }

  /** Applies text patches to the work tree and the index (git refuses paths outside, or through symlinks). */
  async applyPatch(dir: string, patch: string): Promise<void> {
    if (!patch) return;
    await this.exec(dir, ['apply', '--index', '--whitespace=nowarn', '-'], { input: patch });
  }

  /**
   * Puts a file's content straight into the index (a blob and an index
   * entry): nothing is written through the work tree, so no path the
   * sandbox chose can lead a write anywhere.
   */
  async stageContent(dir: string, path: string, content: Buffer, mode: string): Promise<void> {
    const sha = (await this.exec(dir, ['hash-object', '-w', '--stdin'], { input: content })).trim();
    await this.run(dir, ['update-index', '--add', '--cacheinfo', `${mode},${sha},${path}`]);
  }

  /** Takes paths out of the index (their deletion is then committed). */
  async unstage(dir: string, paths: string[]): Promise<void> {
    if (paths.length) await this.run(dir, ['rm', '-q', '--cached', '--ignore-unmatch', '--', ...paths]);
  }

  /** Commits the index; undefined when it holds no change. */
  async commit(dir: string, message: string): Promise<string | undefined> {
    const status = await this.run(dir, ['diff', '--cached', '--name-only']);
    if (!status.trim()) return undefined;
    await this.run(dir, ['commit', '--quiet', '--no-verify', '-m', message]);
    return this.head(dir);
  }

  /** Pushes HEAD to the branch; forced, as the branch is named for this run and belongs to it. */
  async push(dir: string, branch: string): Promise<void> {
    await this.exec(dir, ['push', '--quiet', '--force', '--', this.access.url, `HEAD:refs/heads/${branch}`], { env: this.credentialEnv() });
  }

  private async tryRun(dir: string, args: string[]): Promise<string | undefined> {
    try {
      return await this.run(dir, args);
    } catch {
      return undefined;
    }
  }

  private run(dir: string | undefined, args: string[]): Promise<string> {
    return this.exec(dir, args, {});
  }

  private exec(dir: string | undefined, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer }): Promise<string> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: this.author.name,
      GIT_AUTHOR_EMAIL: this.author.email,
      GIT_COMMITTER_NAME: this.author.name,
      GIT_COMMITTER_EMAIL: this.author.email,
      ...(process.env.SSH_AUTH_SOCK ? { SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK } : {}),
      ...opts.env,
    };
    const argv = [...PINNED, ...(dir ? ['-C', dir] : []), ...args];
    return new Promise((resolve, reject) => {
      const child = execFile('git', argv, { env, timeout: GIT_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        reject(new GitFailed(this.scrub(`git ${args[0]} failed: ${String(stderr).trim() || err.message}`)));
      });
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
  }

  private credentialEnv(): NodeJS.ProcessEnv {
    const { token, url } = this.access;
    if (!token || !/^https?:\/\//i.test(url)) return {};
    const basic = Buffer.from(`${this.access.username ?? 'x-access-token'}:${token}`).toString('base64');
    return { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` };
  }

  private scrub(text: string): string {
    const { token } = this.access;
    if (!token) return text;
    const basic = Buffer.from(`${this.access.username ?? 'x-access-token'}:${token}`).toString('base64');
    return text.split(token).join('[token]').split(basic).join('[credentials]');
  }
}
