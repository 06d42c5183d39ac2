// Files of a persistent workspace without a session of the client's own
// (Sandkasten's /v1/workspaces/{id}/fs routes). Every read, write and listing
// still happens inside a sandbox on that workspace, as for sessions' files, so
// a link planted in it never reaches a host file: a running session on the
// workspace when there is one, otherwise a short-lived session of our own,
// shared by the calls in flight and ended when the last one is done.
import type { SessionManager } from './sessionManager';
import type { WorkspaceStore } from './workspaceStore';
import { AppError } from '../errors';
import { shellQuote } from './shellQuote';
import { requestedWorkspacePath } from './workspacePaths';

const PURPOSE = 'workspace-files';
const BORROWED_TTL_SECONDS = 300;
const LIST_NOT_FOUND = 2;
const LIST_OUTSIDE = 3;
const LIST_NOT_A_FOLDER = 4;

interface Borrowed {
  session: Promise<string>;
  users: number;
}

export interface WorkspaceEntry {
  name: string;
  is_dir: boolean;
}

export class WorkspaceFiles {
  private readonly borrowed = new Map<string, Borrowed>();

  constructor(
    private readonly sessions: SessionManager,
    private readonly workspaces: WorkspaceStore,
  ) {}

  async write(workspaceId: string, path: string, data: Buffer): Promise<string> {
    return this.within(workspaceId, { create: true }, (id) => this.sessions.writeFile(id, path, data));
  }

  /** Writes the files an upload spooled to the host, one after the other in one sandbox. */
  async writeFromHost(workspaceId: string, files: { path: string; hostFile: string }[]): Promise<string[]> {
    return this.within(workspaceId, { create: true }, async (id) => {
      const written: string[] = [];
      for (const f of files) written.push(await this.sessions.writeFileFromHost(id, f.path, f.hostFile));
      return written;
    });
  }

  async read(workspaceId: string, path: string, maxBytes: number) {
    return this.within(workspaceId, { create: false }, (id) => this.sessions.readFile(id, path, maxBytes));
  }

  /**
   * A folder's entries, listed inside the sandbox (in a subshell, so a
   * client's session keeps its cwd); a folder reached through a link must
   * still be inside /workspace.
   */
  async list(workspaceId: string, path: string): Promise<{ entries: WorkspaceEntry[]; truncated: boolean }> {
    const dir = requestedWorkspacePath(path);
    const script = [
      `r=$(realpath -e -- ${shellQuote(dir)} 2>/dev/null) || exit ${LIST_NOT_FOUND}`,
      `case "$r" in /workspace|/workspace/*) ;; *) exit ${LIST_OUTSIDE};; esac`,
      `[ -d "$r" ] || exit ${LIST_NOT_A_FOLDER}`,
      `find "$r" -mindepth 1 -maxdepth 1 -printf '%y\\t%f\\0'`,
    ].join('\n');
    const out = await this.within(workspaceId, { create: false }, (id) =>
      this.sessions.exec(id, `(\n${script}\n)`, { separateStderr: true }),
    );
    if (out.exitCode === LIST_NOT_FOUND) throw new AppError('INVALID_REQUEST', `file not found: ${dir}`, { reason: 'not_found' });
    if (out.exitCode === LIST_OUTSIDE) throw new AppError('INVALID_REQUEST', `refused: ${dir} leads outside /workspace`);
    if (out.exitCode === LIST_NOT_A_FOLDER) throw new AppError('INVALID_REQUEST', `${dir} is not a folder`);
    if (out.exitCode !== 0) throw new AppError('INTERNAL_ERROR', `cannot list ${dir}: ${out.stderr.trim()}`);
    const records = out.stdout.split('\0');
    // A cut output ends mid-entry: the last piece is incomplete whenever the output was truncated.
    if (out.truncated) records.pop();
    const entries = records
      .filter((r) => r.includes('\t'))
      .map((r) => ({ name: r.slice(r.indexOf('\t') + 1), is_dir: r.startsWith('d\t') }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { entries, truncated: out.truncated };
  }

  /** Runs `fn` with a session on the workspace, borrowing one if no client session runs on it. */
  private async within<T>(workspaceId: string, o: { create: boolean }, fn: (sessionId: string) => Promise<T>): Promise<T> {
    if (!o.create && !this.workspaces.get(workspaceId)) throw new AppError('WORKSPACE_NOT_FOUND', `no workspace "${workspaceId}"`);
    let b = this.borrowed.get(workspaceId);
    if (!b) {
      const running = this.sessions
        .list()
        .find((s) => s.workspace_id === workspaceId && s.status === 'running' && this.sessions.labelsOf(s.id)?.purpose !== PURPOSE);
      if (running) return fn(running.id);
      b = { session: this.borrow(workspaceId), users: 0 };
      this.borrowed.set(workspaceId, b);
    }
    b.users++;
    try {
      return await fn(await b.session);
    } finally {
      if (--b.users === 0) {
        this.borrowed.delete(workspaceId);
        const id = await b.session.catch(() => undefined);
        if (id) await this.sessions.destroy(id).catch(() => undefined);
      }
    }
  }

  private async borrow(workspaceId: string): Promise<string> {
    const info = await this.sessions.create(
      { workspace_id: workspaceId, ttl_seconds: BORROWED_TTL_SECONDS },
      { labels: { purpose: PURPOSE } },
    );
    return info.id;
  }
}
