// Starts the real, built companion server (server/dist/main.js) on a free
// loopback port with a fresh data folder, for tests and benchmarks.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findReadyLine } from '@astraforge/contract/serverReady';
import { ServerExitedEarly } from '../../src/server/serverExitedEarly';
import { mountPointsUnder, unmount } from '../../server/src/sessions/overlayMounts';

export const REPO_ROOT = resolve(__dirname, '../..');
const MAIN = join(REPO_ROOT, 'server/dist/main.js');

export interface StartOptions {
  /** Reuse a data folder (to test restarts); a fresh one otherwise. */
  dataDir?: string;
  /** Written to <dataDir>/config.json before start. */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  port?: number;
}

export interface ServerProcess {
  url: string;
  apiKey: string;
  dataDir: string;
  child: ChildProcess;
  /** Everything the server wrote, for assertions on its log. */
  output(): string;
  stop(): Promise<void>;
  /** SIGKILL, like a crash. */
  kill(): Promise<void>;
  /** Removes the data folder too. */
  dispose(): Promise<void>;
}

/**
 * The cluster a kubernetes suite runs against: KUBECONFIG's, which test/helpers/kube/clusterFixture.ts
 * sets to the cluster double it starts once for the run (or scripts/dev-cluster.sh's, or a real
 * cluster with agent-sandbox).
 */
function testKubeconfig(): string {
  if (process.env.KUBECONFIG) return process.env.KUBECONFIG;
  throw new Error(
    'ASTRAFORGE_TEST_SANDBOX=kubernetes needs a cluster: run mocha with --require test/helpers/kube/clusterFixture.ts, or set KUBECONFIG (scripts/dev-cluster.sh prints one)',
  );
}

/** agent-sandbox's router, when the run names one (clusterFixture.ts's double with ASTRAFORGE_TEST_KUBE_ROUTER=1). */
function routerEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['ASTRAFORGE_KUBERNETES_ROUTER_URL', 'ASTRAFORGE_KUBERNETES_ROUTER_TOKEN']) if (process.env[k]) out[k] = process.env[k]!;
  return out;
}

/** Each data folder startServer made, with the servers running on it: a restart test passes one on to the next server. */
const madeHere = new Map<string, Set<ChildProcess>>();

export async function startServer(opts: StartOptions = {}): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'af-test-'));
  if (!opts.dataDir) madeHere.set(dataDir, new Set());
  // ASTRAFORGE_TEST_SANDBOX=docker (or kubernetes) runs a suite against that provider instead of bubblewrap.
  const sandbox = process.env.ASTRAFORGE_TEST_SANDBOX;
  const config = sandbox ? { sandbox, ...opts.config } : opts.config;
  if (config) writeFileSync(join(dataDir, 'config.json'), JSON.stringify(config));
  const apiKey = opts.env?.ASTRAFORGE_API_KEY ?? `test_${randomBytes(12).toString('hex')}`;
  const kube = sandbox === 'kubernetes' ? { KUBECONFIG: testKubeconfig(), ...routerEnv() } : {};
  const child = spawn(process.execPath, [MAIN, '--port', String(opts.port ?? 0), '--data-dir', dataDir], {
    env: { PATH: process.env.PATH ?? '', ASTRAFORGE_LOG_LEVEL: 'warn', ...kube, ...opts.env, ASTRAFORGE_API_KEY: apiKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const running = madeHere.get(dataDir);
  running?.add(child);
  child.once('exit', () => running?.delete(child));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((res, rej) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`server did not start in time:\n${out}`));
    }, 20_000);
    let stdout = '';
    const watch = (d: Buffer) => {
      stdout += d.toString();
      const ready = findReadyLine(stdout);
      if (!ready) return;
      clearTimeout(t);
      child.stdout!.off('data', watch);
      res(ready.url);
    };
    child.stdout!.on('data', watch);
    child.once('exit', (code) => {
      clearTimeout(t);
      // The product's launcher's error, with all the output as the reason (a test wants the stack too).
      rej(new ServerExitedEarly(code, out));
    });
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const proc: ServerProcess = {
    url,
    apiKey,
    dataDir,
    child,
    output: () => out,
    async stop() {
      if (alive()) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
    async dispose() {
      const stoppedCleanly = alive();
      await proc.stop();
      // A killed server may leave a layer view mounted (the next start would unmount it); a server that stopped must not.
      const left = mountPointsUnder(dataDir);
      for (const point of left) unmount(point);
      // A folder made here goes with the last server on it (one stopped for a restart left it to the next).
      if (running && !running.size && madeHere.delete(dataDir)) rmSync(dataDir, { recursive: true, force: true });
      if (stoppedCleanly && left.length) throw new Error(`the server stopped with mounts left: ${left.join(', ')}`);
    },
  };
  return proc;
}
