// The server as a program an operator runs: --help and --version answer,
// a wrong flag or a busy port is one line with what to do and an exit code
// a script can act on, the log format follows --log-format, and SIGTERM lets
// the requests under way finish and leaves no sandbox process behind.
// Runs the built bundle (node scripts/build.mjs --server-only).
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findReadyLine } from '@astraforge/contract/serverReady';
import { SERVER_SETTINGS } from '../../server/src/cli/serverSettings';
import { instanceIdOf } from '../../server/src/instanceId';
import { ApiClient } from '../helpers/apiClient';
import { REPO_ROOT, startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';

const MAIN = join(REPO_ROOT, 'server/dist/main.js');
const DOCKER = process.env.ASTRAFORGE_TEST_SANDBOX === 'docker';

/** Runs the server to its end with these flags; for the ones that answer or refuse at once. */
function runServer(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The one line a failed start writes: no stack, no second line. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line, got:\n${stderr}`);
  assert.match(lines[0]!, /^astraforge server failed to start: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
}

/** Live processes whose parent chain leads to `root` (its sandboxes, their runners and commands). */
function descendantsOf(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces: the fields after it are fixed.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z') parentOf.set(Number(name), Number(ppid));
    } catch {
      /* exited meanwhile */
    }
  }
  const found: number[] = [];
  for (const pid of parentOf.keys()) {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p)) {
      if (p === root) {
        found.push(pid);
        break;
      }
    }
  }
  return found;
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return ''; // exited meanwhile
  }
}

function isAlive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * What a server's sandboxes are, seen from the host, for either provider:
 * bubblewrap sandboxes are the server's descendants; Docker's are containers
 * labelled with the server's instance id (children of the engine, not of it).
 */
interface SandboxesOnHost {
  /** Whether a command starting with `name` runs in one of them. */
  runs(name: string): boolean;
  /** What is left of them now (pids or container ids); empty once all are gone. */
  left(): string[];
}

function sandboxesOf(server: ServerProcess): SandboxesOnHost {
  if (DOCKER) {
    const label = `label=astraforge.instance=${instanceIdOf(server.dataDir)}`;
    const containers = () => execFileSync('docker', ['ps', '-aq', '--filter', label], { encoding: 'utf8' }).split('\n').filter(Boolean);
    return {
      runs: (name) =>
        containers().some((c) => {
          try {
            // `docker top` needs the pid column; each row is "PID ARGS".
            return execFileSync('docker', ['top', c, '-o', 'pid,args'], { encoding: 'utf8' })
              .split('\n')
              .some((l) =>
                l
                  .trim()
                  .replace(/^\d+\s+/, '')
                  .startsWith(name),
              );
          } catch {
            return false; // stopped meanwhile
          }
        }),
      left: containers,
    };
  }
  const pid = server.child.pid!;
  // Taken once the sandboxes run: after the server is gone its orphans have no parent chain to it.
  let known: number[] = [];
  return {
    runs: (name) => {
      known = descendantsOf(pid);
      return known.some((p) => commandOf(p).startsWith(name));
    },
    left: () => known.filter(isAlive).map(String),
  };
}

/**
 * The sessions' sandboxes are stopped before the server exits; the warm pool's
 * idle ones end with it (bubblewrap's --die-with-parent), a moment later.
 */
async function noneLeftOf(sandboxes: SandboxesOnHost): Promise<void> {
  await until(
    () => `no sandbox outlives the server: ${sandboxes.left().join(', ')} still there`,
    () => sandboxes.left().length === 0,
    { timeoutMs: 5000, intervalMs: 50 },
  );
}

describe('the server as a program', function () {
  this.timeout(60_000);
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'af-cli-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('helpListsEveryFlagAndVariableWithItsDefault', () => {
    const { code, stdout, stderr } = runServer(['--help']);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    for (const setting of SERVER_SETTINGS) {
      if (setting.flag) assert.match(stdout, new RegExp(`--${setting.flag} `), `--${setting.flag} is listed`);
      if (setting.env) assert.ok(stdout.includes(setting.env), `${setting.env} is listed`);
    }
    assert.match(stdout, /--help/);
    assert.match(stdout, /--version/);
    // The defaults come from the config schema.
    assert.match(stdout, /--port PORT[^\n]*\n\s+default: 8787/);
    assert.match(stdout, /--sandbox PROVIDER[^\n]*\n\s+default: bwrap; one of bwrap\|docker\|kubernetes/);
    assert.match(stdout, /--drain-seconds N[^\n]*\n\s+default: 10/);
    assert.equal((stdout.match(/default: /g) ?? []).length, SERVER_SETTINGS.length, 'every setting shows its default');
    assert.equal(runServer(['-h']).stdout, stdout);
  });

  it('versionPrintsThePackageVersion', () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const { code, stdout } = runServer(['--version']);
    assert.equal(code, 0);
    assert.equal(stdout, `${version}\n`);
  });

  it('runsAsThePackagesBinThroughNpx', () => {
    // A project that depends on the package gets the astraforge-server command.
    const project = mkdtempSync(join(tmpdir(), 'af-npx-'));
    try {
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-astraforge', version: '1.0.0' }));
      const npm = (args: string[]) =>
        spawnSync('npm', args, {
          cwd: project,
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...process.env, npm_config_update_notifier: 'false' },
        });
      const install = npm(['install', '--offline', '--no-audit', '--no-fund', REPO_ROOT]);
      assert.equal(install.status, 0, install.stderr);
      const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
      const ran = npm(['exec', '--no', '--', 'astraforge-server', '--version']);
      assert.equal(ran.status, 0, ran.stderr);
      assert.equal(ran.stdout, `${version}\n`);
      const help = npm(['exec', '--no', '--', 'astraforge-server', '--help']);
      assert.match(help.stdout, /^Usage: astraforge-server /);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it('refusesAnUnknownFlagWithOneLineAndExitCode2', () => {
    const { code, stdout, stderr } = runServer(['--data-dir', dataDir, '--bogus']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assertOneLine(stderr, /unknown flag --bogus; see --help$/);
  });

  it('refusesABadValueNamingWhereItCameFrom', () => {
    const sandbox = runServer(['--data-dir', dataDir, '--sandbox', 'podman']);
    assert.equal(sandbox.code, 2);
    assertOneLine(sandbox.stderr, /--sandbox must be one of bwrap, docker, kubernetes, not 'podman'/);
    const port = runServer(['--data-dir', dataDir], { ASTRAFORGE_PORT: 'eighty' });
    assert.equal(port.code, 2);
    assertOneLine(port.stderr, /ASTRAFORGE_PORT must be a whole number from 0 to 65535, not 'eighty'/);
    const missing = runServer(['--data-dir', dataDir, '--port']);
    assert.equal(missing.code, 2);
    assertOneLine(missing.stderr, /--port needs a value/);
  });

  it('refusesABadConfigFileValueNamingTheSetting', () => {
    writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ limits: { pids: -1 } }));
    const bad = runServer(['--data-dir', dataDir, '--port', '0']);
    assert.equal(bad.code, 2);
    assertOneLine(bad.stderr, /invalid setting limits\.pids: /);
    writeFileSync(join(dataDir, 'config.json'), '{not json');
    const broken = runServer(['--data-dir', dataDir, '--port', '0']);
    assert.equal(broken.code, 2);
    assertOneLine(broken.stderr, /config\.json is not valid JSON .*; fix it or move it away$/);
  });

  describe('a busy port', () => {
    let holder: Server;
    let port: number;
    before(async () => {
      holder = createServer();
      await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
      port = (holder.address() as { port: number }).port;
    });
    after(() => new Promise<void>((r) => holder.close(() => r())));

    it('exitsWith1AndOneLineNamingThePort', () => {
      const { code, stdout, stderr } = runServer(['--data-dir', dataDir, '--port', String(port)], { ASTRAFORGE_LOG_LEVEL: 'warn' });
      assert.equal(code, 1);
      assert.equal(findReadyLine(stdout), undefined, 'never ready');
      assertOneLine(stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use by another program; .*--port`));
    });
  });

  /** Starts the server with these flags and reads stdout until the ready line; then SIGTERM. */
  async function startAndStop(args: string[]): Promise<{ stdout: string; code: number | null }> {
    const child = spawn(process.execPath, [MAIN, '--data-dir', dataDir, '--port', '0', ...args], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await until('the ready line', () => findReadyLine(stdout), { timeoutMs: 20_000 });
    child.kill('SIGTERM');
    return { stdout, code: await exited };
  }

  it('logsJsonLinesWithLogFormatJson', async () => {
    const { stdout, code } = await startAndStop(['--log-format', 'json']);
    assert.equal(code, 0);
    const lines = stdout.split('\n').filter(Boolean);
    assert.ok(lines.length > 2, stdout);
    for (const line of lines) assert.equal(typeof JSON.parse(line), 'object', `a JSON line: ${line}`);
    assert.ok(lines.some((l) => JSON.parse(l).msg === 'sandbox limits' && typeof JSON.parse(l).level === 'number'));
  });

  it('logsTextLinesWithLogFormatPrettyAndKeepsTheReadyLine', async () => {
    const { stdout, code } = await startAndStop(['--log-format', 'pretty']);
    assert.equal(code, 0);
    const ready = findReadyLine(stdout);
    assert.ok(ready, 'the ready line is the same JSON line launchers parse');
    const others = stdout.split('\n').filter((l) => l && !l.startsWith('{"msg":"astraforge server listening"'));
    assert.ok(others.length > 2, stdout);
    for (const line of others) assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) /, `a text line: ${line}`);
    assert.ok(
      others.some((l) => / INFO {2}sandbox limits limits_enforced=\{/.test(l)),
      stdout,
    );
  });

  it('logsJsonWhenStdoutIsNotATerminalByDefault', async () => {
    const { stdout } = await startAndStop([]);
    for (const line of stdout.split('\n').filter(Boolean)) JSON.parse(line);
  });

  describe('SIGTERM', () => {
    let server: ServerProcess | undefined;
    afterEach(async () => server?.dispose());

    it('letsALongExecFinishThenStopsEverySandbox', async () => {
      server = await startServer({ env: { ASTRAFORGE_DRAIN_SECONDS: '20' } });
      const api = new ApiClient(server.url, server.apiKey);
      const id = await api.createSession();
      const started = Date.now();
      const exec = api.exec(id, 'sleep 2; echo finished');
      const sandboxes = sandboxesOf(server);
      await until('the exec under way', () => sandboxes.runs('sleep'));
      assert.ok(sandboxes.left().length > 0);
      server.child.kill('SIGTERM');
      const exitCode = new Promise<number | null>((r) => server!.child.once('exit', (code) => r(code)));
      const answer = await exec;
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.exit_code, 0);
      assert.equal(answer.body.output, 'finished\n');
      assert.ok(Date.now() - started >= 2000);
      assert.equal(await exitCode, 0, server.output());
      await noneLeftOf(sandboxes);
      const refused = await fetch(`${server.url}/healthz`).then(
        () => 'answered',
        () => 'refused',
      );
      assert.equal(refused, 'refused');
    });

    it('cutsAnExecLongerThanTheDrainTimeAndStillStopsEverySandbox', async () => {
      server = await startServer({ env: { ASTRAFORGE_DRAIN_SECONDS: '1' } });
      const api = new ApiClient(server.url, server.apiKey);
      const id = await api.createSession();
      const exec = api.exec(id, 'sleep 60').then(
        (r) => r,
        (e: Error) => e,
      );
      const sandboxes = sandboxesOf(server);
      await until('the exec under way', () => sandboxes.runs('sleep'));
      const started = Date.now();
      server.child.kill('SIGTERM');
      const exitCode = new Promise<number | null>((r) => server!.child.once('exit', (code) => r(code)));
      const answer = await exec;
      assert.ok(Date.now() - started < 15_000, 'the drain time bounds the stop');
      // The session's sandbox is stopped before the connections close, so the client reads why.
      assert.ok(!(answer instanceof Error), `an answer, not a dropped connection: ${answer}`);
      assert.equal(answer.status, 410);
      assert.equal(answer.body.error_code, 'SESSION_EXPIRED');
      assert.equal(await exitCode, 0, server.output());
      await noneLeftOf(sandboxes);
    });

    it('stopsWaitingAtASecondSignal', async () => {
      server = await startServer({ env: { ASTRAFORGE_DRAIN_SECONDS: '60', ASTRAFORGE_LOG_LEVEL: 'info' } });
      const api = new ApiClient(server.url, server.apiKey);
      const id = await api.createSession();
      const exec = api.exec(id, 'sleep 60');
      const sandboxes = sandboxesOf(server);
      await until('the exec under way', () => sandboxes.runs('sleep'));
      const exitCode = new Promise<number | null>((r) => server!.child.once('exit', (code) => r(code)));
      server.child.kill('SIGTERM');
      await until('the drain under way', () => server!.output().includes('waiting for the requests under way'));
      const started = Date.now();
      server.child.kill('SIGTERM');
      const answer = await exec;
      assert.ok(Date.now() - started < 10_000, 'the second signal does not wait out the drain time');
      assert.equal(answer.status, 410);
      assert.equal(await exitCode, 0, server.output());
      await noneLeftOf(sandboxes);
    });
  });
});
