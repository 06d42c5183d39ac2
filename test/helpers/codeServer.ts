// A real VS Code for tests: code-server (installed by
// scripts/setup-code-server.sh) with this repository as the extension under
// development, opened in Debian's headless Chromium through playwright-core.
// Each one has its own user data, so the extension's background server (in
// its global storage) is that test's own; stopping code-server stops that
// server too, so nothing is left running.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type FrameLocator, type Page } from 'playwright-core';
import { isProcessAlive } from '../../src/server/serverWatch';
import { readRecord } from '../../src/server/userServer';
import { REPO_ROOT } from './serverProcess';
import { until } from './until';
import { freePort } from './freePort';

const ENTRY = join(REPO_ROOT, '.tools/code-server/node_modules/code-server/out/node/entry.js');
export const SAMPLE_WORKSPACE = join(REPO_ROOT, 'test/fixtures/sample-workspace');

export interface CodeServer {
  url: string;
  port: number;
  workspace: string;
  root: string;
  child: ChildProcess;
  /** The extension's background server's data folder (its record, log and runs) in this code-server's user data. */
  serverDataDir: string;
  output(): string;
  /** Ends code-server as closing VS Code does: the background server and the folder stay (see startCodeServer's `root`). */
  close(): Promise<void>;
  /** Ends code-server, then the background server it left, and removes the folder. */
  stop(): Promise<void>;
}

export interface CodeServerOptions {
  env?: Record<string, string>;
  /** The folder of a closed code-server to open again (its workspace and user data); a new one by default. */
  root?: string;
  /** Its port too: the workbench keeps its state in the browser, per origin. A free one by default. */
  port?: number;
}

export async function startCodeServer(opts: CodeServerOptions = {}): Promise<CodeServer> {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'af-vscode-'));
  const workspace = join(root, 'sample-workspace');
  const userData = join(root, 'user-data');
  const serverDataDir = join(userData, 'User', 'globalStorage', 'astraforge.astraforge', 'server');
  if (!existsSync(workspace)) {
    cpSync(SAMPLE_WORKSPACE, workspace, { recursive: true });
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
        // Should a test die before it stops the server, the server ends itself soon after.
        'astraforge.server.idleExitMinutes': 10,
      }),
    );
  }
  const port = opts.port ?? (await freePort());
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
  try {
    await until(
      () => `code-server to answer:\n${out}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`code-server exited:\n${out}`);
        return (
          (await fetch(`${url}/healthz`).then(
            (r) => r.ok,
            () => false,
          )) || undefined
        );
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  } catch (e) {
    child.kill('SIGKILL');
    await stopBackgroundServer(serverDataDir);
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  };
  return {
    url,
    port,
    workspace,
    root,
    child,
    serverDataDir,
    output: () => out,
    close,
    async stop() {
      await close();
      // After code-server: no window is left to start another.
      await stopBackgroundServer(serverDataDir);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Stops the background server whose record is in `dataDir`, if one runs: asked over its API, killed if it does not go. */
export async function stopBackgroundServer(dataDir: string): Promise<void> {
  const record = readRecord(dataDir);
  if (!record || !isProcessAlive(record.pid)) return;
  try {
    const key = readFileSync(record.api_key_file, 'utf8').trim();
    await fetch(`${record.url}/api/server/shutdown`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ when: 'now' }),
      signal: AbortSignal.timeout(5000),
    });
    await until('the background server to exit', () => !isProcessAlive(record.pid) || undefined, { timeoutMs: 15_000 });
  } catch {
    if (isProcessAlive(record.pid)) process.kill(record.pid, 'SIGKILL');
  }
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

/** Runs a command from the palette (F1), as a user does: typed, its row waited for, Enter. */
export async function runFromPalette(page: Page, command: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${command}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: command }).first().waitFor();
  await page.keyboard.press('Enter');
}

/** Answers the quick input that is open (or about to open): typed, then Enter. */
export async function answerQuickInput(page: Page, text: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(text);
  await page.keyboard.press('Enter');
}

/** The AstraForge sidebar's document: a webview is an iframe holding the app's own iframe. */
export function sidebarOf(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
}
