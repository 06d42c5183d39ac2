// Toolkit snapshots: a session's workspace archived with GNU tar, kept by the
// server (<dir>/<id>.tar beside its record), and unpacked into a workspace
// before its sandbox starts. The archive is made on the host from the
// workspace folder, as the workspace's own unprivileged uid when the server
// is root, with a clean environment, a time limit and a size cap: links are
// archived as links, never followed, and nothing the sandbox planted can make
// tar read what that uid cannot.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AppError } from '../errors';
import { requestedWorkspacePath, WORKSPACE_ROOT } from '../sessions/workspacePaths';
import { JsonRecords } from './jsonRecords';

const TAR = '/usr/bin/tar';
const CLEAN_ENV = { PATH: '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };
const ARCHIVE_TIMEOUT_MS = 600_000;

const SnapshotRecord = z.object({
  id: z.string(),
  session_id: z.string(),
  label: z.string(),
  size_bytes: z.number().int(),
  include_paths: z.array(z.string()),
  exclude_paths: z.array(z.string()),
  created_at: z.string(),
});
export type SnapshotRecord = z.infer<typeof SnapshotRecord>;

export interface SnapshotTarget {
  workspaceDir: string;
  /** Who tar runs as (the workspace's owner), when the server is root. */
  uid: number;
}

export interface SnapshotSource extends SnapshotTarget {
  sessionId: string;
}

/** Runs a tool as the workspace's uid when the server can switch (is root); as itself otherwise. */
function asUser(uid: number): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? { uid, gid: uid } : {};
}

export class WorkspaceSnapshots {
  private readonly records: JsonRecords<typeof SnapshotRecord>;
  private readonly all = new Map<string, SnapshotRecord>();

  constructor(
    private readonly dir: string,
    private readonly maxArchiveBytes: number,
  ) {
    this.records = new JsonRecords(join(dir, 'records'), SnapshotRecord);
    for (const rec of this.records.loadAll()) this.all.set(rec.id, rec);
  }

  get(id: string): SnapshotRecord | undefined {
    return this.all.get(id);
  }

  listFor(sessionId: string): SnapshotRecord[] {
    // Newest first; reversed first so that two made in the same millisecond keep their order.
    return [...this.all.values()]
      .filter((s) => s.session_id === sessionId)
      .reverse()
      .sort((a, b) => b.created_at.localeCompare(a.created_at));
  }

  /** The name an archive is shown under (never a host path). */
  archiveName(id: string): string {
    return `snapshots/${id}.tar`;
  }

  async create(src: SnapshotSource, o: { label?: string; include?: string[]; exclude?: string[] }): Promise<SnapshotRecord> {
    const include = (o.include?.length ? o.include : [WORKSPACE_ROOT]).map((p) => requestedWorkspacePath(p));
    const exclude = o.exclude ?? [];
    const id = randomUUID();
    const file = this.archiveFile(id);
    const members = include.map((abs) => (abs === WORKSPACE_ROOT ? '.' : abs.slice(WORKSPACE_ROOT.length + 1)));
    const args = ['-c', '-f', '-', '-C', src.workspaceDir, '--one-file-system', ...exclude.map((p) => `--exclude=${p}`), '--', ...members];
    try {
      await this.archive(args, file, src.uid);
    } catch (e) {
      rmSync(file, { force: true });
      throw e;
    }
    const rec: SnapshotRecord = {
      id,
      session_id: src.sessionId,
      label: o.label ?? '',
      size_bytes: statSync(file).size,
      include_paths: include,
      exclude_paths: exclude,
      created_at: new Date().toISOString(),
    };
    this.records.save(rec);
    this.all.set(id, rec);
    return rec;
  }

  /**
   * Replaces a workspace folder's contents with a snapshot's. Only for a
   * workspace no sandbox runs on (a session being started): the folder is
   * emptied first (links removed, never followed), and tar unpacks as the
   * workspace's uid, fed the archive on stdin, so nothing it writes is
   * anyone else's.
   */
  async restoreInto(id: string, dest: SnapshotTarget): Promise<void> {
    if (!this.all.has(id)) throw new AppError('SESSION_NOT_FOUND', `no snapshot "${id}"`);
    for (const name of readdirSync(dest.workspaceDir)) rmSync(join(dest.workspaceDir, name), { recursive: true, force: true });
    const args = ['-x', '-f', '-', '-C', dest.workspaceDir, '--no-same-owner', '--delay-directory-restore'];
    await new Promise<void>((resolve, reject) => {
      const child = spawn(TAR, args, { env: CLEAN_ENV, cwd: '/', stdio: ['pipe', 'ignore', 'pipe'], ...asUser(dest.uid) });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => {
        if (stderr.length < 4096) stderr += c.toString();
      });
      const input = createReadStream(this.archiveFile(id));
      input.on('error', (e) => child.kill() && reject(e));
      child.stdin.on('error', () => undefined); // tar failed early: its exit says why
      input.pipe(child.stdin);
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0
          ? resolve()
          : reject(new AppError('INTERNAL_ERROR', `cannot restore snapshot "${id}": ${stderr.trim() || `tar exited with ${code}`}`)),
      );
    });
  }

  removeFor(sessionId: string): void {
    for (const rec of this.listFor(sessionId)) {
      rmSync(this.archiveFile(rec.id), { force: true });
      this.records.remove(rec.id);
      this.all.delete(rec.id);
    }
  }

  private archiveFile(id: string): string {
    return join(this.dir, `${id}.tar`);
  }

  /** tar's stdout to `file`, killed past the size cap or the time limit. */
  private archive(args: string[], file: string, uid: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(TAR, args, { env: CLEAN_ENV, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...asUser(uid) });
      const out = createWriteStream(file, { mode: 0o600 });
      let bytes = 0;
      let stderr = '';
      let failure: AppError | undefined;
      const kill = (why: AppError) => {
        failure ??= why;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      };
      const timer = setTimeout(() => kill(new AppError('INTERNAL_ERROR', 'archiving the workspace took too long')), ARCHIVE_TIMEOUT_MS);
      child.stdout.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > this.maxArchiveBytes)
          kill(new AppError('PAYLOAD_TOO_LARGE', `the snapshot is larger than ${this.maxArchiveBytes} bytes`));
      });
      child.stdout.pipe(out);
      child.stderr.on('data', (c: Buffer) => {
        if (stderr.length < 4096) stderr += c.toString();
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        out.end(() => {
          // 1 is "some files changed as we read them": the sandbox kept working, the archive is still whole.
          if (failure) reject(failure);
          else if (code === 0 || code === 1) resolve();
          else reject(new AppError('INVALID_REQUEST', `cannot archive the workspace: ${stderr.trim() || `tar exited with ${code}`}`));
        });
      });
    });
  }
}
