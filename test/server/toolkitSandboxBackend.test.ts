// The toolkit API as the `astraforge-toolkit` SandboxBackend (the deepagents
// backend) and its sandbox tools drive it: the shell commands it sends for
// ls/read/write/edit/grep, upload/ for writes, files/content/ for downloads,
// and _ensure_session_ready's way back to a ready session (GET, then POST
// with the session's id) after a stop, an idle timeout or a server restart;
// and upstream's snapshots, which that POST can restore.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { toolkitCaller } from '../helpers/toolkitClient';

describe('toolkit API: SandboxBackend', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  const call = toolkitCaller(() => server);
  const newSession = async (json: unknown = {}) => {
    const res = await call('POST', '/sandbox/sessions/', { json });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { id: string; ref: string; metadata: Record<string, unknown> };
  };
  const shell = async (id: string, command: unknown, extra: Record<string, unknown> = {}) => {
    const res = await call('POST', `/sandbox/sessions/${id}/shell/`, { json: { command, ...extra } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as { exit_code: number; stdout: string; stderr: string; duration_sec: number };
  };

  before(async () => {
    server = await startServer();
  });
  after(async () => server?.dispose());

  it('runsTheBackendsShellCommandsAsUpstreamDoes', async () => {
    const s = await newSession();
    const r = await shell(s.id, 'echo out; echo err >&2; exit 3');
    assert.deepEqual([r.exit_code, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
    assert.equal(typeof r.duration_sec, 'number');
    // Each command starts afresh from /workspace: no cd or variable carries over.
    await shell(s.id, 'mkdir -p sub && cd sub && export MARK=1');
    assert.equal((await shell(s.id, 'pwd; echo "[$MARK]"')).stdout, '/workspace\n[]\n');
    assert.equal((await shell(s.id, 'pwd', { cwd: '/tmp' })).stdout, '/tmp\n');
    assert.equal((await shell(s.id, ['printf', '%s|', "it's", 'a b'])).stdout, "it's|a b|");
    const quiet = await shell(s.id, 'echo out; echo err >&2', { capture_stdout: false });
    assert.deepEqual([quiet.stdout, quiet.stderr], ['', 'err\n']);
    const slow = await shell(s.id, 'sleep 30', { timeout_sec: 1 });
    assert.equal(slow.exit_code, 124, 'as `timeout` answers upstream');
    // The commands the backend builds: ls_info, write's existence check, read, sandbox_shell, a heredoc.
    await call('POST', `/sandbox/sessions/${s.id}/upload/`, {
      json: { path: '/workspace/a.txt', content: 'one\ntwo\n', encoding: 'utf-8' },
    });
    const ls = await shell(s.id, 'ls -la --time-style=+%Y-%m-%dT%H:%M:%SZ /workspace');
    assert.match(ls.stdout, /^-\S+\s+\d+\s+\S+\s+\S+\s+8 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ a\.txt$/m);
    assert.equal((await shell(s.id, "test ! -e '/workspace/a.txt'")).exit_code, 1);
    assert.equal((await shell(s.id, "test ! -e '/workspace/b.txt'")).exit_code, 0);
    assert.equal((await shell(s.id, "cat '/workspace/a.txt'")).stdout, 'one\ntwo\n');
    assert.equal((await shell(s.id, `sh -lc 'cd /workspace && grep -n two a.txt'`)).stdout, '2:two\n');
    assert.equal((await shell(s.id, "python3 - <<'PY'\nprint(6*7)\nPY")).stdout, '42\n');
  });

  it('uploadWritesUtf8AndBase64ContentAndRefusesTheRest', async () => {
    const s = await newSession();
    const text = await call('POST', `/sandbox/sessions/${s.id}/upload/`, { json: { path: 'notes/é.txt', content: 'héllo' } });
    assert.equal(text.status, 200);
    assert.deepEqual([text.body.exit_code, text.body.stdout, text.body.stderr], [0, '', '']);
    const b64 = await call('POST', `/sandbox/sessions/${s.id}/upload/`, {
      json: { path: '/workspace/bin.dat', content: Buffer.from([0, 255, 1]).toString('base64'), encoding: 'base64' },
    });
    assert.equal(b64.status, 200);
    const got = await call('GET', `/sandbox/sessions/${s.id}/files/content/`, { query: { path: '/workspace/bin.dat' } });
    assert.deepEqual(got.body, Buffer.from([0, 255, 1]));
    assert.equal((await shell(s.id, 'cat notes/é.txt')).stdout, 'héllo');
    const invalid = await call('POST', `/sandbox/sessions/${s.id}/upload/`, { json: { path: 'x', content: '***', encoding: 'base64' } });
    assert.equal(invalid.status, 400);
    assert.match(invalid.body.detail, /base64/);
    const escape = await call('POST', `/sandbox/sessions/${s.id}/upload/`, { json: { path: '/etc/passwd', content: 'x' } });
    assert.equal(escape.status, 400);
    assert.match(escape.body.detail, /workspace/);
  });

  it('comesBackOnItsFilesAfterStopAsEnsureSessionReadyExpects', async () => {
    const s = await newSession({ metadata: { team: 'a' } });
    await shell(s.id, 'echo state > state.txt');
    await call('POST', `/sandbox/sessions/${s.id}/stop/`);
    // _ensure_session_ready: GET, see "terminated", POST the same id (session_params included), accept 200 or 201.
    const seen = await call('GET', `/sandbox/sessions/${s.id}/`);
    assert.equal(seen.body.status, 'terminated');
    const back = await call('POST', '/sandbox/sessions/', { json: { id: s.id, metadata: { team: 'a' } } });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(back.body.status, 'ready');
    assert.equal(back.body.workspace_path, '/workspace');
    assert.equal((await shell(s.id, 'cat state.txt')).stdout, 'state\n');
  });

  it('comesBackAfterItsIdleTimeoutEnded', async () => {
    const s = await newSession({ idle_timeout_sec: 1, max_lifetime_sec: 600 });
    await shell(s.id, 'echo idle > idle.txt');
    await new Promise((r) => setTimeout(r, 2500));
    const seen = await call('GET', `/sandbox/sessions/${s.id}/`);
    assert.equal(seen.body.status, 'terminated', JSON.stringify(seen.body));
    assert.ok(Date.parse(seen.body.expires_at) < Date.now(), 'expires_at says so, as the backend checks');
    assert.equal((await shell(s.id, 'cat idle.txt')).stdout, 'idle\n', 'the next call starts it again');
  });

  it('snapshotsAWorkspaceAndStartsSessionsFromIt', async () => {
    const s = await newSession();
    await shell(
      s.id,
      'mkdir -p src logs && echo v1 > src/app.txt && echo noise > logs/x.log && ln -s /etc/hostname link && chmod +x src/app.txt',
    );
    const snap = await call('POST', `/sandbox/sessions/${s.id}/snapshots/`, { json: { label: 'v1', exclude_paths: ['logs'] } });
    assert.equal(snap.status, 201, JSON.stringify(snap.body));
    for (const f of ['id', 'label', 's3_key', 'archive_path', 'size_bytes', 'include_paths', 'exclude_paths', 'created_at']) {
      assert.ok(f in snap.body, `the snapshot lacks ${f}`);
    }
    assert.deepEqual([snap.body.label, snap.body.include_paths, snap.body.exclude_paths], ['v1', ['/workspace'], ['logs']]);
    assert.ok(snap.body.size_bytes > 0);
    const info = (await call('GET', `/sandbox/sessions/${s.id}/`)).body;
    assert.equal(info.metadata.latest_snapshot_id, snap.body.id);
    assert.deepEqual(info.snapshot_ids, [snap.body.id]);
    const alias = await call('POST', `/sandbox/sessions/${s.id}/snapshot/`, { json: { include_paths: ['src'] } });
    assert.equal(alias.status, 201);
    assert.deepEqual(alias.body.include_paths, ['/workspace/src']);
    const list = await call('GET', `/sandbox/sessions/${s.id}/snapshots/`);
    assert.deepEqual(
      list.body.snapshots.map((x: { id: string }) => x.id),
      [alias.body.id, snap.body.id],
    );

    // A new session from the snapshot: its files, modes and links as they were, the excluded folder left out.
    const t = await newSession({ restore_snapshot_id: snap.body.id });
    const seen = await shell(t.id, 'cat src/app.txt; test -x src/app.txt && echo exec; readlink link; test -e logs || echo no-logs');
    assert.equal(seen.stdout, 'v1\nexec\n/etc/hostname\nno-logs\n');
    assert.equal((await shell(t.id, 'stat -c %u src/app.txt')).stdout, (await shell(t.id, 'id -u')).stdout, "the sandbox's own files");

    // Restoring a stopped session puts it back to the snapshot.
    await shell(s.id, 'echo v2 > src/app.txt && echo later > later.txt');
    await call('POST', `/sandbox/sessions/${s.id}/stop/`);
    assert.equal(
      (await call('GET', `/sandbox/sessions/${s.id}/`)).body.metadata.latest_snapshot_id,
      undefined,
      'the files kept at stop are the latest',
    );
    const back = await call('POST', '/sandbox/sessions/', { json: { id: s.id, restore_snapshot_id: snap.body.id } });
    assert.equal(back.status, 200);
    assert.equal((await shell(s.id, 'cat src/app.txt; ls')).stdout, 'v1\nlink\nsrc\n');

    const unknown = await call('POST', '/sandbox/sessions/', { json: { restore_snapshot_id: 'c0ffee00-0000-4000-8000-000000000000' } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.detail, 'Snapshot not found');
    const outside = await call('POST', `/sandbox/sessions/${s.id}/snapshots/`, { json: { include_paths: ['/etc'] } });
    assert.equal(outside.status, 400);
  });

  it('keepsItsSessionsAcrossAServerRestart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'af-toolkit-restart-'));
    const first = await startServer({ dataDir });
    let again: ServerProcess | undefined;
    try {
      const own = toolkitCaller(() => first);
      const s = (await own('POST', '/sandbox/sessions/', { json: {} })).body;
      await own('POST', `/sandbox/sessions/${s.id}/upload/`, { json: { path: 'kept.txt', content: 'across restarts' } });
      const exported = (await own('POST', `/sandbox/sessions/${s.id}/files/export/`, { json: { path: 'kept.txt' } })).body;
      await first.stop();
      again = await startServer({ dataDir, env: { ASTRAFORGE_API_KEY: first.apiKey } });
      const next = toolkitCaller(() => again!);
      const seen = await next('GET', `/sandbox/sessions/${s.id}/`);
      assert.equal(seen.status, 200);
      assert.ok(['terminated', 'failed'].includes(seen.body.status), seen.body.status);
      const cat = await next('POST', `/sandbox/sessions/${s.id}/shell/`, { json: { command: 'cat kept.txt' } });
      assert.equal(cat.body.stdout, 'across restarts');
      const artifacts = await next('GET', `/sandbox/sessions/${s.id}/artifacts/`);
      assert.deepEqual(
        artifacts.body.artifacts.map((a: { id: string }) => a.id),
        [exported.id],
      );
    } finally {
      await again?.stop();
      await first.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
