// What a hostile command inside a sandbox must not be able to do, tried for
// real against bubblewrap (or, with ASTRAFORGE_TEST_SANDBOX=docker, a real
// Docker engine): read host secrets, write system folders, reach
// any network, gain privileges, see or touch other processes, escape through
// paths; and hogs (fork bomb, memory, disk, output) that must stay contained.
// With ASTRAFORGE_TEST_SANDBOX=kubernetes a pod's isolation is the cluster's:
// the kube variants assert what holds for a pod (its own network and
// loopback, its template's limits, its workspace back on the host only as the
// session's uid) and say why where a check belongs to a host provider.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../helpers/apiClient';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';
import { deployObjects } from '../helpers/kube/devCluster';
import { parseQuantity } from '../helpers/kube/podResources';
import { KUBE, pidsInNamespace, podPidNamespace, podsHaveTheirOwnNetwork, podsRunHere } from '../helpers/kube/podObservation';
import { DEFAULT_POD_PIDS_LIMIT } from '../helpers/kube/podProcess';

const MiB = 1024 * 1024;
const DOCKER = process.env.ASTRAFORGE_TEST_SANDBOX === 'docker';
const SECRET = `host-secret-${Math.random().toString(36).slice(2)}`;
const MODEL_KEY = `sk-test-${Math.random().toString(36).slice(2)}`;

/** Live (not zombie) host processes of a uid. */
function processesOfUid(uid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      if (Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) === uid && !/^State:\s+Z/m.test(status)) out.push(Number(name));
    } catch {
      /* exited */
    }
  }
  return out;
}

/** The pod's memory limit in the deployed runc template (server/deploy/kubernetes), the double's too. */
function podMemoryLimit(): number {
  const template = deployObjects('sandbox-templates.yaml').find((o) => o.metadata.name === 'astraforge-runc');
  const spec = template?.spec as { podTemplate: { spec: { containers: { resources?: { limits?: { memory?: string } } }[] } } };
  const limit = parseQuantity(spec.podTemplate.spec.containers[0].resources?.limits?.memory);
  if (!limit) throw new Error('the runc template names no memory limit');
  return limit;
}

function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

