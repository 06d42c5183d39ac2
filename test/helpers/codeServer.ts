// A real VS Code for tests: code-server (installed by
// scripts/setup-code-server.sh) with this repository as the extension under
// development, opened in Debian's headless Chromium through playwright-core.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from './serverProcess';

const ENTRY = join(REPO_ROOT, '.tools/code-server/node_modules/code-server/out/node/entry.js');
export const SAMPLE_WORKSPACE = join(REPO_ROOT, 'test/fixtures/sample-workspace');

export interface CodeServer {
  url: string;
  port: number;
  workspace: string;
  root: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function startCodeServer(opts: { env?: Record<string, string> } = {}): Promise<CodeServer> {
  const root = mkdtempSync(join(tmpdir(), 'af-vscode-'));
  const workspace = join(root, 'sample-workspace');
  cpSync(SAMPLE_WORKSPACE, workspace, { recursive: true });
  const userData = join(root, 'user-data');
  mkdirSync(join(userData, 'User'), { recursive: true });
  writeFileSync(
    join(userData, 'User', 'settings.json'),
    JSON.stringify({
      'security.workspace.trust.enabled': false,
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'telemetry.telemetryLevel': 'off',
      'extensions.autoCheckUpdates': false,
      'update.mode': 'none',
      'astraforge.defaultAgent': 'command',
    }),
  );
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      ENTRY,
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--user-data-dir',
      userData,
      '--extensions-dir',
      join(root, 'extensions'),
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      workspace,
    ],
    { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited:\n${out}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`code-server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    port,
    workspace,
    root,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The workbench URL with this repository loaded as the extension under development (and, optionally, a test module). */
export function workbenchUrl(cs: CodeServer, testsPath?: string): string {
  const remote = (p: string) => `vscode-remote://127.0.0.1:${cs.port}${p}`;
  const payload: [string, string][] = [['extensionDevelopmentPath', remote(REPO_ROOT)]];
  if (testsPath) payload.push(['extensionTestsPath', remote(testsPath)]);
  return `${cs.url}/?folder=${encodeURIComponent(cs.workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

export async function openBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export async function openWorkbench(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  return page;
}
