// One server per data folder: a second one refuses to start and says which
// process holds it; the lock of a killed server does not block the next.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerExitedEarly, whyItFailed } from '../../src/server/serverExitedEarly';
import { ServerExit } from '@astraforge/contract/serverReady';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

describe('data folder lock', () => {
  let dataDir: string;
  const servers: ServerProcess[] = [];
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'af-lock-'));
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refusesASecondServerOnTheSameDataFolder', async () => {
    const first = await startServer({ dataDir });
    servers.push(first);
    const err = await startServer({ dataDir }).then(
      (s) => (servers.push(s), undefined),
      (e: Error) => e,
    );
    assert.ok(err instanceof ServerExitedEarly, `the second server must not start: ${err}`);
    assert.equal(err.exitCode, ServerExit.dataDirInUse);
    assert.ok(err.dataDirInUse, 'the launcher tells it from other failures');
    assert.match(err.message, new RegExp(`in use by another AstraForge server \\(pid ${first.child.pid}\\)`));
    // The extension shows the reason, not the stack under it.
    assert.match(whyItFailed(err.message), /^the data folder .* is in use by another AstraForge server \(pid \d+\); stop it/);
    const res = await fetch(`${first.url}/healthz`);
    assert.equal(res.status, 200, 'the first server is unharmed');
    assert.deepEqual(await res.json(), { ok: true });
  });

  it('takesOverTheLockOfAKilledServer', async () => {
    const first = await startServer({ dataDir });
    await first.kill();
    const second = await startServer({ dataDir });
    servers.push(second);
    const res = await fetch(`${second.url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true });
  });
});
