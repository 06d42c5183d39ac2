// The one background server of this user, shared by every VS Code window:
// found through the record it keeps in its data folder (server.json: pid,
// url, version, build, key file), started only when none answers, and then
// detached from the window (its own session and process group, its output
// in the data folder's server.log), so a reload, a closed window or a
// crashed extension host never stops it or the runs it holds. Two windows
// starting at once race on the server's data-folder lock: the loser's
// server exits and that window connects to the winner.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { SERVER_RECORD_FILE, ServerInfo, ServerRecord, ShutdownResult } from '@astraforge/contract/serverApi';
import { ServerExit } from '@astraforge/contract/serverReady';
import { rotateLog } from './serverLog';

export interface UserServerOptions {
  /** server/dist/main.js inside the extension. */
  mainJs: string;
  /** The user's server folder (VS Code's global storage, the same for every window). */
  dataDir: string;
  /** This extension's version and bundle identity; a server of another build is replaced. */
  version: string;
  build: string;
  /** Model provider settings for the gateway; the key goes no further than the server process. */
  model: { baseUrl?: string; apiKey?: string; name?: string };
  codexBinary?: string;
  /** The server exits after this long unused (no run, no window); 0 never. */
  idleExitMinutes: number;
  log: (line: string) => void;
  startTimeoutMs?: number;
}

export interface UserServer {
  url: string;
  apiKey: string;
  pid: number;
  record: ServerRecord;
  /** Whether this call started it (otherwise it was already running for another window or an earlier one). */
  startedHere: boolean;
  /** A server of another build that keeps running until its active runs end; reconnect when it exits. */
  outdated: boolean;
}

export const SERVER_LOG_FILE = 'server.log';

