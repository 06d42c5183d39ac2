// Uploads go to disk before they go to a sandbox, so no request body sits in
// the server's memory whole: each request gets a private folder under the
// data folder's uploads/ (0700, the server's own), removed when the request
// ends, and what a crash left behind is removed at the next start.
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../errors';

export class UploadSpool {
  /** Creates (or empties, after a crash) the folder that holds uploads in flight. */
  constructor(private readonly dir: string) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** Runs `use` with a fresh private folder, removed afterwards whatever happens. */
  async withFolder<T>(use: (folder: string) => Promise<T>): Promise<T> {
    const folder = await mkdtemp(join(this.dir, 'u-'));
    try {
      return await use(folder);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }
}

/**
 * Copies `body` into `file` (0600), refusing it with 413 as soon as it passes
 * `maxBytes` (the copy stops there: an oversized upload is never stored whole).
 * Returns the bytes written.
 */
export async function spoolToFile(body: Readable, file: string, maxBytes: number, name: string): Promise<number> {
  let bytes = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) return done(new AppError('PAYLOAD_TOO_LARGE', `"${name}" is over ${maxBytes} bytes`));
      done(null, chunk);
    },
  });
  await pipeline(body, limit, createWriteStream(file, { mode: 0o600 }));
  return bytes;
}
