// Starts the bundled companion server as a child process: VS Code's own
// runtime (ELECTRON_RUN_AS_NODE makes the Electron binary a plain Node), a
// free loopback port, a key generated for this window, and the model
// provider's settings passed in the environment. Stops with the window.
// Imports nothing of `vscode`.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';

export interface EmbeddedServerOptions {
  /** server/dist/main.js inside the extension. */
  mainJs: string;
  dataDir: string;
  /** Model provider settings for the gateway; the key goes no further than the server process. */
  model: { baseUrl?: string; apiKey?: string; name?: string };
  /** A codex binary to use instead of the one from node_modules. */
  codexBinary?: string;
  log: (line: string) => void;
  startTimeoutMs?: number;
}

export interface RunningServer {
  url: string;
  apiKey: string;
  pid: number;
  /** Resolves when the process exits, with its last output for the error message. */
  exited: Promise<{ code: number | null; tail: string }>;
  stop(): Promise<void>;
}

export async function startEmbeddedServer(opts: EmbeddedServerOptions): Promise<RunningServer> {
  if (process.platform !== 'linux')
    throw new Error(
      'the embedded server sandboxes with bubblewrap, which needs Linux: set astraforge.server.url to a server on a Linux machine (or in WSL)',
    );
  if (!existsSync(opts.mainJs)) throw new Error(`the bundled server is missing (${opts.mainJs}); reinstall the extension`);
  mkdirSync(opts.dataDir, { recursive: true });
  const apiKey = randomBytes(24).toString('base64url');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/',
    ELECTRON_RUN_AS_NODE: '1',
    ASTRAFORGE_API_KEY: apiKey,
  };
  if (opts.model.baseUrl) env.ASTRAFORGE_MODEL_BASE_URL = opts.model.baseUrl;
  if (opts.model.apiKey) env.ASTRAFORGE_MODEL_API_KEY = opts.model.apiKey;
  if (opts.model.name) env.ASTRAFORGE_MODEL = opts.model.name;
  if (opts.codexBinary) env.ASTRAFORGE_CODEX_BINARY = opts.codexBinary;
  const child: ChildProcess = spawn(process.execPath, [opts.mainJs, '--host', '127.0.0.1', '--port', '0', '--data-dir', opts.dataDir], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  let pending = '';
  const onData = (d: Buffer) => {
    const text = d.toString('utf8');
    tail = (tail + text).slice(-4000);
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) opts.log(l);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; tail: string }>((resolve) => child.once('exit', (code) => resolve({ code, tail })));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not start within ${(opts.startTimeoutMs ?? 30_000) / 1000} s:\n${tail}`));
    }, opts.startTimeoutMs ?? 30_000);
    const watch = () => {
      const m = /"url":"(http:[^"]+)"/.exec(tail);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', watch);
      resolve(m[1]);
    };
    child.stdout!.on('data', watch);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (code ${code}) before it was ready: ${whyItFailed(tail)}`));
    });
  });
  return {
    url,
    apiKey,
    pid: child.pid!,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** The server's own reason from its output, without the stack trace under it. */
export function whyItFailed(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at ') && !l.startsWith('{'));
  const reason = lines.find((l) => l.includes('failed to start:')) ?? lines[lines.length - 1] ?? 'no output';
  return reason.replace(/^.*failed to start:\s*/, '').replace(/^Error:\s*/, '');
}
