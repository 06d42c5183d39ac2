// The peers measured beside our server in the same run: raw bwrap (the
// floor), `docker run --rm` and the @anthropic-ai/sandbox-runtime CLI.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { summarize, timeEach, type Row } from './stats';

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

const BWRAP_TRUE = [
  '--unshare-all',
  '--die-with-parent',
  '--ro-bind',
  '/usr',
  '/usr',
  '--symlink',
  'usr/bin',
  '/bin',
  '--symlink',
  'usr/lib',
  '/lib',
  '--symlink',
  'usr/lib64',
  '/lib64',
  '--proc',
  '/proc',
  '--dev',
  '/dev',
  '/bin/true',
];

export async function rawBwrap(n: number): Promise<Row> {
  await timeEach(5, () => run('bwrap', BWRAP_TRUE));
  return summarize('peer: raw `bwrap /bin/true` (floor)', await timeEach(n, () => run('bwrap', BWRAP_TRUE)));
}

export async function dockerRun(n: number): Promise<Row> {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 });
  } catch {
    return { name: 'peer: `docker run --rm IMAGE echo hi`', unit: 'ms', note: 'not available: no Docker engine answers here' };
  }
  const images = execFileSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  // Our own sandbox image when it is there, so both sides start the same root filesystem.
  const image = images.find((i) => i.startsWith('astraforge-sandbox:')) ?? images[0];
  if (!image)
    return { name: 'peer: `docker run --rm IMAGE echo hi`', unit: 'ms', note: 'not available: no local image (no registry here)' };
  await timeEach(2, () => run('docker', ['run', '--rm', '--network', 'none', image, 'echo', 'hi']));
  return summarize(
    `peer: \`docker run --rm ${image} echo hi\``,
    await timeEach(n, () => run('docker', ['run', '--rm', '--network', 'none', image, 'echo', 'hi'])),
  );
}

export async function sandboxRuntime(n: number, repoRoot: string): Promise<Row> {
  const srt = join(repoRoot, 'node_modules/.bin/srt');
  const name = 'peer: `srt echo hi` (@anthropic-ai/sandbox-runtime)';
  if (!existsSync(srt)) return { name, unit: 'ms', note: 'not available: npm package not installed' };
  try {
    await run(srt, ['echo', 'hi']);
  } catch (e) {
    return { name, unit: 'ms', note: `not available: ${(e as Error).message} (it needs socat and ripgrep)` };
  }
  return summarize(name, await timeEach(n, () => run(srt, ['echo', 'hi'])), 'ms', 'a fresh sandbox per command');
}
