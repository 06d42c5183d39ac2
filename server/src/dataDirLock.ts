// One server per data folder. Two servers sharing one would each take the
// other's live sessions for dead ones after a restart and overwrite the
// runner binary the other is executing; the second to start refuses, with
// a message that names the first. A lock left by a crashed server is taken
// over: it names a process that is gone (or is no longer a server).
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** The server exits with ServerExit.dataDirInUse for this, so a launcher knows without reading the sentence. */
export class DataDirInUse extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`the data folder ${dataDir} is in use by another AstraForge server (pid ${pid}); stop it or give this one another --data-dir`);
  }
}

const SERVER_SCRIPT = /(^|[/\0])(main\.js|astraforge-server)(\0|$)/;

function isLiveServer(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A recycled pid belongs to some other program: its command line says so.
    // The server runs as its bundle (node …/main.js) or through the package's
    // bin link (npx astraforge-server), whose name stays in the command line.
    return SERVER_SCRIPT.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true;
  }
}

/** Takes the data folder's lock for this process; returns the function that gives it back. */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'server.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8') === String(process.pid)) unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder = NaN;
      try {
        holder = Number(readFileSync(path, 'utf8').trim());
      } catch {
        continue; // removed meanwhile: try again
      }
      if (isLiveServer(holder)) throw new DataDirInUse(dataDir, holder);
      try {
        unlinkSync(path); // stale: its server is gone
      } catch {
        // another starter removed it first
      }
    }
  }
  throw new Error(`cannot take the lock ${path}`);
}
