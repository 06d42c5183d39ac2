// The multipart upload both file APIs take (a session's files and a
// workspace's): `file` or `files` parts and an optional `path` folder field.
// Each part streams to the request's spool folder, bounded per file, so an
// upload never sits in memory whole; other parts are drained and ignored.
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors';
import { spoolToFile } from './uploadSpool';

export interface SpooledUpload {
  /** Where each file goes in the sandbox: the `path` folder joined with its filename. */
  files: { path: string; hostFile: string }[];
}

/** Reads the request's parts into `folder`; 400 for a request with no file or a file with no name, 413 past `maxFileBytes`. */
export async function spoolMultipartUpload(req: FastifyRequest, folder: string, maxFileBytes: number): Promise<SpooledUpload> {
  if (!req.isMultipart()) throw new AppError('INVALID_REQUEST', 'send multipart/form-data with a `file` or `files` part');
  let target = '';
  const parts: { name: string; hostFile: string }[] = [];
  for await (const part of req.parts({ limits: { fileSize: maxFileBytes, files: 1000 } })) {
    if (part.type === 'field') {
      if (part.fieldname === 'path') target = String(part.value);
      continue;
    }
    if (part.fieldname !== 'file' && part.fieldname !== 'files') {
      part.file.resume();
      continue;
    }
    const hostFile = join(folder, String(parts.length));
    await spoolToFile(part.file, hostFile, maxFileBytes, part.filename);
    if (part.file.truncated) throw new AppError('PAYLOAD_TOO_LARGE', `"${part.filename}" is over ${maxFileBytes} bytes`);
    parts.push({ name: part.filename, hostFile });
  }
  if (parts.length === 0) throw new AppError('INVALID_REQUEST', 'no `file` or `files` part in the upload');
  if (parts.some((p) => !p.name)) throw new AppError('INVALID_REQUEST', 'every uploaded file needs a filename');
  const at = (name: string) => (target ? `${target.replace(/\/+$/, '')}/${name}` : name);
  return { files: parts.map((p) => ({ path: at(p.name), hostFile: p.hostFile })) };
}
