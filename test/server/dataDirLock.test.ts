// One server per data folder: a second one refuses to start and says which
// process holds it; the lock of a killed server does not block the next.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerExitedEarly, whyItFailed } from '../../src/server/serverExitedEarly';
import { ServerExit } from '@astraforge/contract/serverReady';
import { findReadyLine } from '@astraforge/contract/serverReady';
import { REPO_ROOT, startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';

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

  it('knowsAServerStartedThroughItsBinLinkIsAlive', async () => {
    // npx astraforge-server runs node on the package's bin link, so the
    // command line names the link, not main.js: it holds the lock all the same.
    const binDir = mkdtempSync(join(tmpdir(), 'af-bin-'));
    const link = join(binDir, 'astraforge-server');
    symlinkSync(join(REPO_ROOT, 'server/dist/main.js'), link);
    const viaBin = spawn(process.execPath, [link, '--port', '0', '--data-dir', dataDir], {
      env: { PATH: process.env.PATH ?? '', HOME: dataDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    viaBin.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until('the bin-started server is ready', () => findReadyLine(out) !== undefined, { timeoutMs: 20_000 });
      const err = await startServer({ dataDir }).then(
        (s) => (servers.push(s), undefined),
        (e: Error) => e,
      );
      assert.ok(err instanceof ServerExitedEarly, `the second server must not take the lock: ${err}`);
      assert.equal(err.exitCode, ServerExit.dataDirInUse);
      assert.match(err.message, new RegExp(`\\(pid ${viaBin.pid}\\)`));
    } finally {
      // Stopped as an operator would: a killed server leaves its warm pool's mounts for the next start to clear.
      const exited = new Promise((r) => viaBin.once('exit', r));
      viaBin.kill('SIGTERM');
      await exited;
      rmSync(binDir, { recursive: true, force: true });
    }
  });
});
