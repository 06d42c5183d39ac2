// af-runner's TCP mode (a pod's entrypoint), on its own: it serves only the
// client whose first line is the token its file names (bare or as the
// downward API writes the annotation, read again at each attempt), refuses
// malformed options, and applies the session's limits the line carries.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunnerClient } from '../../server/src/sandboxes/runnerProtocol';
import { REPO_ROOT } from '../helpers/serverProcess';

const RUNNER = join(REPO_ROOT, 'server/dist/af-runner');
const HOST = '127.0.0.1';

/** What the runner answers a line: its hello frame's type byte ('H'), or '' when it hangs up. */
function answer(port: number, line: string): Promise<{ hello: boolean; socket?: ReturnType<typeof connect> }> {
  return new Promise((resolve) => {
    const s = connect({ host: HOST, port });
    let got = Buffer.alloc(0);
    s.on('connect', () => s.write(line));
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 9 && got[8] === 'H'.charCodeAt(0)) {
        s.removeAllListeners('data');
        resolve({ hello: true, socket: s });
      }
    });
    s.on('close', () => resolve({ hello: false }));
    s.on('error', () => resolve({ hello: false }));
  });
}

describe('af-runner TCP mode', function () {
  this.timeout(30_000);
  let dir: string;
  let runner: ChildProcess;
  let port: number;
  const tokenFile = () => join(dir, 'annotations');

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'af-runner-tcp-'));
    port = 20_000 + Math.floor(Math.random() * 20_000);
    writeFileSync(tokenFile(), 'other.io/x="1"\n');
    runner = spawn(RUNNER, ['--shell', '/bin/bash', '--listen', `${HOST}:${port}`, '--token-file', tokenFile()], {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: dir,
    });
    await new Promise((r) => setTimeout(r, 200));
  });
  afterEach(() => {
    runner.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('servesOnlyTheClientWithTheTokenItsFileNames', async () => {
    assert.equal((await answer(port, 'sekrit\n')).hello, false, 'no token in the file yet');
    // The file changes after the runner started (a warm pod claimed later): read again at each attempt.
    writeFileSync(tokenFile(), 'other.io/x="1"\nastraforge.dev/runner-token="sekrit"\n');
    assert.equal((await answer(port, 'wrong\n')).hello, false);
    assert.equal((await answer(port, 'sekri\n')).hello, false, 'a prefix is not the token');
    assert.equal((await answer(port, 'sekrit limits=0,1,1,1,1,1\n')).hello, false, 'a malformed option refuses the line');
    assert.equal((await answer(port, 'sekrit relay=4141,not-an-ip:1\n')).hello, false);
    assert.equal((await answer(port, 'sekrit color=blue\n')).hello, false, 'an unknown option refuses the line');
    const ok = await answer(port, 'sekrit\n');
    assert.equal(ok.hello, true);
    ok.socket!.destroy();
    await new Promise<void>((r) => runner.once('exit', () => r()));
  });

  it('appliesTheSessionsLimitsFromTheTokenLine', async () => {
    writeFileSync(tokenFile(), 'tok-1\n');
    const s = connect({ host: HOST, port });
    await new Promise((r) => s.once('connect', r));
    const client = new RunnerClient(s, s);
    s.write(`tok-1 limits=77,${8 * 2 ** 30},${5 * 1024 * 1024},120,333,${64 * 2 ** 20}\n`);
    await client.ready;
    let out = '';
    const r = await client.exec('ulimit -u; ulimit -f; ulimit -t; ulimit -n', {
      timeoutMs: 5000,
      separateStderr: true, // run outside a sandbox, the wrapper's `cd /workspace` complains on stderr
      maxOutputBytes: 4096,
      onOutput: (stream, c) => {
        if (stream === 'stdout') out += c.toString();
      },
    }).result;
    assert.equal(r.exitCode, 0, out);
    // ulimit -f counts 1024-byte blocks in bash; the runner caps the file size at the disk quota (64 MiB > 5 MiB).
    // Commands get the process limit less the runner's headroom (min(nproc/8, 8)): 77 - 8.
    assert.deepEqual(out.trim().split('\n'), ['69', String((5 * 1024 * 1024) / 1024), '120', '333']);
    s.destroy();
  });
});
