// Leases and the reaper, persistent workspaces, restarts after a crash, and
// the errors that only a lifecycle can produce (410, 500). On kubernetes a
// session's processes are its pod's (found by the pod's pid namespace: pods
// run as the node's user for pods, not as the session's host uid).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { instanceIdOf } from '../../server/src/instanceId';
import { ApiClient } from '../helpers/apiClient';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';
import { ClaimClient } from '../../server/src/sandboxes/kubernetes/claimClient';
import { instanceSelector } from '../../server/src/sandboxes/kubernetes/claimSpec';
import { KUBE, pidsInNamespace, podPidNamespace, podsRunHere } from '../helpers/kube/podObservation';

/** Lets the clock move: the lease tests are about time passing. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DOCKER = process.env.ASTRAFORGE_TEST_SANDBOX === 'docker';

/** On kubernetes, the pod (its pid namespace) of the session each host uid belongs to (see hostUidOf). */
const podOfUid = new Map<number, string>();

/** Live (not zombie) host pids whose real uid is this one (on kubernetes: of that uid's session's pod). */
function pidsOfUid(uid: number): number[] {
  if (KUBE) return pidsInNamespace(podOfUid.get(uid) ?? 'no pod');
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      const m = /^Uid:\s+(\d+)/m.exec(status);
      const zombie = /^State:\s+Z/m.test(status);
      if (m && Number(m[1]) === uid && !zombie) out.push(Number(name));
    } catch {
      /* exited */
    }
  }
  return out;
}

/** The host uid a session's sandbox runs as, read from its scratch folder's owner via a file it creates. */
async function hostUidOf(api: ApiClient, server: ServerProcess, id: string): Promise<number> {
  const { statSync } = await import('node:fs');
  if (KUBE) {
    // The pod's files are on its own disk until its workspace comes back: the host folder's owner is
    // the session's uid (the one host-side work for it runs as), and its processes are its pod's.
    const uid = statSync(join(server.dataDir, 'scratch', id)).uid;
    podOfUid.set(uid, await podPidNamespace(api, id));
    return uid;
  }
  await api.exec(id, 'touch /workspace/.uid-probe');
  const candidates = [join(server.dataDir, 'scratch', id, '.uid-probe')];
  for (const c of candidates) if (existsSync(c)) return statSync(c).uid;
  throw new Error('cannot find the session folder');
}

/** These tests watch a session's processes on this host; a real cluster's pods run on its nodes. */
function skipUnlessPodsRunHere(this: Mocha.Context): void {
  if (KUBE && !podsRunHere()) this.skip();
}

