// Attacks from inside a sandbox on the sandbox's own machinery: af-runner
// (its frames, memory and fds), the kernel keyrings, the OOM ordering and
// host paths in command lines. Each attack is a small static C program
// (test/fixtures/attacks/) compiled once, uploaded through the sessions API
// and run for real against bubblewrap (or, with ASTRAFORGE_TEST_SANDBOX=docker,
// a real Docker engine); each test then checks the session and the server
// still work.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../helpers/apiClient';
import { REPO_ROOT, startServer, type ServerProcess } from '../helpers/serverProcess';

const DOCKER = process.env.ASTRAFORGE_TEST_SANDBOX === 'docker';
const ATTACKS = join(REPO_ROOT, 'test/fixtures/attacks');
const PROGRAMS = ['reach-runner', 'denied-syscalls'] as const;
type Program = (typeof PROGRAMS)[number];
const KEY_SECRET = `af-key-${Math.random().toString(36).slice(2)}`;

/** Whether this process (and so the server it starts, and a local engine) may lower an OOM score. */
function hasCapSysResource(): boolean {
  const m = /^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m !== null && (BigInt(`0x${m[1]}`) & (1n << 24n)) !== 0n;
}

/**
 * Adds a user key to this uid's user keyring (@u), which the server (started after, same uid)
 * possesses through its session keyring; returns its serial. A python child's own session
 * keyring would die with it, so @u it is.
 */
function addKeyToUserKeyring(): number {
  const py = `import ctypes,sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
data = sys.argv[1].encode()
r = libc.syscall(248, b"user", b"af-test-key", data, len(data), ctypes.c_long(-4))
print(r if r >= 0 else -ctypes.get_errno())`;
  return Number(execFileSync('python3', ['-c', py, KEY_SECRET]).toString().trim());
}

function invalidateKey(serial: number): void {
  const py = `import ctypes,sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall(250, 21, ctypes.c_long(int(sys.argv[1])))`;
  execFileSync('python3', ['-c', py, String(serial)]);
}

function readKeyFromHost(serial: number): string {
  const py = `import ctypes,sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
buf = ctypes.create_string_buffer(256)
r = libc.syscall(250, 11, ctypes.c_long(int(sys.argv[1])), buf, 256)
print(buf.raw[:r].decode() if r >= 0 else "errno %d" % ctypes.get_errno())`;
  return execFileSync('python3', ['-c', py, String(serial)])
    .toString()
    .trim();
}

/** Host pids of af-runner processes below a process (bubblewrap: the server's sandboxes). */
function runnerPidsBelow(root: number): number[] {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      comm.set(Number(name), stat.slice(stat.indexOf('(') + 1, close));
      parent.set(Number(name), Number(stat.slice(close + 2).split(' ')[1]));
    } catch {
      /* exited */
    }
  }
  const below = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return [...comm].filter(([pid, c]) => c === 'af-runner' && below(pid)).map(([pid]) => pid);
}

