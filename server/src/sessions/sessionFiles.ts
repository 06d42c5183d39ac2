// Reading and writing a file of a running session's /workspace, by the path
// a client gave: the path is made a workspace path (or a 400) here, and the
// sandbox's runner does the I/O inside the sandbox, as the sandbox's user.
import { AppError } from '../errors';
import type { Sandbox } from '../sandboxes/sandboxProvider';
import { requestedWorkspacePath, WORKSPACE_ROOT } from './workspacePaths';

export interface SessionFile {
  path: string;
  content: Buffer;
  truncated: boolean;
}

/** At most `maxBytes` of the file (truncated says whether there was more). */
export async function readSessionFile(sandbox: Sandbox, path: string, maxBytes: number): Promise<SessionFile> {
  const abs = requestedWorkspacePath(path);
  const r = await sandbox.readFile(abs, maxBytes);
  return { path: abs, ...r };
}

/** Writes the file with `write` (whole bytes, or a host file a chunk at a time); answers its workspace path. */
export async function writeSessionFile(
  sandbox: Sandbox,
  path: string,
  write: (sandbox: Sandbox, abs: string) => Promise<void>,
): Promise<string> {
  const abs = requestedWorkspacePath(path);
  if (abs === WORKSPACE_ROOT) throw new AppError('INVALID_REQUEST', 'cannot write to /workspace itself: name a file');
  await write(sandbox, abs);
  return abs;
}
