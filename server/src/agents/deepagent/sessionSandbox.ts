// The DeepAgent's backend: deepagents' BaseSandbox bound to one sandbox
// session, so its shell and every filesystem tool (ls, read, write, edit,
// grep, glob, all built on execute/upload/download) run inside the sandbox.
import { BaseSandbox, type ExecuteResponse, type FileDownloadResponse, type FileUploadResponse } from 'deepagents';
import { AppError } from '../../errors';
import { SessionFileNotFound } from '../../sessions/sessionErrors';
import type { SessionManager } from '../../sessions/sessionManager';

const MAX_DOWNLOAD_BYTES = 16 * 1024 * 1024;

export interface SessionSandboxOptions {
  sessions: SessionManager;
  sessionId: string;
  /** Limits each command; the run's own deadline and cancel come through `signal`. */
  timeoutMs: () => number;
  signal?: AbortSignal;
  /** Output as the command writes it, for live events. */
  onOutput?: (text: string) => void;
}

function fileError(e: unknown): FileUploadResponse['error'] {
  // By type first: a missing file is a 400 like a bad path, and its sentence
  // ("no such file", "No such file or directory") reads as anything below.
  if (e instanceof SessionFileNotFound) return 'file_not_found';
  const message = (e as Error).message ?? '';
  if (e instanceof AppError && e.code === 'INVALID_REQUEST') return /directory/i.test(message) ? 'is_directory' : 'invalid_path';
  if (/no such file|not found|ENOENT/i.test(message)) return 'file_not_found';
  if (/directory/i.test(message)) return 'is_directory';
  if (/permission|EACCES/i.test(message)) return 'permission_denied';
  return 'invalid_path';
}

export class SessionSandbox extends BaseSandbox {
  readonly id: string;

  constructor(private readonly opts: SessionSandboxOptions) {
    super();
    this.id = opts.sessionId;
  }

  async execute(command: string): Promise<ExecuteResponse> {
    const out = await this.opts.sessions.exec(this.opts.sessionId, command, {
      timeoutMs: this.opts.timeoutMs(),
      signal: this.opts.signal,
      onOutput: (_stream, text) => this.opts.onOutput?.(text),
    });
    let output = out.stdout;
    if (out.timedOut) output += '\n[the command timed out and was killed]';
    return { output, exitCode: out.exitCode, truncated: out.truncated };
  }

  async uploadFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    const results: FileUploadResponse[] = [];
    for (const [path, content] of files) {
      try {
        await this.opts.sessions.writeFile(this.opts.sessionId, path, Buffer.from(content));
        results.push({ path, error: null });
      } catch (e) {
        results.push({ path, error: fileError(e) });
      }
    }
    return results;
  }

  async downloadFiles(paths: string[]): Promise<FileDownloadResponse[]> {
    const results: FileDownloadResponse[] = [];
    for (const path of paths) {
      try {
        const { content } = await this.opts.sessions.readFile(this.opts.sessionId, path, MAX_DOWNLOAD_BYTES);
        results.push({ path, content: new Uint8Array(content), error: null });
      } catch (e) {
        results.push({ path, content: null, error: fileError(e) });
      }
    }
    return results;
  }
}
