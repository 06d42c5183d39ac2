// A compromised runner (test/fixtures/evil-runner: the real af-runner behind
// a wrapper that forges frames on command) must end only its own session,
// with a clear PROTOCOL error, never the server or anyone else's session.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../helpers/apiClient';
import { makeTree, uploadTree, waitForRun } from '../helpers/runHelpers';
import { REPO_ROOT, startServer, type ServerProcess } from '../helpers/serverProcess';

/** Compiles the wrapper around the runner the server was built with. */
function buildEvilRunner(dir: string): string {
  const out = join(dir, 'evil-runner');
  const real = join(REPO_ROOT, 'server/dist/af-runner');
  execFileSync(
    'gcc',
    ['-static', '-O1', `-DREAL_RUNNER="${real}"`, '-o', out, join(REPO_ROOT, 'test/fixtures/evil-runner/evil-runner.c')],
    {
      stdio: 'inherit',
    },
  );
  return out;
}

function peakRssKiB(pid: number): number {
  return Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

const ATTACKS: { kind: string; reason: RegExp }[] = [
  { kind: 'EMPTY_DONE', reason: /broke the runner protocol: .*done frame of 0 bytes/ },
  { kind: 'GIANT_LENGTH', reason: /broke the runner protocol: .*output chunk of 4294967280 bytes/ },
  { kind: 'UNKNOWN_ID', reason: /broke the runner protocol: .*frame for unknown request/ },
  { kind: 'BAD_TYPE', reason: /broke the runner protocol: .*'\?' frame for a command/ },
  // The wrapper exits after half a frame: the exit may be seen before the output ends.
  { kind: 'TRUNCATED', reason: /ended in the middle of a frame|sandbox has exited/ },
  { kind: 'OUTPUT_FLOOD', reason: /broke the runner protocol: .*more output than the command's cap of 1048576 bytes/ },
  { kind: 'BIG_OUTPUT_FRAME', reason: /broke the runner protocol: .*output chunk of 104857600 bytes/ },
];

describe('a compromised runner', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let api: ApiClient;
  let tmp: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'af-evil-'));
    const evil = buildEvilRunner(tmp);
    server = await startServer({
      env: { ASTRAFORGE_RUNNER_BINARY: evil, ASTRAFORGE_LOG_LEVEL: 'info' },
      config: { maxOutputBytes: 1024 * 1024 },
    });
    api = new ApiClient(server.url, server.apiKey);
  });
  after(async () => {
    await server?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  for (const { kind, reason } of ATTACKS) {
    it(`endsOnlyTheAttackedSession_${kind}`, async () => {
      const bystander = await api.createSession();
      assert.equal((await api.exec(bystander, 'echo before')).body.output, 'before\n');
      const attacked = await api.createSession();
      assert.equal((await api.exec(attacked, 'echo works')).body.output, 'works\n', 'the wrapper forwards normal commands');
      const rssBefore = peakRssKiB(server.child.pid!);

      const hit = await api.exec(attacked, `echo AF_EVIL_${kind}`);
      assert.equal(hit.status, 410, JSON.stringify(hit.body));
      assert.equal(hit.body.error_code, 'SESSION_EXPIRED');
      assert.match(hit.body.message, reason);

      // The server is up, and did not buffer what the attacker announced.
      assert.equal((await api.get('/healthz')).status, 200);
      const grownMiB = (peakRssKiB(server.child.pid!) - rssBefore) / 1024;
      assert.ok(grownMiB < 40, `the server's peak memory grew by ${grownMiB.toFixed(1)} MiB`);

      const info = await api.get(`/v1/sessions/${attacked}`);
      assert.equal(info.body.status, 'crashed');
      const again = await api.exec(attacked, 'echo again');
      assert.equal(again.status, 410);
      assert.match(again.body.message, reason, `later calls name why the session ended: ${again.body.message}`);

      assert.equal((await api.exec(bystander, 'echo after')).body.output, 'after\n', 'a session created before the attack still works');
      const fresh = await api.createSession();
      assert.equal((await api.exec(fresh, 'echo fresh')).body.output, 'fresh\n', 'a new session works');
      for (const id of [bystander, fresh]) await api.delete(`/v1/sessions/${id}`);
    });
  }

  it('endsASessionWhoseRunnerStaysSilentPastTheTimeout', async () => {
    const id = await api.createSession();
    const started = Date.now();
    const hit = await api.exec(id, 'echo AF_EVIL_SILENT', 1000);
    assert.equal(hit.status, 410, JSON.stringify(hit.body));
    assert.match(hit.body.message, /broke the runner protocol: no result for command \d+ 30 s after its timeout/);
    assert.ok(Date.now() - started < 40_000);
  });

  it('recordsTheReasonOnTheSessionAndInTheLog', async () => {
    const id = await api.createSession();
    await api.exec(id, 'echo AF_EVIL_EMPTY_DONE');
    const info = await api.get(`/v1/sessions/${id}`);
    assert.equal(info.body.status, 'crashed');
    const records = readFileSync(join(server.dataDir, 'sessions', `${id}.json`), 'utf8');
    assert.match(records, /the sandbox broke the runner protocol: a done frame of 0 bytes/);
    assert.match(server.output(), /broke the runner protocol/);
  });

  it('failsARunWhoseCommandForgesFramesWithTheReason', async () => {
    const up = await uploadTree(api, makeTree({ 'a.txt': 'a\n' }));
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const r = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 'attack', command: 'echo AF_EVIL_BAD_TYPE' },
      snapshot_id: up.body.snapshot_id,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const run = await waitForRun(api, r.body.id, ['failed', 'completed', 'cancelled'], 60_000);
    assert.equal(run.status, 'failed');
    assert.match(JSON.stringify(run), /broke the runner protocol: a '\?' frame for a command/);
    assert.equal((await api.get('/healthz')).status, 200);
  });
});
