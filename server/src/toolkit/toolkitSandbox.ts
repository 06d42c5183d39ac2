// What the toolkit API does inside a session's sandbox: commands, file writes
// and reads, exports and snapshots. Each call starts the session's sandbox
// first if it was stopped, as upstream's views do.
import { basename } from 'node:path';
import type { ToolkitSessions } from './toolkitSessions';
import { AppError } from '../errors';
import { shellQuote } from '../sessions/shellQuote';
import type { ArtifactRecord } from './artifactStore';
import type { SnapshotRecord } from './workspaceSnapshots';

const WORKSPACE = '/workspace';
const TIMED_OUT_EXIT = 124;

export interface ShellRequest {
  command: string | string[];
  cwd?: string;
  timeout_sec?: number;
  capture_stdout: boolean;
  capture_stderr: boolean;
}

export class ToolkitSandbox {
  private readonly sessions: ToolkitSessions['sessions'];

  constructor(
    private readonly toolkit: ToolkitSessions,
    private readonly maxFileBytes: number,
  ) {
    this.sessions = toolkit.sessions;
  }

  /**
   * Upstream runs each command in a fresh `sh -c` from the workspace (or
   * `cwd`): here a subshell of the session's shell, so that neither a `cd`
   * nor a variable carries over to the next call, as there.
   */
  async shell(id: string, req: ShellRequest) {
    const backing = await this.toolkit.ensureReady(id);
    const line = Array.isArray(req.command) ? req.command.map(shellQuote).join(' ') : req.command;
    const cmd = `(cd ${shellQuote(req.cwd || WORKSPACE)} && ${line}\n)`;
    const timeoutMs = req.timeout_sec ? req.timeout_sec * 1000 : undefined;
    const out = await this.sessions.exec(backing, cmd, { separateStderr: true, timeoutMs });
    const stderr = out.timedOut
      ? `${out.stderr}\n[timed out after ${req.timeout_sec ?? 'the default'} s; the command's processes were killed]`
      : out.stderr;
    return {
      exit_code: out.timedOut ? TIMED_OUT_EXIT : out.exitCode,
      stdout: req.capture_stdout ? out.stdout : '',
      stderr: req.capture_stderr ? stderr : '',
      duration_sec: Math.round(out.durationMs) / 1000,
    };
  }

  async write(id: string, path: string, data: Buffer) {
    const backing = await this.toolkit.ensureReady(id);
    const written = await this.sessions.writeFile(backing, path, data);
    return { exit_code: 0, stdout: '', stderr: '', path: written, size: data.length };
  }

  /** Writes a file the server spooled to `hostFile` (`size` bytes), copied to the sandbox a chunk at a time. */
  async writeFromHost(id: string, path: string, hostFile: string, size: number) {
    const backing = await this.toolkit.ensureReady(id);
    const written = await this.sessions.writeFileFromHost(backing, path, hostFile);
    return { exit_code: 0, stdout: '', stderr: '', path: written, size };
  }

  async read(id: string, path: string): Promise<{ path: string; content: Buffer }> {
    const backing = await this.toolkit.ensureReady(id);
    const { content, truncated, path: abs } = await this.sessions.readFile(backing, path, this.maxFileBytes);
    if (truncated) throw new AppError('PAYLOAD_TOO_LARGE', `"${path}" is larger than ${this.maxFileBytes} bytes`);
    return { path: abs, content };
  }

  /** Copies a file out of the sandbox into an artifact the server keeps. */
  async exportFile(id: string, path: string, o: { filename?: string; contentType?: string }): Promise<ArtifactRecord> {
    const file = await this.read(id, path);
    return this.toolkit.artifacts.add(id, file.path, file.content, {
      filename: o.filename || basename(file.path) || 'artifact',
      contentType: o.contentType || 'application/octet-stream',
    });
  }

  async snapshot(id: string, o: { label?: string; include_paths?: string[]; exclude_paths?: string[] }): Promise<SnapshotRecord> {
    await this.toolkit.ensureReady(id);
    const ws = this.toolkit.workspaceOf(id);
    const snap = await this.toolkit.snapshots.create(
      { sessionId: id, workspaceDir: ws.dir, uid: ws.uid },
      { label: o.label, include: o.include_paths, exclude: o.exclude_paths },
    );
    this.toolkit.recordSnapshot(id, snap.id);
    return snap;
  }
}
