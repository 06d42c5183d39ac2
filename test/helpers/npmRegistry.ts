// A real npm registry on loopback for tests: verdaccio (a devDependency),
// no uplinks, anyone may publish, behind a small counting relay so a test
// can tell which tarballs were fetched (and prove a cached environment
// fetched nothing). And, for the Docker provider, a sandbox image with npm
// (the plain one has Debian's node without npm).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { until } from './until';
import { freePort } from './freePort';

const run = promisify(execFile);

export interface NpmRegistry {
  /** Where clients reach it (the relay) on 127.0.0.1. */
  port: number;
  /** Paths of the tarballs fetched through the relay, in order. */
  tarballs: string[];
  publish(name: string, version: string, files: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

/** verdaccio's command: from the repository's devDependencies, or where ASTRAFORGE_VERDACCIO points. */
function verdaccioBin(): string {
  try {
    return require.resolve('verdaccio/bin/verdaccio');
  } catch {
    const fromEnv = process.env.ASTRAFORGE_VERDACCIO;
    if (fromEnv && existsSync(fromEnv)) return fromEnv;
    throw new Error('verdaccio is not installed: run npm ci (it is a devDependency), or set ASTRAFORGE_VERDACCIO to its bin/verdaccio');
  }
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

export async function startNpmRegistry(): Promise<NpmRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'af-verdaccio-'));
  const upstream = await freePort();
  writeFileSync(
    join(dir, 'config.yaml'),
    [
      `storage: ${join(dir, 'storage')}`,
      'uplinks: {}',
      'packages:',
      "  '**':",
      '    access: $all',
      '    publish: $anonymous',
      'log: { type: stdout, format: pretty, level: warn }',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    process.execPath,
    [verdaccioBin(), '--config', join(dir, 'config.yaml'), '--listen', `127.0.0.1:${upstream}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await until(
    () => `verdaccio to answer on ${upstream}: ${out}`,
    async () => {
      const r = await fetch(`http://127.0.0.1:${upstream}/-/ping`).catch(() => undefined);
      return r?.ok ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );

  const tarballs: string[] = [];
  const relay = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.endsWith('.tgz')) tarballs.push(req.url);
    const fwd = request({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  const port = await listen(relay);

  return {
    port,
    tarballs,
    async publish(name, version, files) {
      const pkg = mkdtempSync(join(dir, 'pkg-'));
      mkdirSync(pkg, { recursive: true });
      writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name, version, main: 'index.js', license: 'MIT' }));
      for (const [path, text] of Object.entries(files)) writeFileSync(join(pkg, path), text);
      writeFileSync(join(pkg, '.npmrc'), `//127.0.0.1:${port}/:_authToken=anything\n`);
      await run('npm', ['publish', '--registry', `http://127.0.0.1:${port}/`], {
        cwd: pkg,
        env: { ...process.env, npm_config_userconfig: join(pkg, '.npmrc') },
      });
    },
    async close() {
      relay.closeAllConnections();
      await new Promise((r) => relay.close(r));
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const NPM_IMAGE = 'astraforge-test-npm:host-node';

/** The sandbox image with this host's node and npm added (/usr/local first on the sandbox's PATH). */
export async function buildNpmImage(): Promise<void> {
  const npmCli = (await run('readlink', ['-f', (await run('sh', ['-c', 'command -v npm'])).stdout.trim()])).stdout.trim();
  const npmDir = dirname(dirname(npmCli));
  const root = mkdtempSync(join(tmpdir(), 'af-npm-image-'));
  const name = `af-npm-image-${process.pid}`;
  try {
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
    mkdirSync(join(root, 'usr/local/lib/node_modules'), { recursive: true });
    await run('cp', [process.execPath, join(root, 'usr/local/bin/node')]);
    await run('cp', ['-a', npmDir, join(root, 'usr/local/lib/node_modules/npm')]);
    await run('ln', ['-s', '../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm')]);
    await run('docker', ['create', '--name', name, 'astraforge-sandbox:bookworm', '/bin/true']);
    await run('sh', ['-c', `tar -C ${root} -cf - usr | docker cp - ${name}:/`]);
    await run('docker', ['commit', name, NPM_IMAGE]);
  } finally {
    await run('docker', ['rm', '-f', name]).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}
