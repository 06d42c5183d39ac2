// Runs one program to its end with nothing inherited: the environment, cwd
// and user are the caller's choice, stdin is closed (or a file the caller
// names), and a time limit and an output cap kill its whole process group.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface BoundedOptions {
  env: Record<string, string>;
  cwd: string;
  /** The user and group to run as (the server must be root to switch). */
  user?: { uid: number; gid: number };
  timeoutMs: number;
  maxStdoutBytes: number;
  /** stderr beyond this is dropped (it only explains a failure). */
  maxStderrBytes?: number;
  /** A file to read stdin from (a list of paths for git's --stdin). */
  stdinFile?: string;
}

export interface BoundedResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

export class BoundedProcessError extends Error {}

export function runBounded(file: string, args: readonly string[], opts: BoundedOptions): Promise<BoundedResult> {
  return new Promise((resolve, reject) => {
    const stdin = opts.stdinFile ? openSync(opts.stdinFile, 'r') : 'ignore';
    const child = spawn(file, args, {
      env: opts.env,
      cwd: opts.cwd,
      stdio: [stdin, 'pipe', 'pipe'],
      // Its own process group, so the limits kill whatever it started too.
      detached: true,
      ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
    });
    if (typeof stdin === 'number') closeSync(stdin);
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    const maxErr = opts.maxStderrBytes ?? 64 * 1024;
    let failure: BoundedProcessError | undefined;
    const kill = (why: string) => {
      failure ??= new BoundedProcessError(why);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => kill(`${file} ${args.at(-1) ?? ''} took longer than ${opts.timeoutMs} ms`.trim()), opts.timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > opts.maxStdoutBytes) return kill(`the output is larger than ${opts.maxStdoutBytes} bytes`);
      out.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (err.length < maxErr) err += chunk.toString('utf8').slice(0, maxErr - err.length);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      resolve({ exitCode: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr: err });
    });
  });
}
