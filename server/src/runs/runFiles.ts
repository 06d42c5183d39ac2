// The files a review needs from a run: as its snapshot had them (the base of
// a three-way merge with the user's edits) and as the agent left them in
// its sandbox (binary files, which have no patch to rebuild them from).
import type { FileContents, Run } from '@astraforge/contract/runApi';
import { AppError } from '../errors';
import { SessionFileNotFound } from '../sessions/sessionErrors';
import type { SessionManager } from '../sessions/sessionManager';
import type { SnapshotStore } from '../snapshots/snapshotStore';

/** One answer of files stays well under what a JSON body should carry. */
const FILES_MAX_BYTES = 32 * 1024 * 1024;

export class RunFiles {
  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly sessions: SessionManager,
  ) {}

  /** Files as the run's snapshot had them, up to FILES_MAX_BYTES per answer. */
  async base(run: Run, paths: readonly string[]): Promise<FileContents> {
    const contents = await this.snapshots.readFiles(run.snapshot_id, paths, FILES_MAX_BYTES);
    const manifest = this.snapshots.manifest(run.snapshot_id);
    const files: FileContents['files'] = [];
    const remaining: string[] = [];
    for (const [path, content] of contents) {
      if (content) files.push({ path, content_base64: content.toString('base64') });
      else if (manifest.get(path)?.type === 'file')
        remaining.push(path); // left out by the size cap
      else files.push({ path });
    }
    return { files, remaining };
  }

  /** Files as the run left them in its sandbox, while the sandbox lives: 410 once it has ended. */
  async proposed(run: Run, paths: readonly string[]): Promise<FileContents> {
    const sessionId = this.liveSessionOf(run);
    const files: FileContents['files'] = [];
    const remaining: string[] = [];
    let bytes = 0;
    for (const path of paths) {
      if (bytes >= FILES_MAX_BYTES) {
        remaining.push(path);
        continue;
      }
      try {
        const r = await this.sessions.readFile(sessionId, path, FILES_MAX_BYTES);
        if (r.truncated) throw new AppError('RESOURCE_EXHAUSTED', `${path} is larger than ${FILES_MAX_BYTES} bytes`);
        bytes += r.content.length;
        files.push({ path, content_base64: r.content.toString('base64') });
      } catch (e) {
        if (e instanceof SessionFileNotFound) files.push({ path });
        else throw e;
      }
    }
    return { files, remaining };
  }

  private liveSessionOf(run: Run): string {
    try {
      if (!run.session_id) throw new Error('no sandbox');
      this.sessions.assertUsable(run.session_id);
      return run.session_id;
    } catch {
      throw new AppError(
        'SESSION_EXPIRED',
        `run "${run.id}"'s sandbox has ended, and with it the agent's files; start the run again to get them`,
      );
    }
  }
}
