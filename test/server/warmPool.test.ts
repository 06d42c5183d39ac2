// The bubblewrap warm pool, on a real server and real sandboxes: sessions are
// served from sandboxes started ahead of time, each one to one session only,
// with exactly what a cold start gives (checked by probing both from inside),
// refilled in the background, and nothing of it left after a crash.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../helpers/apiClient';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

const POOL = 2;

/** The pool's slot folders with something mounted on them (host mount table): slot -> what is mounted there. */
function slotMounts(server: ServerProcess): Map<string, string[]> {
  const poolDir = join(server.dataDir, 'sandbox', 'pool');
  const out = new Map<string, string[]>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (!f[4]?.startsWith(`${poolDir}/`)) continue;
    out.set(f[4], [...(out.get(f[4]) ?? []), f[3]]);
  }
  return out;
}

/** The slot a session's workspace is mounted on, if it came from the pool. */
function slotOf(server: ServerProcess, sessionId: string): string | undefined {
  const scratch = join(server.dataDir, 'scratch', sessionId);
  return [...slotMounts(server)].find(([, roots]) => roots.includes(scratch))?.[0];
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  // The runner is up a moment before the server has its hello.
  await new Promise((r) => setTimeout(r, 50));
}

/** Slots waiting: mounted on only by themselves, their sandbox's runner up (as the slot's uid). */
function waiting(server: ServerProcess): number {
  return [...slotMounts(server)].filter(([slot, roots]) => {
    if (roots.length !== 1) return false;
    try {
      return processesOfUid(statSync(slot).uid).some((pid) => commOf(pid) === 'af-runner');
    } catch {
      return false;
    }
  }).length;
}

/** The session's own cgroup folders (memory, pids) of a process, as the host mounts them (v1 here, v2 elsewhere). */
function cgroupFoldersOf(pid: number): string[] {
  const out: string[] = [];
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (!path?.includes('/astraforge/')) continue;
    const names = controllers === '' ? [''] : controllers.split(',').filter((c) => c === 'memory' || c === 'pids');
    for (const c of names) out.push(join('/sys/fs/cgroup', c, path));
  }
  return out;
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function processesOfUid(uid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1]) === uid) out.push(Number(name));
    } catch {
      /* exited */
    }
  }
  return out;
}

/** What a command sees of its sandbox; host-specific values (uids, paths) left out. */
const PROBE = [
  'id -u; id -g; id -G; hostname; pwd',
  "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status",
  'ulimit -a',
  'awk \'$5 == "/workspace" { print $6 }\' /proc/self/mountinfo | tail -n 1',
  'awk \'$5 == "/" || $5 == "/usr" || $5 == "/tmp" || $5 == "/home/sandbox" { print $5, $6 }\' /proc/self/mountinfo',
  'stat -c "%a %U %G" /workspace; ls -A /workspace',
  'tail -n +3 /proc/net/dev | cut -d: -f1',
  // The processes by name, read with builtins only: a pipeline's own processes, counted while some
  // of them were still starting, made the count differ by one between two identical sandboxes.
  'cat /proc/self/oom_score_adj; for f in /proc/[0-9]*/comm; do read -r c < "$f" && echo "$c"; done',
  'env | sort',
  'touch /workspace/probe && stat -c "%U %a" /workspace/probe && rm /workspace/probe',
].join('; echo ---; ');

// The pool is bubblewrap's (Docker starts a container per session): the suite's docker pass has nothing to test.
const describeBwrap = process.env.ASTRAFORGE_TEST_SANDBOX === 'docker' ? describe.skip : describe;

