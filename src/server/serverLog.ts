// The background server writes its log to a file in its data folder (no
// window owns its output any more). A window follows that file from where
// it was when the window connected, line by line, into its output channel.
import { closeSync, openSync, readSync, renameSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

/** A server's log is kept up to this size; the launcher starts a new one past it. */
export const SERVER_LOG_MAX_BYTES = 10 * 1024 * 1024;

/**
 * Before a server starts: a log past `maxBytes` becomes `<file>.1` (the one
 * before it goes), so a server that lives for months beside every window
 * does not fill the disk, and the last log is still there to read. A server
 * still writing the old file (one being replaced) goes on writing to `.1`.
 * Returns whether it rotated.
 */
export function rotateLog(file: string, maxBytes = SERVER_LOG_MAX_BYTES): boolean {
  if (logSize(file) <= maxBytes) return false;
  renameSync(file, `${file}.1`);
  return true;
}

/** The file's size now (0 when it is not there yet): where a follower starts. */
export function logSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Hands on each complete line written to `file` after byte `from`, until disposed. */
export function followLog(file: string, from: number, onLine: (line: string) => void, pollMs = 1000): { dispose(): void } {
  let offset = from;
  let partial = '';
  // A character split between two reads is completed by the next.
  let decoder = new StringDecoder('utf8');
  const readNew = (size: number) => {
    // Truncated or replaced by a smaller file: start again from its beginning.
    if (size < offset) {
      offset = 0;
      partial = '';
      decoder = new StringDecoder('utf8');
    }
    if (size === offset) return;
    let fd: number | undefined;
    try {
      fd = openSync(file, 'r');
      const buffer = Buffer.alloc(Math.min(size - offset, 1 << 20));
      while (offset < size) {
        const read = readSync(fd, buffer, 0, Math.min(buffer.length, size - offset), offset);
        if (read === 0) break;
        offset += read;
        const lines = (partial + decoder.write(buffer.subarray(0, read))).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) onLine(line);
      }
    } catch {
      // Gone between the stat and the read: the next change says more.
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  };
  // A plain poll of the size: a change watcher can take its first look after a write and never report that write.
  readNew(logSize(file));
  const timer = setInterval(() => readNew(logSize(file)), pollMs);
  timer.unref();
  return { dispose: () => clearInterval(timer) };
}