describe('sandbox attacks on the runner and the kernel', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  let api: ApiClient;
  let sid: string;
  let buildDir: string;
  let hostKey: number;
  const binaries = new Map<Program, string>();

  before(async function () {
    this.timeout(120_000);
    buildDir = mkdtempSync(join(tmpdir(), 'af-attacks-'));
    for (const p of PROGRAMS) {
      const out = join(buildDir, p);
      execFileSync('gcc', ['-static', '-O1', '-o', out, join(ATTACKS, `${p}.c`)]);
      binaries.set(p, readFileSync(out).toString('base64'));
    }
    // Added before the server starts, as a credential of the server's user would be.
    hostKey = addKeyToUserKeyring();
    assert.ok(hostKey > 0, `cannot add a key to the test's session keyring (${hostKey})`);
    assert.equal(readKeyFromHost(hostKey), KEY_SECRET);
    server = await startServer();
    api = new ApiClient(server.url, server.apiKey);
    sid = await api.createSession();
    await upload(sid);
  });
  after(async () => {
    await server?.dispose();
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
    if (hostKey > 0) invalidateKey(hostKey);
  });

  async function upload(session: string): Promise<void> {
    for (const [name, b64] of binaries) {
      const r = await api.post(`/v1/sessions/${session}/fs/write`, { path: `/workspace/.attacks/${name}`, content_base64: b64 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const r = await api.exec(session, 'chmod +x /workspace/.attacks/*');
    assert.equal(r.body.exit_code, 0, JSON.stringify(r.body));
  }

  async function run(cmd: string, session = sid): Promise<{ exit: number; output: string; cwd: string }> {
    const r = await api.exec(session, cmd, 20_000);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { exit: r.body.exit_code, output: r.body.output, cwd: r.body.cwd };
  }

  async function runJson(cmd: string, session = sid): Promise<Record<string, unknown>> {
    const r = await run(cmd, session);
    assert.equal(r.exit, 0, r.output);
    return JSON.parse(r.output) as Record<string, unknown>;
  }

  /** The session still runs commands, and another session of the server answers promptly. */
  async function stillWorks(): Promise<void> {
    assert.deepEqual(await run('echo alive'), { exit: 0, output: 'alive\n', cwd: '/workspace' });
    const t0 = performance.now();
    const other = await api.createSession();
    assert.equal((await api.exec(other, 'echo fine')).body.output, 'fine\n');
    await api.delete(`/v1/sessions/${other}`);
    assert.ok(performance.now() - t0 < 5000, 'the server answered promptly');
  }

  describe('reaching af-runner', () => {
    let targets: Array<Record<string, unknown>>;

    before(async () => {
      const r = await runJson('/workspace/.attacks/reach-runner forge');
      targets = r.targets as Array<Record<string, unknown>>;
      assert.equal(r.stolen, 0, `the attacker got hold of a runner stdout: ${JSON.stringify(r)}`);
    });

    it('ptraceAttachToTheRunnerAndPid1Fails', () => {
      assert.ok(targets.some((t) => t.pid === 1));
      for (const t of targets) {
        assert.equal(t.ptrace_attach, 'EPERM', JSON.stringify(t));
        assert.equal(t.ptrace_seize, 'EPERM', JSON.stringify(t));
      }
    });

    it('pidfdGetfdOnTheRunnerFails', () => {
      for (const t of targets) {
        assert.notEqual(t.pidfd_open, 'ok', JSON.stringify(t));
        assert.notEqual(t.pidfd_getfd, 'ok', JSON.stringify(t));
      }
    });

    it('reopeningTheRunnersStdoutOrMemoryThroughProcFails', () => {
      for (const t of targets) {
        assert.equal(t.open_fd1, 'EACCES', JSON.stringify(t));
        assert.equal(t.open_mem, 'EACCES', JSON.stringify(t));
        assert.equal(t.open_environ, 'EACCES', JSON.stringify(t));
        assert.notEqual(t.process_vm_readv, 'ok', JSON.stringify(t));
      }
    });

    it('forgedFramesNeverReplaceAnExecsResult', async () => {
      // Had the attacker got a runner stdout, its background child would now be flooding it
      // with 'D' frames (exit 77, cwd /forged) for every request id.
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await run('sleep 0.3; echo real; exit 3'), { exit: 3, output: 'real\n', cwd: '/workspace' });
      }
      await stillWorks();
    });
  });

  describe('kernel interfaces', () => {
    let r: Record<string, unknown>;
    before(async () => {
      r = await runJson(`/workspace/.attacks/denied-syscalls ${hostKey}`);
    });

    it('processMemoryKeyringsBpfPerfUserfaultfdAndIoUringAreDenied', () => {
      for (const name of ['process_vm_writev', 'process_vm_readv', 'ptrace_traceme', 'bpf', 'perf_event_open', 'userfaultfd']) {
        assert.equal(r[name], 'EPERM', `${name}: ${JSON.stringify(r)}`);
      }
      for (const name of ['keyctl_session', 'keyctl_join', 'add_key', 'request_key', 'keyctl_read_host_key']) {
        assert.equal(r[name], 'EPERM', `${name}: ${JSON.stringify(r)}`);
      }
      // ENOSYS, so libuv, glibc and Go fall back to their older calls.
      assert.equal(r.io_uring_setup, 'ENOSYS');
      assert.equal(r.pidfd_open, 'ENOSYS');
      assert.equal(r.pidfd_getfd, 'ENOSYS');
      assert.equal(r.clone3, 'ENOSYS');
    });

    it('namespacesMountsAndRootChangesAreDenied', () => {
      for (const name of ['unshare_user', 'unshare_fs', 'mount', 'umount2', 'chroot', 'pivot_root', 'setns', 'fsopen', 'open_tree']) {
        assert.equal(r[name], 'EPERM', `${name}: ${JSON.stringify(r)}`);
      }
      assert.equal(r.clone_newuser, 'EPERM');
      assert.equal(r.clone_newnet, 'EPERM');
    });

    it('machineLevelCallsPersonalityAndVsockAreDenied', () => {
      for (const name of ['kexec_load', 'init_module', 'open_by_handle_at', 'swapon', 'reboot', 'personality_addr_no_randomize']) {
        assert.equal(r[name], 'EPERM', `${name}: ${JSON.stringify(r)}`);
      }
      assert.equal(r.personality_query, 'ok', 'the query stays allowed');
      assert.equal(r.socket_vsock, 'EAFNOSUPPORT');
    });

    it('syscallsOfAnotherAbiKillTheProcess', () => {
      assert.equal(r.i386_int80, 'signal 31', 'int 0x80 ends in SIGSYS');
      assert.match(String(r.x32_syscall), /^signal 31$|^exit 2$/, 'x32 calls are killed (or absent from the kernel)');
    });

    it('toolchainsStillRunUnderTheFilter', async () => {
      const out = await run(
        "node -e \"require('child_process').execSync('true'); require('fs').writeFileSync('/tmp/n', 'x'); console.log('node')\" && python3 -c \"import subprocess; subprocess.run(['true']); print('python')\" && git init -q /tmp/g && echo git",
      );
      assert.deepEqual(out, { exit: 0, output: 'node\npython\ngit\n', cwd: '/workspace' });
      await stillWorks();
    });
  });

  describe('keyrings', () => {
    it('aKeyTheServerHoldsCannotBeReadInside', async () => {
      // The key is in the keyring the server inherited; the sandbox tries it by serial.
      const r = await runJson(`/workspace/.attacks/denied-syscalls ${hostKey}`);
      assert.equal(r.keyctl_read_host_key, 'EPERM');
      const shell = await run(`cat /proc/keys 2>&1; echo; grep -r ${KEY_SECRET} /proc/keys 2>/dev/null; true`);
      assert.ok(!shell.output.includes(KEY_SECRET));
      assert.equal(readKeyFromHost(hostKey), KEY_SECRET, 'the host still has its key');
    });

    it('aKeyPlantedInOneSessionIsNotSeenInAnother', async () => {
      const a = await runJson('/workspace/.attacks/denied-syscalls');
      assert.equal(a.add_key, 'EPERM', 'planting a key is denied');
      const other = await api.createSession();
      await upload(other);
      const b = await runJson('/workspace/.attacks/denied-syscalls', other);
      assert.equal(b.request_key, 'EPERM', 'looking a key up is denied');
      await api.delete(`/v1/sessions/${other}`);
      await stillWorks();
    });
  });

  describe('OOM ordering', () => {
    function runnerHostPid(session: string): number {
      if (DOCKER) {
        const id = execFileSync('docker', ['ps', '-q', '--filter', `label=astraforge.session=${session}`])
          .toString()
          .trim();
        return Number(execFileSync('docker', ['inspect', '-f', '{{.State.Pid}}', id]).toString().trim());
      }
      const pids = runnerPidsBelow(server.child.pid!);
      assert.ok(pids.length >= 1, 'the session has an af-runner below the server');
      return Math.min(...pids);
    }

    it('theRunnerIsShieldedAndCommandsAreFirstToGo', async () => {
      const session = await api.createSession();
      const runnerAdj = Number(readFileSync(`/proc/${runnerHostPid(session)}/oom_score_adj`, 'utf8'));
      const commandAdj = Number((await run('cat /proc/self/oom_score_adj', session)).output);
      assert.equal(commandAdj, 500);
      // Lowering a score takes CAP_SYS_RESOURCE (the server's for bubblewrap, the engine's for
      // Docker); this machine's root lacks it, so there the runner stays at 0, still below its commands.
      if (hasCapSysResource()) assert.ok(runnerAdj <= -900, `runner at ${runnerAdj}`);
      else assert.ok(runnerAdj <= 0 && runnerAdj < commandAdj, `runner at ${runnerAdj}`);
      await api.delete(`/v1/sessions/${session}`);
    });
  });

  describe('host paths', () => {
    it('noCommandLineInsideNamesAHostPath', async () => {
      // A background command too, so the scan sees more than the runner and itself.
      const r = await run('(sleep 2 &) ; for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < $f; echo; done');
      assert.equal(r.exit, 0);
      assert.match(r.output, /af-runner/);
      assert.ok(!r.output.includes(server.dataDir), `a host path is visible:\n${r.output}`);
      assert.ok(!r.output.includes(tmpdir() + '/'), `a host path is visible:\n${r.output}`);
      if (!DOCKER) {
        // bwrap's own command line on the host carries no host folder either (its options came through a pipe).
        for (const pid of runnerPidsBelow(server.child.pid!)) {
          const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
          assert.ok(!readFileSync(`/proc/${ppid}/cmdline`, 'utf8').includes(server.dataDir));
        }
      }
      await stillWorks();
    });
  });
});