/** The running server's record, or undefined when there is none or it does not parse. */
export function readRecord(dataDir: string): ServerRecord | undefined {
  try {
    const parsed = ServerRecord.safeParse(JSON.parse(readFileSync(join(dataDir, SERVER_RECORD_FILE), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function call<T>(
  url: string,
  key: string,
  path: string,
  parse: (v: unknown) => T,
  method: 'GET' | 'POST' = 'GET',
  body?: unknown,
): Promise<T | undefined> {
  try {
    const res = await request(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      headersTimeout: 3000,
      bodyTimeout: 3000,
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) return undefined;
    return parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** The record's server when it is alive, answers and takes its key; undefined otherwise. */
async function reachable(dataDir: string): Promise<{ record: ServerRecord; apiKey: string; info: ServerInfo } | undefined> {
  const record = readRecord(dataDir);
  if (!record || !isAlive(record.pid)) return undefined;
  let apiKey: string;
  try {
    apiKey = readFileSync(record.api_key_file, 'utf8').trim();
  } catch {
    return undefined;
  }
  const info = await call(record.url, apiKey, '/api/server', (v) => ServerInfo.parse(v));
  if (!info || info.pid !== record.pid) return undefined;
  return { record, apiKey, info };
}

async function waitFor<T>(what: () => Promise<T | undefined> | T | undefined, timeoutMs: number, stepMs = 50): Promise<T | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (v !== undefined) return v;
    if (Date.now() >= end) return undefined;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Connects to this user's server, starting (or replacing) it when needed. */
export async function findOrStartUserServer(opts: UserServerOptions): Promise<UserServer> {
  if (process.platform !== 'linux')
    throw new Error(
      'the background server sandboxes with bubblewrap, which needs Linux: set astraforge.server.url to a server on a Linux machine (or in WSL)',
    );
  if (!existsSync(opts.mainJs)) throw new Error(`the bundled server is missing (${opts.mainJs}); reinstall the extension`);
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  for (let attempt = 0; attempt < 3; attempt++) {
    const found = await reachable(opts.dataDir);
    if (found) {
      const { record, apiKey, info } = found;
      if (record.build === opts.build) return { url: record.url, apiKey, pid: record.pid, record, startedHere: false, outdated: false };
      if (info.active_runs > 0) {
        // Its runs finish first: it takes no stop now, exits when they end, and this window uses it meanwhile.
        await call(record.url, apiKey, '/api/server/shutdown', (v) => ShutdownResult.parse(v), 'POST', { when: 'idle' });
        opts.log(
          `the server (pid ${record.pid}, ${record.version}) is from another build; it is replaced once its ${info.active_runs} run(s) end`,
        );
        return { url: record.url, apiKey, pid: record.pid, record, startedHere: false, outdated: true };
      }
      opts.log(`replacing the server of another build (pid ${record.pid}, ${record.version})`);
      await call(record.url, apiKey, '/api/server/shutdown', (v) => ShutdownResult.parse(v), 'POST', { when: 'now' });
      if (!(await waitFor(() => (isAlive(record.pid) ? undefined : true), 10_000))) process.kill(record.pid, 'SIGKILL');
    }
    const started = await start(opts, timeoutMs);
    if (started) return started;
    // Another window's server won the data folder: connect to it on the next turn.
    await waitFor(() => reachable(opts.dataDir), timeoutMs, 100);
  }
  throw new Error(`no AstraForge server could be started or reached in ${opts.dataDir}; see "AstraForge: Show Server Log"`);
}

/** Starts a detached server; undefined when another one holds the data folder. */
async function start(opts: UserServerOptions, timeoutMs: number): Promise<UserServer | undefined> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/',
    ELECTRON_RUN_AS_NODE: '1',
    ASTRAFORGE_BUILD: opts.build,
  };
  if (opts.model.baseUrl) env.ASTRAFORGE_MODEL_BASE_URL = opts.model.baseUrl;
  if (opts.model.apiKey) env.ASTRAFORGE_MODEL_API_KEY = opts.model.apiKey;
  if (opts.model.name) env.ASTRAFORGE_MODEL = opts.model.name;
  if (opts.codexBinary) env.ASTRAFORGE_CODEX_BINARY = opts.codexBinary;
  const logFile = join(opts.dataDir, SERVER_LOG_FILE);
  rotateLog(logFile);
  const out = openSync(logFile, 'a', 0o600);
  const args = [
    opts.mainJs,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--data-dir',
    opts.dataDir,
    '--idle-exit-minutes',
    String(opts.idleExitMinutes),
  ];
  // detached: a session and process group of its own, so the window's end (and its signals) do not reach it.
  const child = spawn(process.execPath, args, { env, detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  let exitCode: number | null | undefined;
  child.once('exit', (code) => (exitCode = code ?? -1));
  child.unref();
  opts.log(`starting the server (pid ${child.pid}); its log: ${logFile}`);
  const found = await waitFor(async () => {
    if (exitCode !== undefined) return null;
    const r = await reachable(opts.dataDir);
    return r && r.record.pid === child.pid ? r : undefined;
  }, timeoutMs);
  if (found === null) {
    if (exitCode === ServerExit.dataDirInUse) return undefined;
    throw new Error(`the server exited (code ${exitCode}) before it was ready: ${lastError(logFile)}`);
  }
  if (!found) {
    child.kill('SIGKILL');
    throw new Error(`the server did not start within ${timeoutMs / 1000} s: ${lastError(logFile)}`);
  }
  return { url: found.record.url, apiKey: found.apiKey, pid: found.record.pid, record: found.record, startedHere: true, outdated: false };
}

/** The last error line of the server's log, without the stack under it. */
function lastError(logFile: string): string {
  try {
    const lines = readFileSync(logFile, 'utf8').split('\n').slice(-40);
    const line = [...lines].reverse().find((l) => /failed to start|error/i.test(l) && !l.trim().startsWith('at '));
    return (line ?? lines.filter((l) => l.trim()).pop() ?? 'no output').trim().slice(0, 500);
  } catch {
    return 'no log';
  }
}