describeBwrap('warm pool (bubblewrap)', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  let api: ApiClient;

  before(async () => {
    server = await startServer({ config: { pool: { size: POOL } } });
    api = new ApiClient(server.url, server.apiKey);
    await until('the pool is full', () => waiting(server) === POOL);
  });
  after(async () => server?.dispose());

  it('servesANewSessionFromAStartedSandbox', async () => {
    const id = await api.createSession();
    const slot = slotOf(server, id);
    assert.ok(slot, 'the workspace is mounted on a pool slot');
    const r = await api.exec(id, 'echo from-the-pool > made.txt && cat made.txt && pwd');
    assert.equal(r.body.output, 'from-the-pool\n/workspace\n');
    const onHost = join(server.dataDir, 'scratch', id, 'made.txt');
    assert.equal(readFileSync(onHost, 'utf8'), 'from-the-pool\n', 'the sandbox writes into the session workspace, not the slot');
    assert.deepEqual(readdirSync(slot), ['made.txt'], 'the slot shows the workspace');
    await api.delete(`/v1/sessions/${id}`);
  });

  it('givesExactlyWhatAColdStartGives', async () => {
    const cold = await startServer({ config: { pool: { size: 0 } } });
    try {
      const coldApi = new ApiClient(cold.url, cold.apiKey);
      const c = await coldApi.createSession();
      assert.equal(slotMounts(cold).size, 0, 'pool.size 0: no pool');
      const p = await api.createSession();
      assert.ok(slotOf(server, p), 'served from the pool');
      const pooled = (await api.exec(p, PROBE)).body.output;
      const coldOut = (await coldApi.exec(c, PROBE)).body.output;
      assert.equal(pooled, coldOut);
      assert.match(pooled, /CapEff:\s+0+\n/);
      assert.match(pooled, /Seccomp:\s+2\n/);
      assert.match(pooled, /\nrw,nosuid,nodev,relatime\n/, '/workspace as bwrap binds it: nosuid, nodev');
      // The same cgroup limits, read from the host.
      const [ps, cs] = await Promise.all([api.get(`/v1/sessions/${p}/stats`), coldApi.get(`/v1/sessions/${c}/stats`)]);
      assert.equal(ps.body.memory_limit, cs.body.memory_limit);
      await api.delete(`/v1/sessions/${p}`);
    } finally {
      await cold.dispose();
    }
  });

  it('neverServesOneSandboxToTwoSessions', async () => {
    await until('the pool is full', () => waiting(server) === POOL);
    const ids = [await api.createSession(), await api.createSession()];
    const slots = ids.map((id) => slotOf(server, id));
    assert.ok(slots[0] && slots[1] && slots[0] !== slots[1], `two slots: ${slots}`);
    for (const id of ids) await api.exec(id, 'touch .owner');
    const uids = ids.map((id) => statSync(join(server.dataDir, 'scratch', id, '.owner')).uid);
    assert.notEqual(uids[0], uids[1], 'a uid of its own');
    for (const id of ids)
      assert.equal(statSync(join(server.dataDir, 'scratch', id)).uid, uids[ids.indexOf(id)], 'the workspace is its uid');
    assert.equal((await api.exec(ids[0], 'ls -A /workspace')).body.output, '.owner\n', 'only its own files');

    await api.delete(`/v1/sessions/${ids[0]}`);
    await until('its sandbox is gone', () => processesOfUid(uids[0]).length === 0);
    assert.equal(existsSync(slots[0]!), false, 'its slot went with it');
    // The next sessions get other sandboxes, never the one that served the first.
    const next = await api.createSession();
    assert.notEqual(slotOf(server, next), slots[0]);
    await api.delete(`/v1/sessions/${ids[1]}`);
    await api.delete(`/v1/sessions/${next}`);
  });

  it('refillsInTheBackground', async () => {
    await until('the pool is full', () => waiting(server) === POOL);
    const ids: string[] = [];
    for (let i = 0; i < POOL + 1; i++) ids.push(await api.createSession());
    assert.equal(ids.filter((id) => slotOf(server, id)).length >= POOL, true, 'the waiting sandboxes served the first sessions');
    for (const id of ids) assert.equal((await api.exec(id, 'echo ok')).body.output, 'ok\n', 'and the rest started cold');
    await until('the pool is full again', () => waiting(server) === POOL);
    for (const id of ids) await api.delete(`/v1/sessions/${id}`);
  });

  it('startsColdWhatThePoolDoesNotServe', async () => {
    await until('the pool is full', () => waiting(server) === POOL);
    // A persistent workspace keeps the uid it was first given: never from the pool.
    const persistent = (await api.post('/v1/sessions', { workspace_id: 'pool-persistent' })).body.id;
    assert.equal(slotOf(server, persistent), undefined);
    assert.equal((await api.exec(persistent, 'echo kept > k.txt; cat k.txt')).body.output, 'kept\n');
    // Tighter limits than the pool's sandboxes have: cold, with those limits.
    const toolkit = await api.post('/api/sandbox/sessions/', { memory: '256Mi' });
    assert.equal(toolkit.status, 201);
    const stats = await api.get(`/v1/sessions/${toolkit.body.ref.split('://')[1]}/stats`);
    if (stats.body.memory_limit !== undefined) assert.equal(stats.body.memory_limit, 256 * 1024 * 1024);
    assert.equal(waiting(server), POOL, 'neither took a waiting sandbox');
    await api.delete(`/v1/sessions/${persistent}`);
  });

  it('leavesNothingBehindWhenTheServerIsKilled', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'af-pool-'));
    try {
      const first = await startServer({ dataDir, config: { pool: { size: POOL } } });
      await until('the pool is full', () => waiting(first) === POOL);
      const firstApi = new ApiClient(first.url, first.apiKey);
      const id = await firstApi.createSession();
      await firstApi.exec(id, 'sleep 600 >/dev/null 2>&1 &');
      const uid = statSync(join(dataDir, 'scratch', id)).uid;
      const cgroups = cgroupFoldersOf(processesOfUid(uid)[0]);
      await first.kill();
      await until('no mount of its pool is left', () => slotMounts(first).size === 0);
      await until("no process of its sandboxes' uids is left", () => processesOfUid(uid).length === 0);
      // A restart cleans up anything still there and fills its own pool.
      const second = await startServer({ dataDir, config: { pool: { size: POOL } } });
      await until('the new pool is full', () => waiting(second) === POOL);
      for (const dir of cgroups) assert.equal(existsSync(dir), false, `${dir} is left`);
      await second.stop();
      await until('its pool is unmounted', () => slotMounts(second).size === 0);
      assert.deepEqual(readdirSync(join(dataDir, 'sandbox', 'pool')), [], 'no slot folder left');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
