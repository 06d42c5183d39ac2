// The rules every file route shares (sessions, workspaces, the toolkit):
// how big a write's JSON body may be, the size check on the decoded bytes,
// and how much a read returns.
import type { FsReadResult } from '@astraforge/contract/sandboxApi';
import type { z } from 'zod';
import { AppError } from '../errors';

export interface FileLimits {
  maxFileBytes: number;
  defaultReadBytes: number;
}

/** A write's body limit: base64 grows a file by a third, and the JSON around it needs room. */
export function writeBodyLimit(maxFileBytes: number): number {
  return Math.ceil(maxFileBytes * 1.4) + 64 * 1024;
}

/** The decoded bytes of a write, refused (413) over the file limit. */
export function checkedWrite(data: Buffer, maxFileBytes: number): Buffer {
  if (data.length > maxFileBytes) throw new AppError('PAYLOAD_TOO_LARGE', `files are limited to ${maxFileBytes} bytes`);
  return data;
}

/** A write request's bytes (`text` or `content_base64`), refused over the file limit. */
export function bytesOfWrite(body: { text: string } | { content_base64: string }, maxFileBytes: number): Buffer {
  return checkedWrite('text' in body ? Buffer.from(body.text, 'utf8') : Buffer.from(body.content_base64, 'base64'), maxFileBytes);
}

/** How many bytes a read returns: what it asked for, else the default, never over the file limit. */
export function readCap(askedBytes: number | undefined, limits: FileLimits): number {
  return Math.min(askedBytes ?? limits.defaultReadBytes, limits.maxFileBytes);
}

/** A file read as the API answers it. */
export function readAnswer(f: { path: string; content: Buffer; truncated: boolean }): z.infer<typeof FsReadResult> {
  return { path: f.path, content_base64: f.content.toString('base64'), truncated: f.truncated };
}
