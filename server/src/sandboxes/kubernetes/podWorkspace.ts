// A pod's /workspace is not a host folder, but the session layer seeds the
// host folder and the run layer diffs it (outside the agent's reach). So the
// workspace crosses as a tar through the runner: the host folder into the
// pod when the session starts, the pod's back into the host folder before a
// diff. The tar that comes back is the sandbox's output: it is extracted by
// GNU tar as the session's own unprivileged uid, owners dropped, into a
// folder emptied first that keeps its own mode.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunnerClient } from '../runnerProtocol';
import { SandboxError } from '../sandboxError';

const SEED_TAR = '/workspace/.astraforge-seed.tar';
const PULL_TAR = '/workspace/.astraforge-pull.tar';
/** The largest workspace a diff pulls back (the run layer's own diff caps apply after). */
export const MAX_PULL_BYTES = 512 * 1024 * 1024;

function runTool(args: string[], opts: { uid?: number; input?: Buffer; cwd?: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, {
      stdio: [opts.input ? 'pipe' : 'ignore', 'ignore', 'pipe'],
      ...(opts.uid !== undefined && process.getuid?.() === 0 ? { uid: opts.uid, gid: opts.uid } : {}),
      cwd: opts.cwd ?? '/',
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString().slice(0, 2000)));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar ${args[0]} failed (${code}): ${err.trim()}`))));
    if (opts.input) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input);
    }
  });
}

async function inPod(runner: RunnerClient, cmd: string): Promise<void> {
  let out = '';
  const r = await runner.exec(cmd, {
    timeoutMs: 300_000,
    separateStderr: false,
    maxOutputBytes: 4096,
    onOutput: (_s, c) => (out += c.toString()),
  }).result;
  if (r.exitCode !== 0)
    throw new SandboxError('IO', `the workspace transfer failed in the pod (${r.exitCode}): ${out.trim().slice(0, 500)}`);
}

/** The host folder's content into the pod's /workspace (nothing to do for an empty one). */
export async function pushWorkspace(
  runner: RunnerClient,
  hostDir: string,
  writeFromHost: (abs: string, hostFile: string) => Promise<void>,
): Promise<void> {
  if (readdirSync(hostDir).length === 0) return;
  const spool = mkdtempSync(join(tmpdir(), 'af-k8s-seed-'));
  try {
    const tarFile = join(spool, 'seed.tar');
    await runTool(['-c', '-f', tarFile, '-C', hostDir, '--one-file-system', '.'], {});
    await writeFromHost(SEED_TAR, tarFile);
    await inPod(runner, `tar -x -f ${SEED_TAR} -C /workspace --no-same-owner; rc=$?; rm -f ${SEED_TAR}; exit $rc`);
  } finally {
    rmSync(spool, { recursive: true, force: true });
  }
}

/** The pod's /workspace back into the host folder, replacing what it held. */
export async function pullWorkspace(runner: RunnerClient, hostDir: string, hostUid: number): Promise<void> {
  await inPod(runner, `tar -c -f ${PULL_TAR} -C /workspace --exclude=./${PULL_TAR.split('/').pop()} .`);
  let archive: { content: Buffer; truncated: boolean };
  try {
    archive = await runner.readFile(PULL_TAR, MAX_PULL_BYTES + 1);
  } finally {
    await inPod(runner, `rm -f ${PULL_TAR}`).catch(() => undefined);
  }
  if (archive.truncated || archive.content.length > MAX_PULL_BYTES) {
    throw new SandboxError('LIMIT', `the workspace is larger than ${MAX_PULL_BYTES} bytes as a tar; the diff was not computed`);
  }
  for (const name of readdirSync(hostDir)) rmSync(join(hostDir, name), { recursive: true, force: true });
  // --no-overwrite-dir: the host folder keeps its own mode (0700, closed to other sessions' uids), not the pod's /workspace's.
  await runTool(['-x', '-f', '-', '-C', hostDir, '--no-same-owner', '--no-overwrite-dir', '--delay-directory-restore'], {
    uid: hostUid,
    input: archive.content,
  });
}
