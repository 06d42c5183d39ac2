// Servers the extension started before one server served every window:
// one per window, in globalStorage's server, server-2 … server-8, with no
// record (server.json) to find them by and a key that died with their
// window. A reload left them running, orphaned, holding their folders; the
// one in `server` would keep the user's shared server from ever starting.
// They cannot be reached, so they are stopped (their runs come back
// interrupted, with their logs, when a server opens the folder again).
// They are told from a shared server that is still starting (it holds the
// lock before it writes its record) by their environment: the launcher of
// the shared server names its build there (ASTRAFORGE_BUILD), theirs did not.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive } from './serverWatch';
import { readRecord } from './userServer';

/** The folders of the old per-window servers beside the shared one. */
const OLD_SLOT = /^server-[2-8]$/;

/** The process that holds `dataDir`'s lock when it is an old per-window server of that folder; undefined otherwise. */
function oldServerIn(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, 'server.lock'), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) return undefined;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const folder = argv[argv.indexOf('--data-dir') + 1];
    if (!argv.some((a) => a.endsWith('main.js')) || folder !== dataDir) return undefined;
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return env.some((e) => e.startsWith('ASTRAFORGE_BUILD=')) ? undefined : pid;
  } catch {
    return undefined;
  }
}

/** Whether the window that started it is gone: it was handed to init (or to the session's systemd, which reaps orphans). */
function isOrphan(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return parent === 1 || ['systemd', 'init'].includes(readFileSync(`/proc/${parent}/comm`, 'utf8').trim());
  } catch {
    return false;
  }
}

async function stop(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  const end = Date.now() + 10_000;
  while (isProcessAlive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * Stops the old per-window server that holds `dataDir` (the shared
 * server's folder), and the orphaned ones in the old folders beside it (an
 * old window not yet reloaded keeps its own). Returns the pids stopped.
 */
export async function stopRecordlessServers(dataDir: string, storageDir: string): Promise<number[]> {
  const stopped: number[] = [];
  const holder = oldServerIn(dataDir);
  if (holder !== undefined && readRecord(dataDir)?.pid !== holder) stopped.push(holder);
  let slots: string[] = [];
  try {
    slots = readdirSync(storageDir).filter((name) => OLD_SLOT.test(name));
  } catch {
    // no storage yet
  }
  for (const slot of slots) {
    const pid = oldServerIn(join(storageDir, slot));
    if (pid !== undefined && isOrphan(pid)) stopped.push(pid);
  }
  await Promise.all(stopped.map(stop));
  return stopped;
}
