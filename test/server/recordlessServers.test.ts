// Servers of the extension from before the shared server (one per window,
// no record, ASTRAFORGE_BUILD not in their environment) are stopped where
// they stand in the way: the one holding the shared server's folder, and
// the orphaned ones in the old folders beside it; a shared server still
// starting (lock taken, record not yet written) and an old window's own
// server are left alone. Real servers, real processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopRecordlessServers } from '../../src/server/recordlessServers';
import { isProcessAlive } from '../../src/server/serverWatch';
import { REPO_ROOT, startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';

const MAIN = join(REPO_ROOT, 'server/dist/main.js');

describe('servers of the extension from before the shared server', function () {
  this.timeout(60_000);
  let storage: string;
  const started: ServerProcess[] = [];
  const orphans: number[] = [];

  beforeEach(() => (storage = mkdtempSync(join(tmpdir(), 'af-storage-'))));
  afterEach(async () => {
    for (const s of started.splice(0)) await s.stop();
    for (const pid of orphans.splice(0)) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(storage, { recursive: true, force: true });
  });

  /** A server as the old per-window launcher left it: no record to find it by. */
  async function oldServer(folder: string, env: Record<string, string> = {}): Promise<ServerProcess> {
    const dataDir = join(storage, folder);
    mkdirSync(dataDir, { recursive: true });
    const server = await startServer({ dataDir, env });
    started.push(server);
    await until('its record, to take it away', () => existsSync(join(dataDir, 'server.json')));
    unlinkSync(join(dataDir, 'server.json'));
    return server;
  }

  /** One whose window is gone: its parent exited, so init took it. */
  async function orphanedServer(folder: string): Promise<number> {
    const dataDir = join(storage, folder);
    mkdirSync(dataDir, { recursive: true });
    const sh = spawn('sh', ['-c', `"${process.execPath}" "${MAIN}" --port 0 --data-dir "${dataDir}" >/dev/null 2>&1 &`], {
      env: { PATH: process.env.PATH ?? '', ASTRAFORGE_API_KEY: 'old-window-key' },
      stdio: 'ignore',
    });
    await new Promise((r) => sh.once('exit', r));
    const pid = await until('the orphan to take its folder', () => {
      try {
        readFileSync(join(dataDir, 'server.json'));
        return Number(readFileSync(join(dataDir, 'server.lock'), 'utf8'));
      } catch {
        return undefined;
      }
    });
    orphans.push(pid);
    unlinkSync(join(dataDir, 'server.json'));
    return pid;
  }

  it('stopsTheOneHoldingTheSharedFolderAndTheOrphansBesideIt', async () => {
    const holder = await oldServer('server');
    const orphan = await orphanedServer('server-2');
    const oldWindows = await oldServer('server-3'); // its window (this test) is still there
    const stopped = await stopRecordlessServers(join(storage, 'server'), storage);
    assert.deepEqual(stopped.sort(), [holder.child.pid!, orphan].sort());
    assert.equal(isProcessAlive(orphan), false);
    await until('the holder to exit', () => holder.child.exitCode !== null || holder.child.signalCode !== null);
    assert.ok(isProcessAlive(oldWindows.child.pid!), "an old window's own server runs on");
    // The folder is free for the shared server.
    const shared = await startServer({ dataDir: join(storage, 'server'), env: { ASTRAFORGE_BUILD: 'shared' } });
    started.push(shared);
  });

  it('leavesASharedServerThatIsStillStarting', async () => {
    const starting = await oldServer('server', { ASTRAFORGE_BUILD: '0.1.0+1#abc' });
    assert.deepEqual(await stopRecordlessServers(join(storage, 'server'), storage), []);
    assert.ok(isProcessAlive(starting.child.pid!));
  });

  it('leavesTheSharedServerItsRecordNames', async () => {
    const dataDir = join(storage, 'server');
    mkdirSync(dataDir);
    const server = await startServer({ dataDir }); // started by hand: no build in its environment, but a record
    started.push(server);
    await until('its record', () => existsSync(join(dataDir, 'server.json')));
    assert.deepEqual(await stopRecordlessServers(dataDir, storage), []);
    assert.ok(isProcessAlive(server.child.pid!));
  });
});