describe('session lifecycle', function () {
  describe('leases', () => {
    let server: ServerProcess;
    let api: ApiClient;
    before(async () => {
      server = await startServer();
      api = new ApiClient(server.url, server.apiKey);
    });
    after(async () => server?.dispose());

    it('extendsTheLeaseOnEveryAccessAndReapsWhenItRunsOut', async function () {
      skipUnlessPodsRunHere.call(this);
      const created = await api.post('/v1/sessions', { ttl_seconds: 2 });
      const id = created.body.id;
      const uid = await hostUidOf(api, server, id);
      await api.exec(id, 'sleep 600 >/dev/null 2>&1 &');
      assert.ok(pidsOfUid(uid).length > 0, 'the sandbox runs as its own uid');
      for (let i = 0; i < 3; i++) {
        await sleep(1200);
        const r = await api.exec(id, 'echo alive');
        assert.equal(r.body.output, 'alive\n', 'accesses keep a 2 s session alive past 2 s');
      }
      const info = await api.get(`/v1/sessions/${id}`);
      assert.ok(Date.parse(info.body.expires_at) - Date.now() > 1000, 'expires_at moved forward');
      // Left alone, the reaper ends it once the lease runs out. Watched from the host: a request would extend the lease.
      await until(
        'the reaper to end the idle session',
        () => pidsOfUid(uid).length === 0 && !existsSync(join(server.dataDir, 'scratch', id)),
      );
      assert.ok(Date.now() >= Date.parse(info.body.expires_at), 'not reaped before its lease ran out');
      const after = await api.get(`/v1/sessions/${id}`);
      assert.equal(after.body.status, 'expired');
      const exec = await api.exec(id, 'true');
      assert.equal(exec.status, 410);
      assert.equal(exec.body.error_code, 'SESSION_EXPIRED');
      assert.deepEqual(pidsOfUid(uid), [], 'every process of the expired session is gone');
      assert.equal(existsSync(join(server.dataDir, 'scratch', id)), false, 'its scratch workspace is removed');
    });

    it('doesNotReapASessionWhileACommandRuns', async () => {
      const id = (await api.post('/v1/sessions', { ttl_seconds: 1 })).body.id;
      const r = await api.exec(id, 'sleep 2.5; echo finished');
      assert.equal(r.body.output, 'finished\n');
      assert.equal((await api.get(`/v1/sessions/${id}`)).body.status, 'running');
      await api.delete(`/v1/sessions/${id}`);
    });
  });

  describe('persistent workspaces', () => {
    let server: ServerProcess;
    let api: ApiClient;
    before(async () => {
      server = await startServer();
      api = new ApiClient(server.url, server.apiKey);
    });
    after(async () => server?.dispose());

    it('keepsFilesAcrossSessionsWithTheSameWorkspaceId', async () => {
      const a = await api.post('/v1/sessions', { workspace_id: 'proj-1' });
      assert.equal(a.status, 201);
      assert.equal(a.body.workspace_id, 'proj-1');
      await api.exec(a.body.id, 'echo kept > notes.txt');
      await api.delete(`/v1/sessions/${a.body.id}`);
      const b = await api.post('/v1/sessions', { workspace_id: 'proj-1' });
      assert.equal((await api.exec(b.body.id, 'cat notes.txt')).body.output, 'kept\n');
      const list = await api.get('/v1/workspaces');
      assert.equal(list.status, 200);
      const ws = list.body.workspaces.find((w: any) => w.id === 'proj-1');
      assert.ok(ws, JSON.stringify(list.body));
      assert.ok(ws.size_bytes >= 5);
      assert.equal(typeof ws.created_at, 'string');
      // in use: refused; after the session: deleted
      const busy = await api.delete('/v1/workspaces/proj-1');
      assert.equal(busy.status, 400);
      assert.equal(busy.body.error_code, 'INVALID_REQUEST');
      assert.equal((await api.exec(b.body.id, 'cat notes.txt')).body.output, 'kept\n', 'a workspace in use is not deleted');
      await api.delete(`/v1/sessions/${b.body.id}`);
      assert.deepEqual((await api.delete('/v1/workspaces/proj-1')).body, { ok: true });
      assert.equal(
        (await api.get('/v1/workspaces')).body.workspaces.some((w: any) => w.id === 'proj-1'),
        false,
      );
      const again = await api.delete('/v1/workspaces/proj-1');
      assert.equal(again.status, 404);
      assert.equal(again.body.error_code, 'WORKSPACE_NOT_FOUND');
      const c = await api.post('/v1/sessions', { workspace_id: 'proj-1' });
      assert.equal((await api.exec(c.body.id, 'ls -A')).body.output, '', 'a deleted workspace starts empty');
      await api.delete(`/v1/sessions/${c.body.id}`);
    });

    it('refusesBadWorkspaceIds', async () => {
      for (const workspace_id of ['../x', '', 'a/b', '.hidden', 'x'.repeat(200)]) {
        const r = await api.post('/v1/sessions', { workspace_id });
        assert.equal(r.status, 400, workspace_id);
        assert.equal(r.body.error_code, 'INVALID_REQUEST');
      }
    });
  });

  describe('crash and restart', () => {
    it('reportsSessionsOfAKilledServerAsCrashedAndLeaksNothing', async function () {
      skipUnlessPodsRunHere.call(this);
      const dataDir = mkdtempSync(join(tmpdir(), 'af-restart-'));
      try {
        // Cold sessions (no warm pool), so the cgroup looked for below is this session's (s-<id>);
        // the pool's own slots are checked after a kill -9 in warmPool.test.ts.
        const first = await startServer({ dataDir, config: { pool: { size: 0 } } });
        const api1 = new ApiClient(first.url, first.apiKey);
        const id = await api1.createSession();
        const uid = await hostUidOf(api1, first, id);
        await api1.exec(id, 'sleep 600 >/dev/null 2>&1 & setsid sleep 601 >/dev/null 2>&1 &');
        const persistent = (await api1.post('/v1/sessions', { workspace_id: 'survivor' })).body.id;
        await api1.exec(persistent, 'echo safe > kept.txt');
        // A pod's workspace reaches the host when its session ends; what a pod held after that goes
        // with the pod when its server dies (a warm pool's claim has no volume of its own to outlive it).
        if (KUBE) assert.equal((await api1.delete(`/v1/sessions/${persistent}`)).status, 200);
        assert.ok(pidsOfUid(uid).length >= 2);
        await first.kill(); // SIGKILL: no cleanup code runs
        // bubblewrap sandboxes die with the server; containers and pods live on until the next start removes them.
        if (!DOCKER && !KUBE) {
          await until('no sandbox process to outlive the dead server', () => pidsOfUid(uid).length === 0, { timeoutMs: 3000 });
        }

        const second = await startServer({ dataDir });
        try {
          if (DOCKER) {
            const left = execFileSync('docker', ['ps', '-aq', '--filter', `label=astraforge.instance=${instanceIdOf(dataDir)}`], {
              encoding: 'utf8',
            });
            const survivors = left.split('\n').filter(Boolean);
            // Only the session created after the restart may be there.
            assert.ok(survivors.length <= 1, `containers of the dead server left: ${left}`);
            assert.deepEqual(pidsOfUid(uid), [], 'no process of the dead session is left');
          }
          if (KUBE) {
            const claims = new ClaimClient({ kubeconfig: process.env.KUBECONFIG });
            const { items } = await claims.list({ labelSelector: instanceSelector(instanceIdOf(dataDir)) });
            // Only the session created after the restart may be there.
            assert.ok(items.length <= 1, `claims of the dead server left: ${items.map((c) => c.metadata.name).join(', ')}`);
            // The claims went at start-up; the controller then stops their pods.
            await until("the dead session's pod to stop", () => pidsOfUid(uid).length === 0, { timeoutMs: 10_000 });
          }
          const api2 = new ApiClient(second.url, second.apiKey);
          const info = await api2.get(`/v1/sessions/${id}`);
          assert.equal(info.status, 200);
          assert.equal(info.body.status, 'crashed');
          const exec = await api2.exec(id, 'true');
          assert.equal(exec.status, 410);
          assert.equal(exec.body.error_code, 'SESSION_EXPIRED');
          assert.ok((await api2.get('/v1/sessions')).body.some((s: any) => s.id === id && s.status === 'crashed'));
          // the persistent workspace survived, the scratch one did not
          const again = await api2.post('/v1/sessions', { workspace_id: 'survivor' });
          assert.equal((await api2.exec(again.body.id, 'cat kept.txt')).body.output, 'safe\n');
          assert.equal(existsSync(join(dataDir, 'scratch', id)), false);
          // no cgroup of the dead server's sessions is left behind (bubblewrap's own; Docker's go with the containers)
          const cgroupLeft = ['memory', 'pids'].some((c) => {
            const own = readFileSync('/proc/self/cgroup', 'utf8')
              .split('\n')
              .find((l) => l.split(':')[1]?.split(',').includes(c));
            const dir = own ? join('/sys/fs/cgroup', c, own.split(':')[2], 'astraforge', instanceIdOf(dataDir), `s-${id}`) : '';
            return dir !== '' && existsSync(dir);
          });
          assert.equal(cgroupLeft, false);
        } finally {
          await second.stop();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });

  describe('several servers on one host', () => {
    it('neverShareUidsOrCleanUpEachOthersSandboxes', async function () {
      skipUnlessPodsRunHere.call(this);
      const a = await startServer();
      const bDir = mkdtempSync(join(tmpdir(), 'af-second-'));
      try {
        const apiA = new ApiClient(a.url, a.apiKey);
        const sessionsA = await Promise.all([1, 2, 3].map(() => apiA.createSession()));
        const uidsA = await Promise.all(sessionsA.map((id) => hostUidOf(apiA, a, id)));
        await apiA.exec(sessionsA[0], 'sleep 600 >/dev/null 2>&1 &');
        const b = await startServer({ dataDir: bDir });
        const apiB = new ApiClient(b.url, b.apiKey);
        const sessionsB = await Promise.all([1, 2, 3].map(() => apiB.createSession()));
        const uidsB = await Promise.all(sessionsB.map((id) => hostUidOf(apiB, b, id)));
        assert.equal(new Set([...uidsA, ...uidsB]).size, 6, `uids overlap: ${uidsA} / ${uidsB}`);
        // B crashes and restarts: its cleanup must not touch A's sandboxes
        await b.kill();
        const b2 = await startServer({ dataDir: bDir });
        await b2.stop();
        assert.equal((await apiA.exec(sessionsA[0], 'pgrep -c sleep')).body.output, '1\n');
        for (const id of sessionsA) assert.equal((await apiA.get(`/v1/sessions/${id}`)).body.status, 'running');
      } finally {
        await a.dispose();
        rmSync(bDir, { recursive: true, force: true });
      }
    });
  });

  describe('internal errors', () => {
    it('answersInternalErrorWithTheEnvelopeWhenTheSandboxCannotStart', async () => {
      // A sandbox that cannot start: no bwrap binary, or a network Docker does not have.
      const server = await startServer({
        config: KUBE
          ? { kubernetes: { warmPool: 'astraforge-no-such-pool' } }
          : DOCKER
            ? { docker: { networkMode: 'astraforge-no-such-network' } }
            : { bwrapPath: '/nonexistent/bwrap' },
      });
      try {
        const api = new ApiClient(server.url, server.apiKey);
        const r = await api.post('/v1/sessions', {});
        assert.equal(r.status, 500);
        assert.equal(r.body.error_code, 'INTERNAL_ERROR');
        assert.match(r.body.message, /cannot start/);
        assert.equal((await api.get('/healthz')).status, 200, 'the server keeps answering');
      } finally {
        await server.dispose();
      }
    });
  });
});