describe('sandbox isolation', function () {
  let server: ServerProcess;
  let api: ApiClient;
  let sid: string;
  const port = () => new URL(server.url).port;

  before(async () => {
    server = await startServer({
      env: { OPENAI_API_KEY: MODEL_KEY, ASTRAFORGE_MODEL_API_KEY: MODEL_KEY },
      config: {
        maxOutputBytes: 1 * MiB,
        limits: { memoryBytes: 256 * MiB, pids: 64, diskQuotaBytes: 64 * MiB, tmpBytes: 32 * MiB, fileSizeBytes: 48 * MiB },
      },
    });
    mkdirSync('/root/.astraforge-test', { recursive: true });
    writeFileSync('/root/.astraforge-test/secret', SECRET);
    writeFileSync(join(server.dataDir, 'secret'), SECRET);
    api = new ApiClient(server.url, server.apiKey);
    sid = await api.createSession();
  });
  after(async () => server?.dispose());

  async function run(cmd: string, timeout_ms = 10_000): Promise<{ status: number; output: string; exit: number }> {
    const r = await api.exec(sid, cmd, timeout_ms);
    return { status: r.status, output: r.body.output ?? r.body.details?.output ?? '', exit: r.body.exit_code ?? r.body.details?.exit_code };
  }

  async function serverStillAnswers(): Promise<void> {
    const t0 = performance.now();
    assert.equal((await api.get('/healthz')).status, 200);
    const other = await api.createSession();
    assert.equal((await api.exec(other, 'echo fine')).body.output, 'fine\n');
    await api.delete(`/v1/sessions/${other}`);
    assert.ok(performance.now() - t0 < 3000, 'the server answered promptly');
  }

  describe('host files and secrets', () => {
    it('cannotSeeTheServersKeysInItsEnvironmentOrProcesses', async () => {
      const r = await run('env; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n"; cat /proc/*/cmdline 2>/dev/null | tr "\\0" " "');
      assert.ok(!r.output.includes(server.apiKey), 'the API key leaked');
      assert.ok(!r.output.includes(MODEL_KEY), 'the model key leaked');
      assert.doesNotMatch(r.output, /ASTRAFORGE_API_KEY|OPENAI_API_KEY/);
    });

    it('cannotReadHostFilesOrTheServersData', async () => {
      const r = await run(
        `cat /root/.astraforge-test/secret ${server.dataDir}/secret ${server.dataDir}/api-key /etc/shadow 2>&1; ls /root /work ${server.dataDir} 2>&1; echo END`,
      );
      assert.ok(!r.output.includes(SECRET), 'a host secret was readable');
      assert.ok(!r.output.includes(server.apiKey), 'the api-key file was readable');
      assert.match(r.output, /No such file or directory/);
      const grep = await run(
        `grep -rs --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr -l "${SECRET}" / 2>/dev/null; echo done`,
        30_000,
      );
      assert.equal(grep.output, 'done\n', `found the secret in: ${grep.output}`);
    });

    it('seesOnlyACuratedEtc', async () => {
      const r = await run('ls /etc');
      if (DOCKER) {
        // The image's own /etc, not the host's: no engine config, and its shadow file closed to the user.
        assert.doesNotMatch(r.output, /^docker$|sudoers|ssh/m);
        assert.match((await run('cat /etc/shadow 2>&1')).output, /Permission denied/);
        return;
      }
      assert.doesNotMatch(r.output, /shadow|sudoers|ssh/);
      assert.match((await run('cat /etc/passwd')).output, /^sandbox:x:1000:/m);
    });
  });

  describe('filesystem', () => {
    it('cannotWriteSystemFolders', async () => {
      for (const path of ['/usr/bin/evil', '/etc/evil', '/bin/evil', '/usr/lib/evil', '/.astraforge/af-runner']) {
        const r = await run(`echo x > ${path} 2>&1; echo rc=$?`);
        assert.match(r.output, /rc=[1-9]/, `${path} was writable: ${r.output}`);
      }
    });

    it('canWriteWorkspaceTmpAndHome', async () => {
      const r = await run('echo a > /workspace/w && echo b > /tmp/t && echo c > ~/h && cat /workspace/w /tmp/t ~/h');
      assert.equal(r.output, 'a\nb\nc\n');
    });

    it('createsHostFilesOwnedByTheSandboxUidNeverRoot', async () => {
      await run('mkdir -p own/deep && echo x > own/deep/f');
      let dir = join(server.dataDir, 'scratch', sid);
      if (KUBE) {
        // A pod writes to its own disk; its files reach the host when the server brings the
        // workspace back (before a diff, at the session's end), and those must be the session's uid's.
        const pod = (await api.post('/v1/sessions', { workspace_id: 'own-files' })).body.id;
        await api.exec(pod, 'mkdir -p own/deep && echo x > own/deep/f');
        assert.equal((await api.delete(`/v1/sessions/${pod}`)).status, 200);
        dir = join(server.dataDir, 'workspaces', 'own-files');
      }
      const walk = (d: string): number[] =>
        readdirSync(d, { withFileTypes: true }).flatMap((e) => [
          statSync(join(d, e.name)).uid,
          ...(e.isDirectory() ? walk(join(d, e.name)) : []),
        ]);
      const uids = walk(dir);
      assert.ok(uids.length >= 3);
      for (const uid of uids) assert.ok(uid >= 200_000, `a file on the host is owned by uid ${uid}`);
    });
  });

  describe('network', () => {
    it('hasOnlyLoopback', async function () {
      const r = await run('cat /proc/net/dev');
      const ifaces = r.output
        .split('\n')
        .slice(2)
        .filter(Boolean)
        .map((l) => l.split(':')[0].trim());
      if (KUBE) {
        // A pod has one interface besides its own loopback: the CNI's, which is how the server
        // reaches its runner. What that network lets it reach is the next test's and the cluster's.
        if (!podsHaveTheirOwnNetwork()) this.skip(); // the double's pods share the host's network when not root
        assert.equal(ifaces.filter((i) => i !== 'lo').length, 1, ifaces.join(' '));
        assert.ok(ifaces.includes('lo'));
        return;
      }
      assert.deepEqual(ifaces, ['lo']);
    });

    it('cannotReachTheServerPortOrTheOutsideWorld', async function () {
      // Without root the cluster double's pods share the host's network: no stand-in for a pod's own.
      if (KUBE && !podsHaveTheirOwnNetwork()) this.skip();
      const own = await run(`timeout 3 bash -c 'echo > /dev/tcp/127.0.0.1/${port()}' 2>&1; echo rc=$?`);
      assert.match(own.output, /rc=[1-9]/);
      assert.match(own.output, /refused|unreachable/i);
      const out = await run(`timeout 3 bash -c 'echo > /dev/tcp/1.1.1.1/53' 2>&1; echo rc=$?`);
      assert.match(out.output, /rc=[1-9]/);
      assert.match(out.output, /unreachable/i, 'fails at once for want of a route, not by a timeout');
    });

    it('cannotReachAnotherSandboxsRunnerOrRuntimeApi', async function () {
      // Pods have addresses on a network; another session's pod must not reach its runner or its
      // runtime API (a NetworkPolicy admits only the server; the double's pods see only their link).
      if (!KUBE || !podsHaveTheirOwnNetwork()) this.skip(); // host providers have no network at all (hasOnlyLoopback)
      const other = await api.createSession();
      const ip = (await api.exec(other, 'hostname -i')).body.output.trim().split(/\s+/)[0];
      assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
      for (const p of [7070, 8888]) {
        const r = await run(`timeout 3 bash -c 'echo > /dev/tcp/${ip}/${p}' 2>&1; echo rc=$?`);
        assert.match(r.output, /rc=[1-9]/, `${ip}:${p} was reachable`);
      }
      assert.equal((await api.exec(other, 'echo mine')).body.output, 'mine\n');
      await api.delete(`/v1/sessions/${other}`);
    });
  });

  describe('privileges', () => {
    it('runsAsAnUnprivilegedUserWithNoCapabilities', async () => {
      const id = (await run('id')).output;
      // Docker runs as the session's own unprivileged host uid (it owns the workspace); bubblewrap maps it to 1000.
      if (DOCKER) assert.ok(Number(/^uid=(\d+)/.exec(id)?.[1]) >= 1000, id);
      else assert.match(id, /^uid=1000\(sandbox\) gid=1000\(sandbox\)/);
      const caps = (await run('grep ^Cap /proc/self/status')).output;
      for (const line of caps.trim().split('\n')) assert.match(line, /:\s+0000000000000000$/, line);
      assert.match((await run('grep NoNewPrivs /proc/self/status')).output, /NoNewPrivs:\s+1/);
    });

    it('cannotCreateNamespacesOrBecomeRoot', async () => {
      const r = await run('unshare -U -r id 2>&1; echo rc=$?; su -c id root </dev/null 2>&1; echo rc2=$?');
      assert.match(r.output, /rc=[1-9]/);
      assert.match(r.output, /rc2=[1-9]/);
      assert.doesNotMatch(r.output, /uid=0/);
    });

    it('seesOnlyItsOwnProcesses', async () => {
      const r = await run('ls /proc | grep -E "^[0-9]+$" | wc -l; ps -eo args');
      const count = Number(r.output.split('\n')[0]);
      assert.ok(count < 10, `sees ${count} processes`);
      assert.doesNotMatch(r.output, /node|main\.js/);
    });
  });

  describe('paths through the file API', () => {
    it('refusesEscapesAndLeavesTheTargetsUntouched', async () => {
      const hostFile = '/root/.astraforge-test/secret';
      await run(`ln -sfn /root/.astraforge-test /workspace/out; ln -sfn ${hostFile} /workspace/sec`);
      for (const p of ['out/secret', 'sec', '../../root/.astraforge-test/secret', hostFile]) {
        const r = await api.get(`/v1/sessions/${sid}/fs/read?path=${encodeURIComponent(p)}`);
        assert.equal(r.status, 400, p);
        assert.ok(!JSON.stringify(r.body).includes(SECRET));
      }
      for (const p of ['out/secret', 'sec', hostFile, 'out/new']) {
        const r = await api.post(`/v1/sessions/${sid}/fs/write`, { path: p, text: 'pwned' });
        assert.equal(r.status, 400, p);
      }
      assert.equal(readFileSync(hostFile, 'utf8'), SECRET);
      assert.deepEqual(readdirSync('/root/.astraforge-test'), ['secret']);
    });
  });

  describe('containment', () => {
    it('containsAForkBomb', async function () {
      const bomber = await api.createSession();
      const uid = statSync(join(server.dataDir, 'scratch', bomber)).uid;
      let processesOf = () => processesOfUid(uid);
      if (KUBE) {
        // A pod's processes run as the node's user for pods, not the session's uid: counted by its pid namespace.
        if (!podsRunHere()) this.skip(); // a real cluster's pods are not on this host
        const ns = await podPidNamespace(api, bomber);
        processesOf = () => pidsInNamespace(ns);
      }
      // On Kubernetes another pod runs as the same uid: the bomb must not stop it from forking.
      const bystander = KUBE ? await api.createSession() : undefined;
      // In the background, so it outlives the exec: in the foreground, the exec's timeout killed the
      // tree, and when the kill won the race the bomb was gone before it could be counted.
      const r = await api.exec(bomber, '(:(){ :|:& };:) >/dev/null 2>&1 &', 10_000);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      // Watched until the bomb has filled most of its 64 slots (a pod: its pids cgroup's, the
      // kubelet's podPidsLimit); no count on the way may pass them.
      const slots = KUBE ? DEFAULT_POD_PIDS_LIMIT : 64;
      const counts: number[] = [];
      await until(
        () => `the bomb to fill its process slots (counted ${counts.join(', ')})`,
        () => counts[counts.push(processesOf().length) - 1] >= 40,
        { timeoutMs: 10_000, intervalMs: 20 },
      );
      assert.ok(Math.max(...counts) <= slots, `${Math.max(...counts)} processes: the bomb did not stop at the limit`);
      if (bystander) {
        const forks = await api.exec(bystander, 'for i in $(seq 1 50); do sleep 3 & done; sleep 0.3; ps -e | wc -l', 20_000);
        assert.ok(Number(forks.body.output) >= 50, `another pod forks while the bomb runs: ${JSON.stringify(forks.body)}`);
        await api.delete(`/v1/sessions/${bystander}`);
      } else {
        // the runner keeps headroom: a shell builtin still runs while the bomb holds every slot it may
        // (not in a pod: a per-uid process limit there would be every pod's, see kubernetesProvider)
        const still = await api.exec(bomber, 'echo still-answering');
        assert.equal(still.body.output, 'still-answering\n', JSON.stringify(still.body));
      }
      await serverStillAnswers();
      assert.equal((await api.delete(`/v1/sessions/${bomber}`)).status, 200);
      await until('the pod to go', () => !KUBE || processesOf().length === 0, { timeoutMs: 10_000 });
      assert.deepEqual(processesOf(), [], 'destroying the session removes every bomb process');
    });

    it('killsAMemoryHog', async () => {
      // A pod's memory is its template's limit (a SandboxClaim cannot set resources): the hog
      // outgrows that, and the node's cgroup (the double's, as a kubelet sets it) must stop it.
      const size = KUBE ? String(podMemoryLimit() + 512 * MiB) : '600 * 1024 * 1024';
      const r = await run(`python3 -c "x = bytearray(${size}); print(len(x))" 2>&1; echo rc=$?`, 20_000);
      assert.doesNotMatch(r.output, KUBE ? new RegExp(`^${size}$`, 'm') : /^629145600$/m, 'allocated past the memory limit');
      assert.match(r.output, /rc=(137|1)\b|MemoryError/);
      assert.equal((await run('echo alive')).output, 'alive\n');
      await serverStillAnswers();
    });

    it('stopsADiskFillerInTheWorkspaceAndInTmp', async () => {
      const big = await run('dd if=/dev/zero of=/workspace/big bs=1M count=200 2>&1; echo rc=$?', 20_000);
      assert.match(big.output, /rc=[1-9]|File size limit/);
      await run('rm -f /workspace/big');
      // many files under the per-file limit: the workspace quota stops them
      const many = await run(
        'for i in 1 2 3 4 5; do dd if=/dev/zero of=/workspace/f$i bs=1M count=40 2>/dev/null; done; sleep 3; echo finished',
        20_000,
      );
      assert.ok(
        !many.output.includes('finished') || many.status !== 200 || /quota/.test(many.output),
        'five 40 MiB files went past a 64 MiB quota',
      );
      await api.exec(sid, 'rm -f /workspace/f*');
      const tmp = await run('dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>&1; echo rc=$?; rm -f /tmp/fill', 20_000);
      assert.match(tmp.output, /No space left|rc=1/);
      assert.equal((await run('echo ok')).output, 'ok\n');
      await serverStillAnswers();
    });

    it('capsAnOutputFloodWithoutGrowingTheServer', async () => {
      const before = rssOf(server.child.pid!);
      const r = await run('yes flood-flood-flood | head -c 300000000', 60_000);
      assert.equal(r.status, 200);
      assert.ok(r.output.length <= 1 * MiB, `output ${r.output.length}: capped at maxOutputBytes`);
      assert.equal((await run('echo next')).output, 'next\n', 'the session answers after the flood');
      const flood = await api.exec(sid, 'yes flood | head -c 50000000');
      assert.equal(flood.body.truncated, true);
      assert.ok(flood.body.output.length <= 1 * MiB, `output ${flood.body.output.length}`);
      const growth = rssOf(server.child.pid!) - before;
      assert.ok(growth < 150 * MiB, `the server grew by ${Math.round(growth / MiB)} MiB`);
    });
  });

  describe('between sessions', () => {
    it('cannotSeeOrSignalAnotherSession', async () => {
      const a = await api.createSession();
      const b = await api.createSession();
      await api.exec(a, 'sleep 300 >/dev/null 2>&1 & echo $! > /tmp/pid');
      const seen = await api.exec(b, 'ps -eo args | grep -c "^sleep 300" || true');
      assert.equal(seen.body.output.trim(), '0');
      await api.exec(b, 'kill -9 -1 2>/dev/null; true');
      assert.equal((await api.exec(a, 'kill -0 "$(cat /tmp/pid)" && echo alive')).body.output, 'alive\n');
      await api.delete(`/v1/sessions/${a}`);
      await api.delete(`/v1/sessions/${b}`);
    });

    it('anotherSessionsUidCannotReadThisWorkspaceOnTheHost', async function () {
      // Host-side work for a session (its diff) runs as that session's uid and may meet links its
      // agent planted; the other workspaces must be closed to that uid by their folders' modes.
      if (process.getuid?.() !== 0) this.skip(); // not root: every sandbox is the server's own uid
      // A pod's files reach the host when its workspace comes back (at a persistent workspace's
      // session end); there, as for the other providers, each folder is its own session uid's.
      const workspace = (name: string) => (KUBE ? { workspace_id: `${name}-${sid}` } : {});
      const a = (await api.post('/v1/sessions', workspace('uid-a'))).body.id;
      const b = (await api.post('/v1/sessions', workspace('uid-b'))).body.id;
      await api.exec(a, 'echo private > /workspace/mine.txt');
      await api.exec(b, 'touch /workspace/.probe');
      if (KUBE) for (const id of [a, b]) assert.equal((await api.delete(`/v1/sessions/${id}`)).status, 200);
      const folderOf = (id: string) =>
        KUBE ? join(server.dataDir, 'workspaces', `${id === a ? 'uid-a' : 'uid-b'}-${sid}`) : join(server.dataDir, 'scratch', id);
      const uidB = statSync(join(folderOf(b), '.probe')).uid;
      assert.notEqual(uidB, statSync(join(folderOf(a), 'mine.txt')).uid);
      for (const cmd of [
        ['cat', join(folderOf(a), 'mine.txt')],
        ['ls', folderOf(a)],
      ]) {
        const r = spawnSync('setpriv', ['--reuid', String(uidB), '--regid', String(uidB), '--clear-groups', ...cmd], { encoding: 'utf8' });
        assert.notEqual(r.status, 0, `${cmd.join(' ')} as the other session's uid: ${r.stdout}`);
        assert.match(r.stderr, /Permission denied/);
      }
      await api.delete(`/v1/sessions/${a}`);
      await api.delete(`/v1/sessions/${b}`);
    });
  });
});
