// A folder as a tar stream (`tar -C dir -c`), safe to hand to an HTTP client
// that starts reading later. Node discards the unread output of a child that
// has exited (child_process resumes its stdout then), so a small folder's tar
// could be gone before undici read a byte: undici then sent Content-Length 0
// and the server stored an empty snapshot (seen in environmentNpm). Piping
// into a PassThrough at once keeps every byte until it is read.
import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';

export function tarOf(dir: string, gzip = false): Readable {
  const tar = spawn('tar', ['-C', dir, gzip ? '-czf' : '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = new PassThrough();
  tar.stdout.pipe(out);
  tar.on('error', (e) => out.destroy(e));
  tar.on('close', (code) => {
    if (code !== 0) out.destroy(new Error(`tar -C ${dir} exited ${code}`));
  });
  return out;
}
