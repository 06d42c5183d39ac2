// One background server per user: the extension's launcher (src/server/
// userServer.ts) against the real built server. It starts a detached
// server once and finds it again through its record; two windows starting
// at once get the same server; another build replaces it when idle and
// lets its runs finish first when not; the server stops when asked, and by
// itself when nobody uses it.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_RECORD_FILE, ServerInfo } from '@astraforge/contract/serverApi';
import { findOrStartUserServer, readRecord, type UserServer, type UserServerOptions } from '../../src/server/userServer';
import { ApiClient } from '../helpers/apiClient';
import { makeTree, uploadTree, waitForRun } from '../helpers/runHelpers';
import { REPO_ROOT } from '../helpers/serverProcess';
import { until } from '../helpers/until';

const MAIN_JS = join(REPO_ROOT, 'server/dist/main.js');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The session id of a process (field 6 of /proc/<pid>/stat, after the command's parentheses). */
function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

describe('one background server per user', function () {
  this.timeout(90_000);
  let dataDir: string;
  const started = new Set<number>();
  const logs: string[] = [];

  function options(build: string, extra: Partial<UserServerOptions> = {}): UserServerOptions {
    return {
      mainJs: MAIN_JS,
      dataDir,
      version: '0.1.0',
      build,
      model: {},
      idleExitMinutes: 30,
      log: (line) => logs.push(line),
      ...extra,
    };
  }

  async function connect(build: string, extra: Partial<UserServerOptions> = {}): Promise<UserServer> {
    const server = await findOrStartUserServer(options(build, extra));
    started.add(server.pid);
    return server;
  }

  const apiOf = (s: UserServer) => new ApiClient(s.url, s.apiKey);

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'af-user-server-'));
  });

  afterEach(async () => {
    for (const pid of started) if (isAlive(pid)) process.kill(pid, 'SIGTERM');
    await until('the servers to exit', () => [...started].every((pid) => !isAlive(pid)), { timeoutMs: 15_000 });
    started.clear();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('startsADetachedServerOnceAndFindsItAgain', async () => {
    const first = await connect('build-a');
    assert.equal(first.startedHere, true);
    // Its own session: the window's end (and the signals to its process group) do not reach it.
    assert.equal(sessionOf(first.pid), first.pid);
    const record = readRecord(dataDir)!;
    assert.equal(record.pid, first.pid);
    assert.equal(statSync(join(dataDir, SERVER_RECORD_FILE)).mode & 0o777, 0o600);
    assert.equal(statSync(record.api_key_file).mode & 0o777, 0o600);
    const info = ServerInfo.parse((await apiOf(first).get('/api/server')).body);
    assert.equal(info.build, 'build-a');
    assert.equal(info.idle_exit_seconds, 1800);

    const second = await connect('build-a');
    assert.equal(second.startedHere, false);
    assert.equal(second.pid, first.pid);
    assert.equal(second.apiKey, first.apiKey);
    assert.match(readFileSync(join(dataDir, 'server.log'), 'utf8'), /astraforge server listening/);
  });

  it('twoWindowsStartingAtOnceShareOneServer', async () => {
    const [a, b] = await Promise.all([connect('build-a'), connect('build-a')]);
    assert.equal(a.pid, b.pid, 'both windows talk to the same server');
    assert.equal([a, b].filter((s) => s.startedHere).length, 1);
    assert.equal((await apiOf(b).get('/api/runs')).status, 200);
  });

  it('replacesAServerOfAnotherBuildWhenNoRunIsActive', async () => {
    const old = await connect('build-a');
    const fresh = await connect('build-b');
    assert.notEqual(fresh.pid, old.pid);
    assert.equal(fresh.startedHere, true);
    assert.equal(isAlive(old.pid), false, 'the old server is gone');
    assert.equal(ServerInfo.parse((await apiOf(fresh).get('/api/server')).body).build, 'build-b');
  });

  it('letsTheRunsOfAnOlderBuildFinishBeforeReplacingIt', async () => {
    const old = await connect('build-a');
    const api = apiOf(old);
    const snapshot = await uploadTree(api, makeTree({ 'a.txt': 'a\n' }));
    const run = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 'slow', command: 'sleep 3; echo done > a.txt' },
      snapshot_id: snapshot.body.snapshot_id,
    });
    assert.equal(run.status, 201, JSON.stringify(run.body));
    await waitForRun(api, run.body.id, ['running']);

    const meanwhile = await connect('build-b');
    assert.equal(meanwhile.outdated, true);
    assert.equal(meanwhile.pid, old.pid, 'the window uses the old server while its run works');
    assert.equal(ServerInfo.parse((await api.get('/api/server')).body).stopping, 'idle');

    // It exits as soon as the run ends, so the run's end is read from the next server, not polled from this one.
    await until('the old server to exit once its run ended', () => !isAlive(old.pid), { timeoutMs: 30_000 });
    const fresh = await connect('build-b');
    assert.equal(fresh.startedHere, true);
    // The new server has the run and its whole history (the data folder is the same): finished, not interrupted.
    const again = await apiOf(fresh).get(`/api/runs/${run.body.id}`);
    assert.equal(again.body.status, 'succeeded', JSON.stringify(again.body));
  });

  it('stopsWhenAsked', async () => {
    const server = await connect('build-a');
    const r = await apiOf(server).post('/api/server/shutdown', { when: 'now' });
    assert.equal(r.status, 202);
    assert.deepEqual(r.body, { when: 'now', active_runs: 0 });
    await until('the server to exit', () => !isAlive(server.pid), { timeoutMs: 15_000 });
    assert.equal(existsSync(join(dataDir, SERVER_RECORD_FILE)), false, 'its record goes with it');
  });

  it('stopsByItselfWhenNobodyUsesIt', async () => {
    // 0.05 minutes: 3 s with no run and no request.
    const server = await connect('build-a', { idleExitMinutes: 0.05 });
    const api = apiOf(server);
    // Requests keep it alive past its idle time.
    const until5s = Date.now() + 5000;
    while (Date.now() < until5s) {
      assert.equal((await api.get('/api/server')).status, 200);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(isAlive(server.pid), true, 'a server in use stays');
    await until('the idle server to exit', () => !isAlive(server.pid), { timeoutMs: 10_000 });
    assert.equal(existsSync(join(dataDir, SERVER_RECORD_FILE)), false);
  });
});
