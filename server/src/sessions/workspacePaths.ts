// Lexical checks on file paths from API clients: everything resolves inside
// /workspace, '..' is refused outright. Symlinks are checked inside the sandbox.
import { AppError } from '../errors';
export const WORKSPACE_ROOT = '/workspace';

export class PathRejected extends Error {}

export function resolveWorkspacePath(input: string): string {
  if (input.includes('\0')) throw new PathRejected('path contains a NUL byte');
  let rel: string;
  if (input.startsWith('/')) {
    if (input !== WORKSPACE_ROOT && !input.startsWith(`${WORKSPACE_ROOT}/`)) {
      throw new PathRejected(`absolute paths must be inside ${WORKSPACE_ROOT}`);
    }
    rel = input.slice(WORKSPACE_ROOT.length);
  } else {
    rel = input;
  }
  const parts: string[] = [];
  for (const part of rel.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new PathRejected('".." is not allowed in paths');
    parts.push(part);
  }
  return parts.length ? `${WORKSPACE_ROOT}/${parts.join('/')}` : WORKSPACE_ROOT;
}

/** A path a request named, resolved under /workspace; INVALID_REQUEST (400, naming it) when it leaves it. */
export function requestedWorkspacePath(path: string): string {
  try {
    return resolveWorkspacePath(path);
  } catch (e) {
    if (e instanceof PathRejected) throw new AppError('INVALID_REQUEST', e.message, { path });
    throw e;
  }
}
