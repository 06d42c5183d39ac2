// The record of the running server in its data folder (server.json, 0600):
// how any VS Code window of the same user finds the one server and its key.
// Written after the server listens, atomically (a reader never sees half a
// record), and removed on exit only if it is still ours.
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVER_RECORD_FILE, ServerRecord } from '@astraforge/contract/serverApi';

export function writeServerRecord(dataDir: string, record: ServerRecord): () => void {
  const path = join(dataDir, SERVER_RECORD_FILE);
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(ServerRecord.parse(record))}\n`, { mode: 0o600 });
  renameSync(temp, path);
  return () => {
    try {
      if (readServerRecord(dataDir)?.pid === record.pid) unlinkSync(path);
    } catch {
      // already gone
    }
  };
}

/** The record, or undefined when there is none or it does not parse. */
export function readServerRecord(dataDir: string): ServerRecord | undefined {
  try {
    const parsed = ServerRecord.safeParse(JSON.parse(readFileSync(join(dataDir, SERVER_RECORD_FILE), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
