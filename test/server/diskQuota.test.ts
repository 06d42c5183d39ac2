// The workspace disk quota is measured from the host, so a folder the sandbox
// locks (chmod 0300 or 0000) hides nothing: the command is killed with the
// quota notice, and the session stays usable once the files are gone.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync, linkSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureWorkspace } from '../../server/src/sandboxes/host/workspaceUsage';
import { ApiClient } from '../helpers/apiClient';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';

const MiB = 1024 * 1024;

describe('disk quota measured from the host', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  let api: ApiClient;

  before(async () => {
    server = await startServer({
      config: { limits: { diskQuotaBytes: 50 * MiB, fileSizeBytes: 50 * MiB } },
      env: { ASTRAFORGE_LOG_LEVEL: 'info' },
    });
    api = new ApiClient(server.url, server.apiKey);
  });
  after(async () => server?.dispose());
  /** How many times the server's quota watcher has killed this session's processes, from its log. */
  const quotaKills = (sessionId: string) =>
    server
      .output()
      .split('\n')
      .filter((l) => l.includes('"disk quota exceeded"') && l.includes(sessionId)).length;

  for (const mode of ['0300', '0000']) {
    it(`killsACommandThatHidesFilesInAFolderWithMode${mode}`, async () => {
      const id = await api.createSession();
      // Three 50 MiB files (each just under RLIMIT_FSIZE), the folder locked after each, then wait to be killed.
      const cmd =
        'mkdir -p /workspace/hidden && for i in 1 2 3; do chmod 0700 /workspace/hidden; ' +
        'dd if=/dev/zero of=/workspace/hidden/f$i bs=1M count=49 status=none; ' +
        `chmod ${mode} /workspace/hidden; done; sleep 60; echo survived`;
      const started = Date.now();
      const r = await api.post(`/v1/sessions/${id}/exec`, { cmd, timeout_ms: 90_000 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.doesNotMatch(r.body.output, /survived/);
      assert.ok(Date.now() - started < 30_000, `killed after ${Date.now() - started} ms`);
      const notice = JSON.stringify(r.body);
      assert.match(notice, /workspace disk quota exceeded \(\d+ > 52428800 bytes, measured from the host\)/);
      await until('the kill in the server log', () => quotaKills(id) > 0, { timeoutMs: 5000 });

      // Still usable: the files can be removed and commands run again.
      const clean = await api.exec(id, 'chmod 0700 /workspace/hidden; rm -rf /workspace/hidden; echo clean');
      assert.equal(clean.status, 200, JSON.stringify(clean.body));
      assert.equal(clean.body.output, 'clean\n');
      // Longer than the watcher's 2 s interval: a check runs with the files gone, and finds nothing to enforce.
      const enforced = quotaKills(id);
      const after = await api.exec(id, 'sleep 3; echo still here');
      assert.equal(after.body.output, 'still here\n');
      assert.equal(quotaKills(id), enforced, 'no check enforced the quota once the files were gone');
      await api.delete(`/v1/sessions/${id}`);
    });
  }
});

describe('workspace usage (host walk)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'af-usage-'))));
  afterEach(() => {
    chmodSync(join(dir, 'locked'), 0o700);
    rmSync(dir, { recursive: true, force: true });
  });

  it('countsLockedFoldersHardLinksOnceAndNeverFollowsSymlinks', async () => {
    mkdirSync(join(dir, 'locked'));
    writeFileSync(join(dir, 'locked', 'a'), Buffer.alloc(4 * MiB, 1));
    linkSync(join(dir, 'locked', 'a'), join(dir, 'a-again'));
    symlinkSync('/usr', join(dir, 'to-usr'));
    chmodSync(join(dir, 'locked'), 0o000);
    const u = await measureWorkspace(dir, { entryBudget: 1000 });
    assert.ok(u.complete);
    assert.equal(u.unreadable, 0);
    assert.ok(u.bytes >= 4 * MiB && u.bytes < 4 * MiB + 64 * 1024, `measured ${u.bytes}`);
  });

  it('stopsAtTheEntryBudget', async () => {
    mkdirSync(join(dir, 'locked'));
    for (let i = 0; i < 50; i++) writeFileSync(join(dir, `f${i}`), 'x');
    const u = await measureWorkspace(dir, { entryBudget: 20 });
    assert.equal(u.complete, false);
    assert.ok(u.entries <= 20 + 16);
  });
});
